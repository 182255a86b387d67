"""Immediate mode, for test suites: ``start()`` runs the job in the calling thread and returns it
finished, in a private database, so that nothing reaches the queue's own file or PostgreSQL.

    queue.immediate = True           # or Queue("app.db", immediate=True)
    job = import_rows.start(5)       # ran already: job.state, job.result, job.logs, job.progress
    queue.immediate = False          # the queue's own database again; these jobs are gone

The private database is a SQLite file on the machine's RAM disk (``/dev/shm``) where it has
one, else in the temporary directory, deleted when immediate mode ends. Jobs run through the
worker's own path: the same claim, the same attempt (in this thread, or in a child process for
isolated and timed tasks, so timeouts and isolation hold), the same finish; retries run at
once, their delays skipped, and so do delayed starts. A job a task starts runs within that
start, and a pipeline's steps and a batch's children run before its start returns.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from .context import CurrentJob
from .job import Job
from .states import STOP_CANCELED
from .store import Claim, Store
from .worker.attempt import attempt, with_retry
from .worker.isolation import run_in_child

if TYPE_CHECKING:
    from .queue import Queue
    from .task import Task

RAM_DISK = "/dev/shm"
CANCEL_POLL = 0.05  # seconds between looks for cancels of running jobs


class Immediate:
    """The private database of one queue in immediate mode, and the runner that empties it."""

    def __init__(self, queue: Queue, open_store: Callable[[str], Store]) -> None:
        """``open_store(path)``: the queue's store on a SQLite file there (its settings, its tasks)."""
        self.queue = queue
        self.directory = tempfile.mkdtemp(prefix="lilqueue-immediate-",
                                          dir=RAM_DISK if os.path.isdir(RAM_DISK) else None)
        self._removed = weakref.finalize(self, shutil.rmtree, self.directory, True)
        self.store = open_store(os.path.join(self.directory, "jobs.db"))
        self.worker = f"immediate:{os.getpid()}:{secrets.token_hex(3)}"
        # One runner at a time: a start on another thread finds its job run, or runs it next.
        # Reentrant: a task that starts a job runs it inside its own run.
        self._lock = threading.RLock()
        self._running: dict[str, CurrentJob] = {}  # what the cancel watcher looks after
        self._closing = threading.Event()
        self._watcher: threading.Thread | None = None

    def ran(self, job_ids: Iterable[str]) -> list[Job]:
        """Run every queued job, then read the jobs of ``job_ids``, finished."""
        self.run()
        return [self.store.get(job_id) for job_id in job_ids]

    def run(self) -> None:
        """Run the queued jobs in this thread until none is left (and the jobs they start)."""
        with self._lock:
            while (claim := self.store.claim(self.worker, time.time())) is not None:
                if claim:
                    self._attempt(claim)

    def _attempt(self, claim: Claim) -> None:
        queue = self.queue
        task = queue.lookup(claim.task)
        ctx = CurrentJob(self.store, claim.id, claim.task, self.worker, claim.attempts, queue.progress_interval,
                         queue.max_logs)
        self._running[claim.id] = ctx
        self._watch()
        try:
            outcome = (run_in_child(task, claim, ctx, self.worker) if task.runs_in_child
                       else attempt(task.func, claim.args, claim.kwargs, ctx))
        finally:
            del self._running[claim.id]
        outcome = with_retry(outcome, task, claim.attempts, ctx.stop_reason)
        if outcome.retry_in is not None:
            outcome.retry_in = 0.0  # a test does not wait for a retry's delay
        self.store.finish(claim, self.worker, outcome, ctx.final_writes(), time.time(), claim_next=False)

    def _watch(self) -> None:
        if self._watcher is None:
            self._watcher = threading.Thread(target=self._watch_cancels, name="lilqueue-immediate", daemon=True)
            self._watcher.start()

    def _watch_cancels(self) -> None:
        """A worker's monitor in small: a job canceled from another thread (a test, a request)
        while it runs is told to stop, as a worker would tell it."""
        try:
            while not self._closing.wait(CANCEL_POLL):
                if not self._running:
                    continue
                try:
                    canceled = self.store.cancel_requests(self.worker)
                except self.store.errors:
                    continue  # the next look tries again
                for job_id in canceled:
                    ctx = self._running.get(job_id)
                    if ctx is not None and ctx.stop_reason is None:
                        ctx.stop_reason = STOP_CANCELED
        finally:
            self.store.close()

    def close(self) -> None:
        """Forget the private database and its jobs."""
        self._closing.set()
        if self._watcher is not None:
            self._watcher.join(5)
        with self._lock:
            with contextlib.suppress(Exception):
                self.store.database.close_all()
            self._removed()

    def __repr__(self) -> str:
        return f"<Immediate {self.directory}>"


def teach(huey: Any, tasks: Iterable[Task]) -> None:
    """Make ``huey`` know each task by name: Huey serializes only the messages of tasks it knows,
    and a queue that changes its store (immediate mode) meets a Huey that does not know them."""
    for task in tasks:
        with contextlib.suppress(ValueError):  # known already
            huey.task(name=task.name)(task.func)
