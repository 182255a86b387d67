"""The worker: threads that take jobs and run them, one monitor thread that watches for
commits, releases due retries, starts periodic tasks' slots, prunes old jobs and writes
progress left pending by quiet tasks, and one heartbeat thread that also takes back the jobs
of dead workers.

    worker = queue.worker(threads=4)
    worker.run()        # blocks; SIGTERM/SIGINT stop it gracefully, a second one at once
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..context import CurrentJob
from ..formats import count
from ..settings import WORKER
from ..states import FAILED, QUEUED, STOP_CANCELED, STOP_SHUTDOWN
from ..store import DOORBELL_WAIT, WORKER_LENGTH, Claim, Outcome
from .attempt import attempt, with_retry, within
from .isolation import run_in_child
from .schedule import TICK, Schedule

if TYPE_CHECKING:
    from ..queue import Queue

log = logging.getLogger("lilqueue.worker")

TRAILING_FLUSH = 0.05      # how often pending progress of quiet tasks is checked
PRUNE_EVERY = 600.0
UNPARK_EVERY = 5.0         # the safety net of concurrency limits (see Store.release_parked)
# A heartbeat every timeout/5; silent for 3/4 of the timeout means dead. Reaping runs every
# timeout/5 too, so a dead worker's jobs are taken back within the timeout.
STALE_AFTER = 0.75
HELPERS = 3                # connections besides the threads': monitor, heartbeat, a hand-back
RETRY_STORAGE = 1.0        # pause after a failed write (disk full, read-only), then retry


def new_worker_id(hostname: str, pid: int) -> str:
    """``host:pid:random``, the host name cut so that the id fits its column: a Kubernetes pod
    name alone may have 63 characters (the whole name stays in the worker's hostname column)."""
    tail = f":{pid}:{secrets.token_hex(3)}"
    return hostname[:WORKER_LENGTH - len(tail)] + tail


@dataclass
class _Running:
    claim: Claim
    ctx: CurrentJob


class Worker:
    """Runs a queue's jobs; see the module docstring. Options: see ``lilqueue.settings.WORKER``."""

    def __init__(self, queue: Queue, threads: int = WORKER.threads, grace: float = WORKER.grace,
                 poll_interval: float = WORKER.poll_interval) -> None:
        self.queue = queue
        self.threads = WORKER.check("threads", threads)
        self.grace = WORKER.check("grace", grace)
        self.poll_interval = WORKER.check("poll_interval", poll_interval)
        self.id = ""
        self._store = queue.store
        self._errors = queue.store.errors
        self._stopping = threading.Event()   # take no new jobs
        self._hurry = threading.Event()      # a second signal: no grace
        self._done = threading.Event()       # the monitor may exit
        self._wake = threading.Condition()
        self._seq = 0
        self._running: dict[str, _Running] = {}
        self._threads: list[threading.Thread] = []

    def start(self) -> Worker:
        """Register and start the threads; returns at once."""
        self.id = new_worker_id(socket.gethostname(), os.getpid())
        self._store.reserve(self.threads + HELPERS)
        self._store.register(self.id, socket.gethostname(), os.getpid(), self.threads, time.time())
        self._reap()
        self._helpers = [threading.Thread(target=self._monitor, name="lilqueue-monitor", daemon=True),
                         threading.Thread(target=self._keep_alive, name="lilqueue-heartbeat", daemon=True)]
        self._threads = [threading.Thread(target=self._execute_loop, name=f"lilqueue-worker-{i}",
                                          daemon=True) for i in range(self.threads)]
        for thread in self._helpers + self._threads:
            thread.start()
        log.info("worker %s started: %s on %s, tasks: %s", self.id, count(self.threads, "thread"),
                 self._store.location, ", ".join(sorted(self.queue.tasks)) or "(none)")
        return self

    def run(self) -> None:
        """Run until SIGTERM or SIGINT (in the main thread) or ``stop()`` from another thread."""
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, self._on_signal)
        self.start()
        while not self._stopping.wait(0.5):
            pass
        self.stop()

    def _on_signal(self, signum: int, frame: object) -> None:
        if self._stopping.is_set():
            self._hurry.set()
        else:
            log.info("worker %s: %s received, finishing running jobs (up to %g s)",
                     self.id, signal.Signals(signum).name, self.grace)
        self._stopping.set()
        self._notify()

    def stop(self, grace: float | None = None) -> None:
        """Take no new jobs, give running ones ``grace`` seconds, then hand the rest back."""
        grace = self.grace if grace is None else grace
        self._stopping.set()
        self._notify()
        deadline = time.monotonic() + grace
        while self._busy() and time.monotonic() < deadline and not self._hurry.is_set():
            time.sleep(0.02)
        for running in list(self._running.values()):
            running.ctx.stop_reason = running.ctx.stop_reason or STOP_SHUTDOWN
        deadline = time.monotonic() + 1.0
        while self._busy() and time.monotonic() < deadline:
            time.sleep(0.02)
        for running in list(self._running.values()):
            self._hand_back(running)
        self._done.set()
        for thread in self._helpers:
            thread.join(5)
        self._store.unregister(self.id)
        log.info("worker %s stopped", self.id)

    def _busy(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def _hand_back(self, running: _Running) -> None:
        """A task that ignored the stop request: give its job to another worker."""
        ctx = running.ctx
        self._running.pop(running.claim.id, None)
        try:
            self._store.finish(running.claim, self.id, Outcome(QUEUED, hand_back=True),
                               ctx.final_writes(), time.time(), claim_next=False)
            log.warning("job %s %s did not stop in time; handed back to the queue",
                        running.claim.id, running.claim.task)
        except self._errors as exc:
            log.error("job %s could not be handed back (%s); another worker will take it back",
                      running.claim.id, exc)

    def _execute_loop(self) -> None:
        claim: Claim | None | bool = None
        while True:
            if not claim:
                if self._stopping.is_set():
                    return
                seq = self._seq
                claim = self._claim()
                if claim is None:
                    self._wait(seq)
                continue
            claim = self._run(claim)

    def _claim(self) -> Claim | None | bool:
        try:
            return self._store.claim(self.id, time.time())
        except self._errors as exc:
            log.error("worker %s cannot take jobs: %s; retrying", self.id, exc)
            self._stopping.wait(RETRY_STORAGE)
            return None

    def _wait(self, seq: int) -> None:
        with self._wake:
            if self._seq == seq and not self._stopping.is_set():
                self._wake.wait(1.0)

    def _notify(self) -> None:
        with self._wake:
            self._seq += 1
            self._wake.notify_all()

    def _run(self, claim: Claim) -> Claim | None | bool:
        task = self.queue.tasks.get(claim.task)
        queue = self.queue
        ctx = CurrentJob(self._store, claim.id, claim.task, self.id, claim.attempts,
                         queue.progress_interval, queue.max_logs)
        self._running[claim.id] = _Running(claim, ctx)
        log.info("job %s %s started (attempt %d)", claim.id, claim.task, claim.attempts)
        began = time.monotonic()
        if task is None:
            outcome = Outcome(FAILED, error=("UnknownTask", f"task {claim.task!r} is not registered"
                                             " in this worker", None))
        elif task.runs_in_child:
            outcome = within(queue.around_job, lambda: run_in_child(task, claim, ctx, self.id))
        else:
            outcome = within(queue.around_job, lambda: attempt(task.func, claim.args, claim.kwargs, ctx))
        outcome = with_retry(outcome, task, claim.attempts, ctx.stop_reason)
        if self._running.pop(claim.id, None) is None:
            return None  # handed back by stop() while this thread was still busy
        return self._finish(claim, ctx, outcome, began)

    def _finish(self, claim: Claim, ctx: CurrentJob, outcome: Outcome, began: float) -> Claim | None | bool:
        final = ctx.final_writes()
        while True:
            try:
                following = self._store.finish(claim, self.id, outcome, final, time.time(),
                                               claim_next=not self._stopping.is_set())
                break
            except self._errors as exc:
                log.error("job %s: cannot store its outcome (%s); retrying", claim.id, exc)
                if self._hurry.wait(RETRY_STORAGE):
                    return None
        took = time.monotonic() - began
        if outcome.hand_back:
            log.info("job %s %s handed back after %.3fs (worker stopping)", claim.id, claim.task, took)
        elif outcome.error is not None:
            kind, text, trace = outcome.error
            retrying = "" if outcome.retry_in is None else f"; retrying in {outcome.retry_in:g} s"
            # The traceback goes here, once, for the operator; the job's JSON never carries it.
            log.log(logging.WARNING if retrying else logging.ERROR, "job %s %s failed after %.3fs (%s: %s)%s%s",
                    claim.id, claim.task, took, kind, text, retrying, f"\n{trace.rstrip()}" if trace else "")
        else:
            log.info("job %s %s %s in %.3fs", claim.id, claim.task, outcome.state, took)
        return following

    def _keep_alive(self) -> None:
        """Heartbeat and reaping, on a thread of their own: no other write of this worker's can
        delay its heartbeat past the point where other workers take it for dead."""
        try:
            while not self._done.wait(self.queue.heartbeat_timeout / 5):
                try:
                    self._heartbeat()
                    self._reap()
                except self._errors as exc:
                    log.warning("worker %s heartbeat: %s", self.id, exc)
        finally:
            self._store.close()

    def _monitor(self) -> None:
        commits = self._store.commits()
        next_flush = next_release = next_unpark = next_tick = 0.0
        schedule = Schedule(self.queue)
        next_prune = time.monotonic() + 10.0
        try:
            while not self._done.is_set():
                now = time.monotonic()
                try:
                    if commits.changed():
                        self._notify()
                        if self._running:
                            self._apply_cancels()
                    if now >= next_flush and self._running:
                        self._flush_quiet()
                        next_flush = now + TRAILING_FLUSH
                    if now >= next_release:
                        if self._store.has_due() and self._store.release_due():
                            self._notify()  # on PostgreSQL a released retry rings no doorbell
                        next_release = now + 0.25
                    if now >= next_tick:
                        if schedule.tick():
                            self._notify()
                        next_tick = now + TICK
                    if now >= next_unpark:
                        if self._store.release_parked():
                            self._notify()
                        next_unpark = now + UNPARK_EVERY
                    if now >= next_prune:
                        pruned = self._store.prune(time.time() - self.queue.retention)
                        if pruned:
                            log.info("pruned %d finished jobs older than %g s", pruned, self.queue.retention)
                        next_prune = now + PRUNE_EVERY
                except self._errors as exc:
                    log.warning("worker %s monitor: %s", self.id, exc)
                    self._done.wait(RETRY_STORAGE)
                if commits.wakes:  # a doorbell: sleep until a commit, or the next thing to do
                    due = min(next_release, next_tick, next_unpark, next_flush if self._running else next_tick)
                    commits.wait(min(max(due - time.monotonic(), self.poll_interval), DOORBELL_WAIT))
                else:
                    time.sleep(self.poll_interval)
        finally:
            commits.close()
            self._store.close()

    def _apply_cancels(self) -> None:
        for job_id in self._store.cancel_requests(self.id):
            running = self._running.get(job_id)
            if running is not None and running.ctx.stop_reason is None:
                running.ctx.stop_reason = STOP_CANCELED

    def _flush_quiet(self) -> None:
        for running in list(self._running.values()):
            running.ctx.flush(due_only=True)

    def _heartbeat(self) -> None:
        if not self._store.heartbeat(self.id, time.time()):
            log.error("worker %s was taken for dead (no heartbeat for %g s); its jobs were taken back",
                      self.id, self.queue.heartbeat_timeout * STALE_AFTER)
            self._store.register(self.id, socket.gethostname(), os.getpid(), self.threads, time.time())

    def _reap(self) -> None:
        now = time.time()
        for job_id, state in self._store.reap(now - self.queue.heartbeat_timeout * STALE_AFTER, now):
            log.warning("job %s: its worker was lost; the job is now %s", job_id, state)

    def __repr__(self) -> str:
        return f"<Worker {self.id or '(not started)'} threads={self.threads}>"
