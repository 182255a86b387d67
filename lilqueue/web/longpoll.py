"""One long-poll, held as far as the server serving it can spare: the public job endpoint and
the dashboard's job page both answer through it; the dashboard's overview and job list wait for
any change through ``poll_change``.

    job, held = poll(middleware, environ, job, since, wait)
    # held False: answer the job now, with Retry-After (RETRY_UNHELD) for the next poll
    mark, held = poll_change(middleware, environ, since_mark, wait)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from ..errors import JobNotFound, WaitersFull
from .problems import Problem, job_not_found

if TYPE_CHECKING:
    from ..job import Job
    from .middleware import Middleware

T = TypeVar("T")


def poll(mw: Middleware, environ: dict, job: Job, since: int | None, wait: float) -> tuple[Job, bool]:
    """The job once its version passes ``since`` (the current version when None), or after
    ``wait`` seconds; and whether this client was held. A finished job, or one that already
    changed, is answered at once. Raises a 429 Problem past ``max_waiters``, 404 if the job
    disappears while watched."""
    if job.finished:
        return job, True
    since = job.version if since is None else since

    def changed(limit: int) -> Job:
        if job.version > since:
            return job  # already newer: answered at once, but only when it could have been held
        return mw.watcher.wait(job, since, wait, limit=limit) or job

    try:
        # A server that cannot hold this client gets Retry-After even for news: polled at
        # most once per RETRY_UNHELD, it keeps its request slots for the host app.
        return _hold(mw, environ, changed, unheld=lambda: job)
    except JobNotFound:
        raise job_not_found() from None


def poll_change(mw: Middleware, environ: dict, since: str | None, wait: float) -> tuple[str, bool]:
    """The dashboard's wait for any change: the watcher's mark once it differs from ``since``
    (at once when it already does), or after ``wait`` seconds; and whether this client was held."""
    watcher = mw.watcher
    if since != watcher.mark or not wait:
        return watcher.mark, True
    return _hold(mw, environ, lambda limit: watcher.wait_change(since, wait, limit=limit),
                 unheld=lambda: watcher.mark)


def _hold(mw: Middleware, environ: dict, wait: Callable[[int], T], unheld: Callable[[], T]) -> tuple[T, bool]:
    """``(wait(limit), True)`` while this server can spare one more held request (``limit``:
    what its holding budget allows); else ``(unheld(), False)``, for an answer now with a time
    to come back. Past ``max_waiters`` itself, a 429 Problem."""
    watcher = mw.watcher
    limit = mw.holding.limit(environ)
    if watcher.waiting >= limit and limit < watcher.max_waiters:
        return unheld(), False
    mw.queue.store.close()  # no idle connection per waiting request
    try:
        return wait(limit), True
    except WaitersFull as full:
        if full.limit < watcher.max_waiters:
            return unheld(), False  # what this server can spare was taken meanwhile
        raise too_many_waiters() from None


def too_many_waiters() -> Problem:
    return Problem(429, "too-many-waiters", "Too many waiting requests",
                   "Too many requests are waiting for jobs right now; poll again after Retry-After seconds.")
