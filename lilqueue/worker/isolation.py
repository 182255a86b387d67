"""Running one job in a child process, so that a cancel or a timeout can stop it even if it
never calls ``progress()``, and a crash in it cannot take the worker down.

Children come from a forkserver: a single-threaded process that imported the task modules
once, so each job starts in milliseconds and no child inherits the worker's threads, locks
or SQLite connections. The child writes progress and log lines itself; the parent writes
the final state.
"""

from __future__ import annotations

import multiprocessing
import signal
import threading
import time
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING

from ..context import CurrentJob
from ..states import FAILED
from ..store import Claim, Outcome, open_store
from ..task import import_function
from .attempt import attempt, stopped, within

if TYPE_CHECKING:
    from ..task import Task

KILL_GRACE = 2.0
_context_lock = threading.Lock()
_context: multiprocessing.context.BaseContext | None = None


def _mp_context(task: Task) -> multiprocessing.context.BaseContext:
    global _context
    with _context_lock:
        if _context is None:
            if "forkserver" in multiprocessing.get_all_start_methods():
                _context = multiprocessing.get_context("forkserver")
                # A queue with an around_job hook may need it before its task modules can be
                # imported (Django: django.setup()); the child imports them inside the hook.
                around = task.queue.around_job
                modules = ({around.__module__} if around is not None
                           else {t.func.__module__ for t in task.queue.tasks.values()}) | {__name__}
                _context.set_forkserver_preload(sorted(modules))
            else:
                _context = multiprocessing.get_context("spawn")
        return _context


def run_in_child(task: Task, claim: Claim, ctx: CurrentJob, worker: str) -> Outcome:
    """Run the job in a child and wait for it; ``ctx.stop_reason`` (set by the worker's
    monitor) or the task's timeout terminates the child."""
    mp = _mp_context(task)
    receiver, sender = mp.Pipe(duplex=False)
    queue = task.queue
    function = (task.func.__module__, task.func.__qualname__)
    around = queue.around_job
    hook = None if around is None else (around.__module__, around.__qualname__)
    child = mp.Process(target=child_main, daemon=True, name=f"lilqueue-job-{claim.id}",
                       args=(function, hook, queue.store.spec, queue.progress_interval, task.name, claim.id,
                             worker, claim.attempts, claim.args, claim.kwargs, sender))
    child.start()
    sender.close()
    deadline = None if task.timeout is None else time.monotonic() + task.timeout
    try:
        while True:
            if receiver.poll(0.05):
                try:
                    message = receiver.recv()
                except EOFError:
                    message = None
                child.join(KILL_GRACE)
                return _from_child(message, child)
            if not child.is_alive() and not receiver.poll(0):
                return _from_child(None, child)
            if ctx.stop_reason is not None:
                _terminate(child)
                return stopped(ctx)
            if deadline is not None and time.monotonic() > deadline:
                _terminate(child)
                return Outcome(FAILED, error=("TimeoutError",
                                              f"the job ran longer than its timeout of {task.timeout:g} s", None))
    finally:
        receiver.close()
        if child.is_alive():
            _terminate(child)


def _from_child(message: Outcome | None, child: multiprocessing.process.BaseProcess) -> Outcome:
    if message is None:
        return Outcome(FAILED, error=("ChildProcessError",
                                      f"the job's process ended with exit code {child.exitcode}", None))
    return message


def _terminate(child: multiprocessing.process.BaseProcess) -> None:
    child.terminate()
    child.join(KILL_GRACE)
    if child.is_alive():
        child.kill()
        child.join()


def child_main(function: tuple[str, str], hook: tuple[str, str] | None, spec: dict, interval: float, task: str,
               job_id: str, worker: str, attempts: int, args: list, kwargs: dict, conn: Connection) -> None:
    """The child's side: the queue's store opened again as it is configured (``spec``), the
    function found by reference, and the same attempt as in a worker thread, inside the
    queue's ``around_job`` hook (found by reference too) when it has one."""
    # Ctrl-C in a terminal reaches the whole process group; only the worker decides when a job stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    store = open_store(**spec)
    ctx = CurrentJob(store, job_id, task, worker, attempts, interval, spec["max_logs"])
    threading.Thread(target=_flush_when_quiet, args=(ctx, store.errors, interval), daemon=True).start()
    around = None if hook is None else import_function(*hook)
    outcome = within(around, lambda: attempt(import_function(*function), args, kwargs, ctx))
    ctx.flush()
    conn.send(outcome)


def _flush_when_quiet(ctx: CurrentJob, errors: tuple[type[BaseException], ...], interval: float) -> None:
    while True:
        time.sleep(max(interval, 0.05))
        try:
            ctx.flush(due_only=True)
        except errors:
            pass  # the task's own next write meets the same error and reports it
