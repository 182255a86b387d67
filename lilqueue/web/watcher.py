"""One watcher thread per web process wakes the requests that wait for a job to change.

The watcher sleeps on the store's doorbell (``Commits.wait``) while anyone waits, and asks the
store whether anyone committed (on SQLite ``PRAGMA data_version``, on PostgreSQL the
notifications of a LISTEN connection: microseconds, no table read) when it rings; without a
doorbell it asks every ``interval`` seconds. When another connection committed, it reads the
versions of the watched jobs that may have changed (all of them on SQLite, the notified ones on
PostgreSQL) in ONE query, loads each job whose version grew ONCE, and hands that snapshot to
every request waiting on it. Waiting requests never touch the database, so the reads per change
do not grow with the number of waiters. ``wait_change`` waits for any change at all (the
dashboard's overview and job list).

    watcher = Watcher(queue)                 # max_waiters: MIDDLEWARE.max_waiters unless given
    job = queue.get(job_id)
    newer = watcher.wait(job, since=job.version, timeout=25.0)   # None when nothing changed
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from typing import TYPE_CHECKING, Any

from ..errors import JobNotFound, WaitersFull
from ..job import Job
from ..settings import MIDDLEWARE
from ..store import DOORBELL_WAIT, Commits
from .http import Wait, WaitJob

if TYPE_CHECKING:
    from ..queue import Queue

logger = logging.getLogger("lilqueue.web")

Futures = dict[asyncio.Future, asyncio.AbstractEventLoop]  # a waiting coroutine's future, and its loop

# Seconds a job stays watched after its last waiter was answered: a client asks again at once,
# and meanwhile its snapshot is kept current, so asking again reads no row (``latest``).
LINGER = 5.0


class _Entry:
    """What the watcher knows about one watched job, the Condition its waiting threads sleep on
    and the futures its waiting coroutines await."""

    __slots__ = ("job", "version", "waiters", "left", "gone", "changed", "futures")

    def __init__(self, job: Job, lock: threading.Lock) -> None:
        self.job = job
        self.version = job.version
        self.waiters = 0
        self.left = 0.0  # monotonic time its last waiter left, while it has none
        self.gone = False
        self.changed = threading.Condition(lock)
        self.futures: Futures = {}


class Watcher:
    """Wakes waiting requests when their job's version grows.

    ``queries`` counts every database read the watcher made (one ``versions`` query per
    commit noticed, plus one load per job that changed); tests use it to show that reads do
    not grow with the number of waiters.
    """

    def __init__(self, queue: Queue, *, max_waiters: int = MIDDLEWARE.max_waiters, interval: float = 0.003) -> None:
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
        # Any change at all, for the dashboard's overview and list: a count of the commits this
        # watcher noticed, behind a token of its own (a mark from another process is stale).
        self._token = secrets.token_hex(4)
        self._moves = 0
        self._moved = threading.Condition(self._lock)
        self._anyone = 0  # requests waiting in wait_change
        self._looking = threading.Event()  # the thread holds its baseline: later commits move the mark
        self._change_futures: Futures = {}

    @property
    def mark(self) -> str:
        """Where the queue stands, as far as this watcher noticed: ``token.count``."""
        return f"{self._token}.{self._moves}"

    def first_mark(self) -> str:
        """The mark for a client that has none yet, once this watcher's thread looks at the
        commits: every commit after it moves the mark. (A mark given before the thread looked
        would not move for a commit made before it did: the dashboard missed such a change.)"""
        with self._lock:
            self._ensure_running()
        self._looking.wait(DOORBELL_WAIT)
        return self.mark

    def wait_change(self, since: str | None, timeout: float, limit: int | None = None) -> str:
        """Block until some job changed after the mark ``since`` (any other mark, or None,
        answers at once), or for ``timeout`` seconds; returns the mark then. Raises WaitersFull
        like ``wait``."""
        limit = self.max_waiters if limit is None else min(limit, self.max_waiters)
        with self._lock:
            if since != self.mark:
                return self.mark
            if self.waiting >= limit:
                raise WaitersFull(limit)
            self._anyone += 1
            self.waiting += 1
            self._ensure_running()
            try:
                self._moved.wait_for(lambda: self.mark != since, timeout)
                return self.mark
            finally:
                self._anyone -= 1
                self.waiting -= 1

    def wait(self, job: Job, since: int, timeout: float, limit: int | None = None) -> Job | None:
        """Block until the job's version is past ``since`` and return that snapshot, or return
        None after ``timeout`` seconds. Raises WaitersFull when ``limit`` (at most
        ``max_waiters``) requests already wait, and JobNotFound if the job disappears (pruned)
        while waiting."""
        limit = self.max_waiters if limit is None else min(limit, self.max_waiters)
        with self._lock:
            entry = self._enter(job, limit)
            try:
                entry.changed.wait_for(lambda: entry.gone or entry.version > since, timeout)
                if entry.gone:
                    raise JobNotFound(job.id)
                return entry.job if entry.version > since else None
            finally:
                self.waiting -= 1
                self._leave(entry)

    def _enter(self, job: Job, limit: int) -> _Entry:
        """Count one more waiter on ``job`` (lock held); raises WaitersFull past ``limit``."""
        if self.waiting >= limit:
            raise WaitersFull(limit)
        entry = self._entries.get(job.id)
        if entry is None:
            entry = self._entries[job.id] = _Entry(job, self._lock)
            self._fresh.add(job.id)
        elif job.version > entry.version:
            entry.job, entry.version = job, job.version
        entry.waiters += 1
        self.waiting += 1
        self._ensure_running()
        return entry

    def _leave(self, entry: _Entry) -> None:
        entry.waiters -= 1
        if entry.waiters == 0:
            entry.left = time.monotonic()  # it lingers: see LINGER

    def wait_for(self, wait: Wait) -> Any:
        """What a core's ``Wait`` instruction asks (``http.py``), blocking this thread."""
        if isinstance(wait, WaitJob):
            return self.wait(wait.job, wait.since, wait.timeout, limit=wait.limit)
        return self.wait_change(wait.since, wait.timeout, limit=wait.limit)

    async def wait_async(self, wait: Wait) -> Any:
        """What a core's ``Wait`` instruction asks, on an event loop: the waiting coroutine
        awaits a future that the watcher thread resolves (one call into each loop per change),
        so a waiting request costs no thread. Same answers and errors as ``wait_for``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait.timeout
        limit = min(wait.limit, self.max_waiters)
        with self._lock:
            if isinstance(wait, WaitJob):
                entry = self._enter(wait.job, limit)
            elif wait.since != self.mark:
                return self.mark
            elif self.waiting >= limit:
                raise WaitersFull(limit)
            else:
                entry = None
                self._anyone += 1
                self.waiting += 1
                self._ensure_running()
        futures = self._change_futures if entry is None else entry.futures
        try:
            while True:
                with self._lock:
                    if entry is None:
                        if self.mark != wait.since:
                            return self.mark
                    elif entry.gone:
                        raise JobNotFound(wait.job.id)
                    elif entry.version > wait.since:
                        return entry.job
                    left = deadline - loop.time()
                    if left <= 0:
                        return self.mark if entry is None else None
                    future = loop.create_future()
                    futures[future] = loop
                timer = loop.call_later(left, _settle, [future])
                try:
                    await future
                finally:
                    timer.cancel()
                    with self._lock:
                        futures.pop(future, None)
        finally:
            with self._lock:
                self.waiting -= 1
                if entry is None:
                    self._anyone -= 1
                else:
                    self._leave(entry)

    def latest(self, job_id: str) -> Job | None:
        """The newest snapshot of a job that requests wait on or waited on in the last
        ``LINGER`` seconds (at most one look old), so that one more waiter on a watched job
        costs no database read; None otherwise."""
        with self._lock:
            entry = self._entries.get(job_id)
            return None if entry is None or entry.gone else entry.job

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
        self._looking.set()
        try:
            while not self._stop.is_set():
                try:
                    self._look(commits)
                except Exception:
                    logger.exception("long-poll watcher failed to read the job table; retrying")
                    self._stop.wait(0.5)
                if commits.wakes:  # a doorbell: sleep until a commit
                    commits.wait(DOORBELL_WAIT)
                else:
                    self._stop.wait(self.interval)
        finally:
            self._looking.clear()
            commits.close()
            self.queue.store.close()

    def _look(self, commits: Commits) -> None:
        with self._lock:
            self._forget(time.monotonic() - LINGER)
            if not self._entries and not self._anyone:
                self._wake.clear()
                idle = True
            else:
                idle = False
        if idle:
            # Nobody waits: sleep without polling until the next waiter arrives.
            self._wake.wait()
            self._count(commits.jobs(), commits)
            return
        changed = commits.jobs()  # None: any job may have changed
        self._count(changed, commits)
        with self._lock:
            fresh, self._fresh = self._fresh, set()
            if changed is None:
                ids = list(self._entries)
            else:
                ids = [i for i in fresh | changed if i in self._entries]
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

    def _count(self, changed: set[str] | None, commits: Commits) -> None:
        if changed or (changed is None and commits.certain):
            self._moves += 1  # only this thread writes it; a waiter reads it under the lock
            if self._anyone:  # one about to wait re-reads the mark after counting itself in
                with self._lock:
                    self._moved.notify_all()
                    _wake_futures(self._change_futures)

    def _forget(self, before: float) -> None:
        """Stop watching the jobs whose last waiter left before ``before`` (lock held)."""
        for job_id in [i for i, e in self._entries.items() if not e.waiters and e.left < before]:
            del self._entries[job_id]
            self._fresh.discard(job_id)

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
            _wake_futures(entry.futures)

    def __repr__(self) -> str:
        return f"<Watcher waiting={self.waiting} jobs={len(self._entries)} queries={self.queries}>"


def _wake_futures(futures: Futures) -> None:
    """Resolve waiting coroutines' futures from the watcher thread (lock held): one call into
    each event loop, whatever the number of futures on it. Each waiter looks again itself."""
    by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future]] = {}
    for future, loop in futures.items():
        by_loop.setdefault(loop, []).append(future)
    futures.clear()
    for loop, waiting in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle, waiting)
        except RuntimeError:  # that loop is closed: nobody awaits there any more
            pass


def _settle(futures: list[asyncio.Future]) -> None:
    for future in futures:
        if not future.done():
            future.set_result(None)
