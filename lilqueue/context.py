"""The in-task API: ``current_job()`` and the object it returns.

``progress()`` is meant for hot loops. It only stores the newest value and compares a clock;
the job table is written on the call that crosses the interval (as tqdm's ``mininterval``
does), so a watcher sees a value milliseconds old, and a task calling it a million times
causes a few writes a second. The worker writes a value left pending by a task that went
quiet, and the last one together with the job's final state.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING

from .errors import Canceled
from .job import LEVELS, storable
from .store import Final

if TYPE_CHECKING:
    from .store import Store

MESSAGE_LIMIT = 2000

_current: ContextVar[CurrentJob | None] = ContextVar("lilqueue_current_job", default=None)


def current_job() -> CurrentJob:
    """The job the calling task is running as; outside a worker, one whose calls do nothing.

        job = lilqueue.current_job()
        job.progress(i, total=n, message=f"row {i}")
        job.log("warning", f"cannot import line {i}")
    """
    job = _current.get()
    return _DETACHED if job is None else job


class CurrentJob:
    """Progress, log lines and cancellation for the job a task is running as."""

    def __init__(self, store: Store | None, job_id: str | None, task: str | None,
                 worker: str | None, attempt: int, interval: float, max_logs: int) -> None:
        self.id = job_id
        self.task = task
        self.attempt = attempt
        self._store = store
        self._worker = worker
        self._interval = interval
        self._pending: tuple | None = None
        self._written: tuple | None = None
        self._logs: deque = deque(maxlen=max_logs)
        self._dropped = 0
        self._log_count: int | None = None
        self._next_write = 0.0
        self._lock = threading.Lock()
        self.stop_reason: str | None = None

    @property
    def worker(self) -> str | None:
        """The id of the worker running this attempt (``host:pid:random``); None outside one."""
        return self._worker

    @property
    def canceled(self) -> bool:
        """True once the job was asked to stop (canceled, or its worker is shutting down)."""
        return self.stop_reason is not None

    def progress(self, current: float, total: float | None = None, message: str | None = None) -> None:
        """Report how far the task is; raises Canceled once the job is canceled."""
        if self.stop_reason is not None:
            raise Canceled(self.id)
        value = (current, total, message)
        _check_progress(value)  # here, not at the write: a bad value must fail the call that passed it
        self._pending = value if message is None else (current, total, storable(message))
        if time.monotonic() >= self._next_write:
            self.flush()

    def log(self, level: str, message: str) -> None:
        """Add a log line (``level`` is debug, info, warning or error) the watcher will see."""
        if level not in LEVELS:
            raise ValueError(f"log level must be one of {', '.join(LEVELS)}, not {level!r}")
        if self.stop_reason is not None:
            raise Canceled(self.id)
        if len(self._logs) == self._logs.maxlen:
            self._dropped += 1  # the deque is about to push out its oldest line
        self._logs.append((time.time(), level, storable(str(message)[:MESSAGE_LIMIT])))
        if time.monotonic() >= self._next_write:
            self.flush()

    def check(self) -> None:
        """Raise Canceled if the job was canceled; a cheap call for loops without progress."""
        if self.stop_reason is not None:
            raise Canceled(self.id)

    def flush(self, due_only: bool = False) -> None:
        """Write what is pending. ``due_only``: only if the interval has passed (the worker's
        trailing write for a task that went quiet)."""
        with self._lock:
            now = time.monotonic()
            if due_only and now < self._next_write:
                return
            pending = self._pending
            progress = None if pending is self._written else pending
            if progress is None and not self._logs and not self._dropped:
                return  # nothing written: the next progress() call may still write at once
            self._next_write = now + self._interval
            if progress is not None:
                self._written = pending
            lines = [self._logs.popleft() for _ in range(len(self._logs))]
            dropped, self._dropped = self._dropped, 0
            if self._store is None:
                return
            reason, self._log_count = self._store.record(
                self.id, self._worker, progress, lines, dropped, self._log_count)
            if reason is not None and self.stop_reason is None:
                self.stop_reason = reason

    def final_writes(self) -> Final:
        """What is still unwritten, for the worker to store with the job's final state."""
        with self._lock:
            self._next_write = float("inf")  # no write after the final one
            pending = self._pending
            progress = None if pending is self._written else pending
            lines = [self._logs.popleft() for _ in range(len(self._logs))]
            dropped, self._dropped = self._dropped, 0
            return Final(progress, lines, dropped, self._log_count)

    @contextlib.contextmanager
    def active(self) -> Iterator[CurrentJob]:
        """Make this the job ``current_job()`` returns, for the code run inside the block."""
        token = _current.set(self)
        try:
            yield self
        finally:
            _current.reset(token)

    def __repr__(self) -> str:
        return f"<CurrentJob {self.id} {self.task} attempt {self.attempt}>"


def _check_progress(value: tuple) -> None:
    current, total, message = value
    if isinstance(current, bool) or not isinstance(current, (int, float)) or current != current:
        raise TypeError(f"progress current must be a number, not {current!r}")
    if total is not None and (isinstance(total, bool) or not isinstance(total, (int, float))
                              or not total > 0):
        raise ValueError(f"progress total must be a number > 0 or None, not {total!r}")
    if message is not None and not isinstance(message, str):
        raise TypeError(f"progress message must be a string or None, not {message!r}")


class _DetachedJob(CurrentJob):
    """What ``current_job()`` gives outside a worker: every call is accepted and does nothing."""

    def progress(self, current: float, total: float | None = None, message: str | None = None) -> None:
        pass

    def log(self, level: str, message: str) -> None:
        pass

    def check(self) -> None:
        pass


_DETACHED = _DetachedJob(None, None, None, None, 0, 0.0, 1)
