"""Exceptions raised by lilqueue.

    LilqueueError
    ├── ConfigurationError   a bad option or task definition, raised at setup
    ├── UnknownTask          a task name that was never registered
    ├── InvalidArguments     arguments that do not fit the task (its signature, its types), or are not JSON
    ├── JobNotFound          no job has that id
    ├── JobFinished          the job is already finished (cancel)
    ├── JobChanged           the job moved past the version a conditional cancel named
    ├── StorageError         the database cannot be written (read-only, disk full)
    ├── Busy                 a task's max_pending jobs are already queued or running
    ├── WaitersFull          too many requests already wait for jobs (web layer)
    └── QueueNotFound        a ``module:attribute`` that leads to no Queue (command line)

    Canceled (BaseException) raised inside a task when its job was canceled;
                             control flow, not an error.
    Retry (BaseException)    raised by a task to be run again later; control flow too.
"""

from __future__ import annotations

from datetime import timedelta


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
    """Raised by ``start`` when the arguments do not bind to the task, are not JSON, or do not
    fit a parameter's annotation; then ``parameter``, ``expected`` (the annotation, spelled)
    and ``given`` (the type found) say which and how."""

    def __init__(self, task: str, detail: str, *, parameter: str | None = None, expected: str | None = None,
                 given: str | None = None) -> None:
        super().__init__(f"invalid arguments for task {task!r}: {detail}")
        self.task = task
        self.detail = detail
        self.parameter = parameter
        self.expected = expected
        self.given = given


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


class JobChanged(LilqueueError):
    """Raised by ``queue.cancel(job_id, version=v)`` when the job is no longer at version ``v``
    (it made progress, or changed state, since the caller read it): nothing was changed."""

    def __init__(self, job_id: str, expected: int | None, current: int) -> None:
        not_expected = "" if expected is None else f", not {expected}"
        super().__init__(f"job {job_id!r} is at version {current}{not_expected}")
        self.job_id = job_id
        self.expected = expected
        self.current = current


class WrongState(LilqueueError):
    """Raised when an operator's action does not fit the job's state: a retry of a job that
    did not fail or was not canceled, a delete of an unfinished job."""

    def __init__(self, job_id: str, state: str, detail: str) -> None:
        super().__init__(f"job {job_id} is {state}: {detail}")
        self.job_id = job_id
        self.state = state
        self.detail = detail


class StorageError(LilqueueError):
    """Raised by ``start`` when the database cannot take the write (read-only, full, locked)."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"the job database cannot be written: {detail}")
        self.detail = detail


class Busy(LilqueueError):
    """Raised by ``start`` (and ``start_many``) when ``limit`` jobs of ``task`` are already
    queued or running (``@queue.task(max_pending=limit)``). Nothing is written; the middleware
    answers 429 with ``Retry-After``. A start whose ``key`` an unfinished job holds returns that
    job instead: keys come before limits."""

    def __init__(self, task: str, limit: int) -> None:
        super().__init__(f"task {task!r} is busy: {limit} of its jobs are queued or running already")
        self.task = task
        self.limit = limit


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


class Retry(BaseException):
    """Raised by a task to run its job again after ``delay`` seconds (a number or a timedelta;
    None: the task's own retry delay and backoff). The attempt counts in ``attempts`` and
    within the task's ``retries``; past them the job fails, with the error of the exception the
    Retry was raised from, if any::

        except RateLimited as exc:
            raise lilqueue.Retry(delay=60) from exc

    A BaseException, like ``Canceled``: a task's ``except Exception`` does not swallow it."""

    def __init__(self, delay: float | timedelta | None = None) -> None:
        if isinstance(delay, timedelta):
            delay = delay.total_seconds()
        if delay is not None and (isinstance(delay, bool) or not isinstance(delay, (int, float))
                                  or not 0 <= delay < float("inf")):
            raise ValueError(f"Retry(delay=...) must be seconds >= 0 or a timedelta, not {delay!r}")
        super().__init__(f"retry in {delay:g} s" if delay is not None else "retry")
        self.delay = None if delay is None else float(delay)
