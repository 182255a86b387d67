"""Exceptions raised by lilqueue.

    LilqueueError
    ├── ConfigurationError   a bad option or task definition, raised at setup
    ├── UnknownTask          a task name that was never registered
    ├── InvalidArguments     arguments that do not fit the task, or are not JSON
    ├── JobNotFound          no job has that id
    ├── JobFinished          the job is already finished (cancel)
    ├── StorageError         the database cannot be written (read-only, disk full)
    ├── WaitersFull          too many requests already wait for jobs (web layer)
    └── QueueNotFound        a ``module:attribute`` that leads to no Queue (command line)

    Canceled (BaseException) raised inside a task when its job was canceled;
                             control flow, not an error.
"""

from __future__ import annotations


class LilqueueError(Exception):
    """Base class of every error lilqueue raises on purpose."""


class ConfigurationError(LilqueueError, TypeError, ValueError):
    """Raised by ``Queue(...)`` and ``@queue.task(...)`` for an unknown option or a bad value.
    It is also a TypeError and a ValueError, the errors Python raises for bad arguments."""


class UnknownTask(LilqueueError, LookupError):
    """Raised by ``queue.start`` when no task is registered under ``name``."""

    def __init__(self, name: object) -> None:
        super().__init__(f"no task is registered under the name {name!r}")
        self.name = name


class InvalidArguments(LilqueueError, ValueError):
    """Raised by ``start`` when the arguments do not bind to the task or are not JSON."""

    def __init__(self, task: str, detail: str) -> None:
        super().__init__(f"invalid arguments for task {task!r}: {detail}")
        self.task = task
        self.detail = detail


class JobNotFound(LilqueueError, LookupError):
    """Raised by ``queue.get`` and ``queue.cancel`` for an id no job has."""

    def __init__(self, job_id: object) -> None:
        super().__init__(f"no job with id {job_id!r}")
        self.job_id = job_id


class JobFinished(LilqueueError):
    """Raised by ``queue.cancel`` when the job has already reached a final state."""

    def __init__(self, job_id: str, state: str) -> None:
        super().__init__(f"job {job_id!r} is already {state}")
        self.job_id = job_id
        self.state = state


class StorageError(LilqueueError):
    """Raised by ``start`` when the database cannot take the write (read-only, full, locked)."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"the job database cannot be written: {detail}")
        self.detail = detail


class WaitersFull(LilqueueError):
    """Raised by the web layer's watcher when ``max_waiters`` requests already wait; the
    middleware answers 429 (long-poll) or ends the event stream with a retry hint."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"{limit} requests are already waiting")
        self.limit = limit


class QueueNotFound(LilqueueError, LookupError):
    """Raised by ``python -m lilqueue`` when its ``module:attribute`` argument leads to no Queue."""

    def __init__(self, spec: str, detail: str) -> None:
        super().__init__(detail)
        self.spec = spec


class Canceled(BaseException):
    """Raised inside a running task by ``progress()``, ``log()`` or ``check()`` once its job
    is canceled. It derives from BaseException, like ``asyncio.CancelledError``, so that a
    task's ``except Exception`` does not swallow it."""

    def __init__(self, job_id: str | None = None) -> None:
        super().__init__(f"job {job_id} was canceled" if job_id else "job was canceled")
        self.job_id = job_id
