"""One watcher thread per web process wakes the requests that wait for a job to change.

The watcher asks the store whether anyone committed (on SQLite ``PRAGMA data_version``:
microseconds, no table read) every few milliseconds while anyone waits. When another
connection committed, it reads the versions of all watched jobs in ONE query, loads each job
whose version grew ONCE, and hands that snapshot to every request waiting on it. Waiting
requests never touch the database, so the reads per change do not grow with the number of
waiters.

    watcher = Watcher(queue, max_waiters=500)
    job = queue.get(job_id)
    newer = watcher.wait(job, since=job.version, timeout=25.0)   # None when nothing changed
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from ..errors import JobNotFound, WaitersFull
from ..job import Job
from ..store import Commits

if TYPE_CHECKING:
    from ..queue import Queue

logger = logging.getLogger("lilqueue.web")


class _Entry:
    """What the watcher knows about one watched job, and the Condition its waiters sleep on."""

    __slots__ = ("job", "version", "waiters", "gone", "changed")

    def __init__(self, job: Job, lock: threading.Lock) -> None:
        self.job = job
        self.version = job.version
        self.waiters = 0
        self.gone = False
        self.changed = threading.Condition(lock)


class Watcher:
    """Wakes waiting requests when their job's version grows.

    ``queries`` counts every database read the watcher made (one ``versions`` query per
    commit noticed, plus one load per job that changed); tests use it to show that reads do
    not grow with the number of waiters.
    """

    def __init__(self, queue: Queue, *, max_waiters: int = 500, interval: float = 0.003) -> None:
        self.queue = queue
        self.max_waiters = max_waiters
        self.interval = interval
        self.queries = 0
        self.waiting = 0
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._fresh: set[str] = set()  # registered since the last look: check them once
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wait(self, job: Job, since: int, timeout: float) -> Job | None:
        """Block until the job's version is past ``since`` and return that snapshot, or return
        None after ``timeout`` seconds. Raises WaitersFull at the cap and JobNotFound if the
        job disappears (pruned) while waiting."""
        with self._lock:
            if self.waiting >= self.max_waiters:
                raise WaitersFull(self.max_waiters)
            entry = self._entries.get(job.id)
            if entry is None:
                entry = self._entries[job.id] = _Entry(job, self._lock)
                self._fresh.add(job.id)
            elif job.version > entry.version:
                entry.job, entry.version = job, job.version
            entry.waiters += 1
            self.waiting += 1
            self._ensure_running()
            try:
                entry.changed.wait_for(lambda: entry.gone or entry.version > since, timeout)
                if entry.gone:
                    raise JobNotFound(job.id)
                return entry.job if entry.version > since else None
            finally:
                entry.waiters -= 1
                self.waiting -= 1
                if entry.waiters == 0 and self._entries.get(job.id) is entry:
                    del self._entries[job.id]
                    self._fresh.discard(job.id)

    def latest(self, job_id: str) -> Job | None:
        """The newest snapshot of a job that requests already wait on (at most one look old),
        so that one more waiter on a watched job costs no database read; None otherwise."""
        with self._lock:
            entry = self._entries.get(job_id)
            return None if entry is None else entry.job

    def close(self) -> None:
        """Stop the watcher thread (it starts again on the next wait)."""
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None:
            thread.join(5)
        self._thread = None

    def _ensure_running(self) -> None:
        self._wake.set()
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="lilqueue-longpoll", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        commits = self.queue.store.commits()
        try:
            while not self._stop.is_set():
                try:
                    self._look(commits)
                except Exception:
                    logger.exception("long-poll watcher failed to read the job table; retrying")
                    self._stop.wait(0.5)
                self._stop.wait(self.interval)
        finally:
            commits.close()
            self.queue.store.close()

    def _look(self, commits: Commits) -> None:
        with self._lock:
            if not self._entries:
                self._wake.clear()
                idle = True
            else:
                idle = False
        if idle:
            # Nobody waits: sleep without polling until the next waiter arrives.
            self._wake.wait()
            commits.changed()
            return
        changed = commits.changed()
        with self._lock:
            fresh, self._fresh = self._fresh, set()
            ids = list(self._entries) if changed else [i for i in fresh if i in self._entries]
            known = {i: self._entries[i].version for i in ids}
        if not ids:
            return
        self.queries += 1
        versions = self.queue.store.versions(ids)
        for job_id, old in known.items():
            now = versions.get(job_id)
            if now is not None and now <= old:
                continue
            job = None
            if now is not None:
                self.queries += 1
                try:
                    job = self.queue.store.get(job_id)
                except JobNotFound:
                    pass
            self._publish(job_id, job)

    def _publish(self, job_id: str, job: Job | None) -> None:
        with self._lock:
            entry = self._entries.get(job_id)
            if entry is None:
                return
            if job is None:
                entry.gone = True
            elif job.version > entry.version:
                entry.job, entry.version = job, job.version
            entry.changed.notify_all()

    def __repr__(self) -> str:
        return f"<Watcher waiting={self.waiting} jobs={len(self._entries)} queries={self.queries}>"
