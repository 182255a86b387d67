"""The job list's filters: read from a query string (the list page) or a form body (a bulk
action), handed to ``queue.jobs()``, and written back into links.

    filters = parse("state=failed&task=import_csv&before=hS1Fo0W8bSPZ3k0rWm1GZA")
    filters.jobs(queue, limit=51)   # queue.jobs() with them, from the cursor
    filters.query(before="")        # 'state=failed&task=import_csv': the first page again

Times (``after``, ``until``) are ISO 8601 (``2026-05-01T10:30``, read as UTC when they carry no
offset) or epoch seconds. ``before`` is a job id: the page after that job (keyset pagination).
``id`` is not a filter: the list page jumps to that job.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlencode

from ...errors import JobNotFound
from ...job import ID_PATTERN, KEY_LIMIT, Job
from ...states import STATES
from ..problems import Problem, bad_request

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ...queue import Queue

MATCHING = ("state", "task", "owner", "key", "after", "until")  # what a bulk action takes too
FIELDS = (*MATCHING, "before", "id")
MAX_FIELDS = 50  # in one query string or form body
EPOCH = re.compile(r"\d{1,12}(\.\d{1,6})?")


@dataclasses.dataclass(frozen=True)
class Filters:
    """The fields as the operator typed them (stripped), already checked."""

    state: str = ""
    task: str = ""
    owner: str = ""
    key: str = ""
    after: str = ""   # created at or after
    until: str = ""   # created before
    before: str = ""  # a job id: the page after it
    id: str = ""      # jump to this job

    def jobs(self, queue: Queue, limit: int, states: Sequence[str] | None = None, *, paged: bool = True) -> list[Job]:
        """``queue.jobs()`` with these filters (in ``states``, if given, instead of ``state``),
        from the cursor when ``paged``."""
        try:
            return queue.jobs(state=states if states is not None else self.state or None, limit=limit,
                              task=self.task or None, owner=self.owner or None, key=self.key or None,
                              created_after=_time(self.after), created_before=_time(self.until),
                              before=(self.before or None) if paged else None)
        except JobNotFound:
            raise Problem(404, "not-found", "Page gone", "The job this page continues from was deleted;"
                          " start again from the newest jobs.") from None
        except ValueError as exc:
            raise bad_request(str(exc)) from None

    def query(self, **changes: str) -> str:
        """The filters as a query string (empty fields and ``id`` left out), for links."""
        f = dataclasses.replace(self, **changes)
        return urlencode([(name, getattr(f, name)) for name in FIELDS if name != "id" and getattr(f, name)])

    @property
    def active(self) -> bool:
        """Whether anything narrows the list (the cursor aside)."""
        return any(getattr(self, name) for name in MATCHING)

    def describe(self) -> str:
        """``state='failed' task='import'`` for the log: what a bulk action applied to."""
        shown = [f"{name}={getattr(self, name)!r}" for name in MATCHING if getattr(self, name)]
        return " ".join(shown) or "all jobs"


def params(text: str) -> dict[str, list[str]]:
    """A query string or a form body, decoded strictly; 400 when it cannot be."""
    try:
        return parse_qs(text, keep_blank_values=True, max_num_fields=MAX_FIELDS, errors="strict")
    except ValueError:  # too many fields, or bytes that are not UTF-8
        raise bad_request(f"The parameters cannot be read (at most {MAX_FIELDS}, in UTF-8).") from None


def single(values: dict[str, list[str]], name: str) -> str:
    """A parameter given at most once, stripped; "" when absent."""
    given = values.get(name, [])
    if len(given) > 1:
        raise bad_request(f'"{name}" may be given once.')
    return given[0].strip() if given else ""


def parse(text: str) -> Filters:
    """The filters in a query string or a form body; unknown parameters are ignored."""
    values = params(text)
    found = {name: single(values, name) for name in FIELDS}
    for name in ("task", "owner", "key", "id"):
        if len(found[name]) > KEY_LIMIT:
            raise bad_request(f'"{name}" may be at most {KEY_LIMIT} characters.')
    if found["state"] and found["state"] not in STATES:
        raise bad_request(f'"state" must be one of {", ".join(STATES)}.')
    if found["before"] and not ID_PATTERN.fullmatch(found["before"]):
        raise bad_request('"before" must be a job id.')
    for name in ("after", "until"):
        _time(found[name])
    return Filters(**found)


def _time(text: str) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromtimestamp(float(text), UTC) if EPOCH.fullmatch(text) else datetime.fromisoformat(text)
    except (ValueError, OverflowError, OSError):  # not ISO 8601, or a year past 9999
        raise bad_request(f"{text[:40]!r} is not a time: use 2026-05-01T10:30 (UTC) or epoch seconds.") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
