"""HTTP problem details (RFC 9457) for the web layer, and the one table that maps lilqueue's
errors to HTTP statuses.

Every error the middleware answers is ``application/problem+json`` with ``type``, ``title``,
``status`` and ``detail``; tracebacks go to the ``lilqueue.web`` logger, never to a client.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from typing import Any

import peewee as pw

try:
    import psycopg  # the PostgreSQL engine's driver (Huey's storage module imports it too)
except ImportError:
    psycopg = None

from ..errors import Busy, InvalidArguments, JobChanged, JobFinished, JobNotFound, StorageError, UnknownTask, WrongState

PROBLEM_TYPE = "application/problem+json"

# exception -> (status, type slug, title); looked up along the exception's MRO.
ERROR_STATUS: dict[type[BaseException], tuple[int, str, str]] = {
    UnknownTask: (404, "unknown-task", "Unknown task"),
    InvalidArguments: (422, "invalid-arguments", "Invalid arguments"),
    JobNotFound: (404, "job-not-found", "Job not found"),
    JobFinished: (409, "job-finished", "Job already finished"),
    JobChanged: (412, "precondition-failed", "Precondition failed"),
    WrongState: (409, "wrong-state", "Not in a state for this"),
    Busy: (429, "busy", "Too many jobs of this task"),
    StorageError: (503, "storage-unavailable", "Job database unavailable"),
    sqlite3.DatabaseError: (503, "storage-unavailable", "Job database unavailable"),
    pw.DatabaseError: (503, "storage-unavailable", "Job database unavailable"),
}
if psycopg is not None:
    ERROR_STATUS[psycopg.Error] = ERROR_STATUS[StorageError]
RETRY_AFTER = {503: "2", 429: "1"}


class Problem(Exception):
    """Raised inside the web layer to answer with a problem document.

    Extra keyword ``members`` become extension members of the JSON object; ``headers`` are
    added to the response (``Allow``, ``Retry-After``).
    """

    def __init__(self, status: int, slug: str, title: str, detail: str,
                 headers: dict[str, str] | None = None, **members: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.headers = dict(headers or {})
        if status in RETRY_AFTER:
            self.headers.setdefault("Retry-After", RETRY_AFTER[status])
        self.members = members

    def body(self) -> bytes:
        document = {"type": f"urn:lilqueue:problem:{self.slug}", "title": self.title,
                    "status": self.status, "detail": self.detail, **self.members}
        return json.dumps(document).encode()

    def __repr__(self) -> str:
        return f"<Problem {self.status} {self.slug}>"


def problem_for(exc: BaseException) -> Problem | None:
    """The problem a known error answers with, or None for anything else (a bug)."""
    for kind in type(exc).__mro__:
        if kind in ERROR_STATUS:
            status, slug, title = ERROR_STATUS[kind]
            return Problem(status, slug, title, _detail(exc), **_members(exc))
    return None


def _detail(exc: BaseException) -> str:
    if isinstance(exc, UnknownTask):
        return f"No task is registered under the name {_short(exc.name)}."
    if isinstance(exc, InvalidArguments):
        return exc.detail
    if isinstance(exc, JobNotFound):
        return "No job has this id."
    if isinstance(exc, JobFinished):
        return f"The job is already {exc.state}."
    if isinstance(exc, JobChanged):
        return "The job has changed since the version If-Match names; read it again."
    if isinstance(exc, WrongState):
        return f"The job is {exc.state}: {exc.detail}."
    if isinstance(exc, Busy):
        return f"{exc.limit} jobs of this task are queued or running already; try again later."
    return "The job database cannot be used right now; try again shortly."


def _members(exc: BaseException) -> dict[str, Any]:
    """Extension members a client can act on: which parameter a value did not fit, and how."""
    if isinstance(exc, InvalidArguments) and exc.parameter is not None:
        return {"parameter": exc.parameter, "expected": exc.expected, "given": exc.given}
    return {}


def _short(value: object, limit: int = 100) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def bad_request(detail: str) -> Problem:
    return Problem(400, "bad-request", "Bad request", detail)


def not_found(detail: str = "Nothing is here.") -> Problem:
    return Problem(404, "not-found", "Not found", detail)


def job_not_found() -> Problem:
    return Problem(404, "job-not-found", "Job not found", "No job has this id.")


def forbidden(detail: str) -> Problem:
    return Problem(403, "forbidden", "Forbidden", detail)


def answering(exc: Exception, log: logging.Logger, where: str) -> Problem:
    """The problem to answer for an error that reached the top of a request (``where``: its method
    and path, for the log): a Problem as it is, a known error by the table, anything else a 500
    whose traceback goes to ``log`` only."""
    problem = exc if isinstance(exc, Problem) else problem_for(exc)
    if problem is None:
        log.exception("error answering %s", where)
        return Problem(500, "internal-error", "Internal error",
                       "The request could not be answered; the server's log has the details.")
    if problem.status >= 500:
        log.warning("answering %d: %s", problem.status, exc)
    return problem
