"""One long-poll, held as far as the server serving it can spare: the public job endpoint and
the dashboard's job page both answer through ``poll``; the dashboard's overview and job list
wait for any change through ``poll_change``. Both are steps of a ``Later`` (``http.py``): they
yield what to wait for and the face waits its own way.

    job, held = yield from poll(watcher, request.hold, job, since, wait)
    # held False: answer the job now, with Retry-After (RETRY_UNHELD) for the next poll
    mark, held = yield from poll_change(watcher, request.hold, since_mark, wait)
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import JobNotFound, WaitersFull
from .http import Wait, WaitChange, WaitJob
from .problems import Problem, job_not_found

if TYPE_CHECKING:
    from ..job import Job
    from .watcher import Watcher

T = TypeVar("T")
Steps = Generator[Wait, Any, "tuple[T, bool]"]


def poll(watcher: Watcher, hold: int, job: Job, since: int | None, wait: float) -> Steps:
    """The job once its version passes ``since`` (the current version when None), or after
    ``wait`` seconds; and whether this client was held (``hold``: how many may wait at once
    here). A finished job, or one that already changed, is answered at once. Raises a 429
    Problem past ``max_waiters``, 404 if the job disappears while watched."""
    if job.finished:
        return job, True
    since = job.version if since is None else since
    if job.version > since:
        return job, not _unheld(watcher, hold)  # already newer: at once, held or not
    try:
        # A server that cannot hold this client gets Retry-After even for news: polled at
        # most once per RETRY_UNHELD, it keeps its request slots for the host app.
        newer, held = yield from _hold(watcher, hold, WaitJob(job, since, wait, hold), unheld=lambda: job)
    except JobNotFound:
        raise job_not_found() from None
    return newer or job, held


def poll_change(watcher: Watcher, hold: int, since: str | None, wait: float) -> Steps:
    """The dashboard's wait for any change: the watcher's mark once it differs from ``since``
    (at once when it already does), or after ``wait`` seconds; and whether this client was held."""
    if since is None:
        return watcher.first_mark(), True
    if since != watcher.mark or not wait:
        return watcher.mark, True
    return (yield from _hold(watcher, hold, WaitChange(since, wait, hold), unheld=lambda: watcher.mark))


def _hold(watcher: Watcher, hold: int, wait: Wait, unheld: Callable[[], T]) -> Steps:
    """``(what the wait gave, True)`` while this server can spare one more held request; else
    ``(unheld(), False)``, for an answer now with a time to come back. Past ``max_waiters``
    itself, a 429 Problem."""
    if _unheld(watcher, hold):
        return unheld(), False
    try:
        return (yield wait), True
    except WaitersFull as full:
        if full.limit < watcher.max_waiters:
            return unheld(), False  # what this server can spare was taken meanwhile
        raise too_many_waiters() from None


def _unheld(watcher: Watcher, hold: int) -> bool:
    return watcher.waiting >= hold and hold < watcher.max_waiters


def too_many_waiters() -> Problem:
    return Problem(429, "too-many-waiters", "Too many waiting requests",
                   "Too many requests are waiting for jobs right now; poll again after Retry-After seconds.")
