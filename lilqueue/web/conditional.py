"""Conditional requests (RFC 9110 §13): a job's entity tag is its version, so a client can
cancel only the job it saw (``If-Match``) and revalidate a job it holds (``If-None-Match``).

    etag(job)                        # '"v7"': strong, changes with every change of the job
    matched_version(header, job)     # If-Match: the version to cancel at, or JobChanged (412)
    lists(header, etag(job))         # If-None-Match: True when the client's copy is current (304)

A header that is not a well-formed list simply matches nothing: a garbled ``If-Match`` changes
nothing (412), a garbled ``If-None-Match`` gets the whole answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import JobChanged

if TYPE_CHECKING:
    from ..job import Job


def etag(job: Job) -> str:
    return f'"v{job.version}"'


def _tags(header: str) -> list[str]:
    # Our tags hold no comma, so a tag that does (legal, but rare) cannot be ours anyway.
    return [tag.strip() for tag in header.split(",")]


def matched_version(header: str | None, job: Job) -> int | None:
    """For a state-changing request: None without ``If-Match`` or with ``*`` (the job exists);
    the job's version when one of the listed tags is its current tag (strong comparison: a
    weak ``W/`` tag never matches); else JobChanged."""
    if header is None:
        return None
    tags = _tags(header)
    if "*" in tags:
        return None
    if etag(job) in tags:
        return job.version
    raise JobChanged(job.id, None, job.version)


def lists(header: str | None, current: str) -> bool:
    """For a GET (``If-None-Match``): True when the header is ``*`` or lists ``current`` (weak
    comparison: ``W/`` ignored), so the client's copy is current (304)."""
    if header is None:
        return False
    tags = _tags(header)
    return "*" in tags or current in (tag.removeprefix("W/") for tag in tags)
