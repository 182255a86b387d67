"""What a job looks like from outside: a read-only snapshot of one row of the job table."""

from __future__ import annotations

import dataclasses
import math
import re
import secrets
from datetime import datetime
from typing import Any

from .formats import iso
from .states import FINISHED, STATES

ID_BYTES = 16                                 # 128 random bits...
ID_LENGTH = math.ceil(ID_BYTES * 8 / 6)       # ...in URL-safe base64 (6 bits a character, unpadded): 22
ID_PATTERN = re.compile(f"[A-Za-z0-9_-]{{{ID_LENGTH}}}")
KEY_LIMIT = 200                               # characters in a job's key
LEVELS = ("debug", "info", "warning", "error")  # of a log line
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")  # NUL (PostgreSQL's text) and lone surrogates (UTF-8)


def storable(text: str) -> str:
    """A task's text (a log line, a progress message, an error) as every engine can store it:
    NUL and lone surrogates become U+FFFD, so a job reads the same on SQLite and PostgreSQL."""
    return UNSTORABLE.sub("\ufffd", text)


def new_id() -> str:
    """A fresh job id: unguessable, so that knowing an id is what lets a browser watch a job.
    Never one that starts with "-": a command line would take it for an option."""
    while (job_id := secrets.token_urlsafe(ID_BYTES)).startswith("-"):
        pass
    return job_id


class _Record:
    """Fields read as attributes or as keys (``job.progress.current == job["progress"]["current"]``)."""

    def __getitem__(self, name: str) -> Any:
        if name not in self.__dataclass_fields__:
            raise KeyError(name)
        return getattr(self, name)

    def keys(self) -> list[str]:
        return list(self.__dataclass_fields__)


@dataclasses.dataclass(frozen=True)
class Progress(_Record):
    current: float | None = None
    total: float | None = None
    message: str | None = None

    @property
    def percent(self) -> float | None:
        """0-100 when a total is known, else None."""
        if self.current is None or not self.total:
            return None
        return round(min(max(self.current / self.total * 100.0, 0.0), 100.0), 2)

    def to_dict(self) -> dict[str, Any]:
        return {"current": self.current, "total": self.total,
                "percent": self.percent, "message": self.message}


@dataclasses.dataclass(frozen=True)
class LogLine(_Record):
    ts: datetime
    level: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"ts": iso(self.ts), "level": self.level, "message": self.message}


@dataclasses.dataclass(frozen=True)
class JobError(_Record):
    type: str
    message: str
    traceback: str | None = dataclasses.field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """Type and message only: tracebacks are for operators, never for browsers."""
        return {"type": self.type, "message": self.message}


@dataclasses.dataclass(frozen=True)
class Child(_Record):
    """One step of a pipeline, or one child of a batch, as its parent lists it."""
    id: str
    task: str
    step: int
    state: str | None  # None: not started yet (a pipeline's later step, a batch's ``then``)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "task": self.task, "step": self.step, "state": self.state}


@dataclasses.dataclass(frozen=True)
class Flow(_Record):
    """What a pipeline's or a batch's parent job holds besides a job's fields: its children,
    counted as they finish (``done``; ``failed``: of them, failed or canceled), and listed."""
    kind: str                     # PIPELINE or BATCH
    total: int                    # steps, or items
    done: int
    failed: int
    children: tuple[Child, ...]   # the steps; a batch's first CHILDREN_LISTED items, and its ``then``

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "total": self.total, "done": self.done, "failed": self.failed,
                "children": [child.to_dict() for child in self.children]}


PIPELINE = "pipeline"
BATCH = "batch"
CHILDREN_LISTED = 100  # a batch's children listed with its parent (the rest are counted)


@dataclasses.dataclass(frozen=True)
class Job(_Record):
    """A job as it was when it was read. Read it again with ``queue.get(job.id)``."""

    id: str
    task: str
    state: str
    version: int
    args: list
    kwargs: dict
    key: str | None
    owner: str | None
    progress: Progress
    logs: tuple[LogLine, ...]
    logs_dropped: int
    result: Any
    error: JobError | None
    attempts: int
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    retry_of: str | None = None  # the job this one retries (``queue.retry``)
    run_at: datetime | None = None  # a delayed start: its body does not run before then
    priority: int = 0               # higher runs first
    parent: str | None = None       # the pipeline or batch this job is a step or child of
    step: int | None = None         # its place there (from 0)
    flow: Flow | None = None        # a pipeline's or a batch's parent: its children

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape the HTTP API serves (no traceback, no owner); ``JSON_SCHEMA`` below
        describes it."""
        return {
            "id": self.id,
            "task": self.task,
            "state": self.state,
            "progress": self.progress.to_dict(),
            "logs": [line.to_dict() for line in self.logs],
            "logs_dropped": self.logs_dropped,
            "result": self.result,
            "error": self.error.to_dict() if self.error else None,
            "version": self.version,
            "attempts": self.attempts,
            "key": self.key,
            "cancel_requested": self.cancel_requested,
            "created_at": iso(self.created_at),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "retry_of": self.retry_of,
            "run_at": iso(self.run_at),
            "priority": self.priority,
            "parent": self.parent,
            "step": self.step,
            "flow": self.flow.to_dict() if self.flow else None,
        }

    def __repr__(self) -> str:
        return f"<Job {self.id} {self.task} {self.state} v{self.version}>"


_NUMBER = {"type": ["number", "null"]}
_TEXT = {"type": ["string", "null"]}
_TIME = {"type": ["string", "null"], "format": "date-time"}

# The JSON Schema of ``Job.to_dict()`` (plus ``url`` and ``no_worker``, which the web layer
# adds): the OpenAPI document serves it, and a test holds the two together.
_PROPERTIES: dict[str, Any] = {
    "id": {"type": "string", "pattern": f"^{ID_PATTERN.pattern}$"},
    "url": {"type": "string", "description": "where to read the job (Location of a start)"},
    "task": {"type": "string"},
    "state": {"type": "string", "enum": list(STATES)},
    "progress": {"type": "object", "properties": {
        "current": _NUMBER, "total": _NUMBER, "percent": _NUMBER, "message": _TEXT}},
    "logs": {"type": "array", "items": {"type": "object", "properties": {
        "ts": {"type": "string", "format": "date-time"},
        "level": {"type": "string", "enum": list(LEVELS)},
        "message": {"type": "string"}}}},
    "logs_dropped": {"type": "integer"},
    "result": {"description": "the task's return value, once succeeded"},
    "error": {"type": ["object", "null"], "properties": {
        "type": {"type": "string"}, "message": {"type": "string"}}},
    "version": {"type": "integer", "description": "grows with every change"},
    "attempts": {"type": "integer"},
    "key": {"type": ["string", "null"], "maxLength": KEY_LIMIT},
    "cancel_requested": {"type": "boolean"},
    "no_worker": {"type": "boolean", "description": "true while the job is queued and no worker has sent a"
                  " heartbeat within the queue's heartbeat_timeout: nothing will run it until one starts"},
    "created_at": _TIME, "started_at": _TIME, "finished_at": _TIME,
    "retry_of": {"type": ["string", "null"], "description": "the id of the job this one retries"},
    "run_at": {**_TIME, "description": "a delayed job: it does not run before this moment (null: at once)"},
    "priority": {"type": "integer", "description": "higher runs first (0 by default)"},
    "parent": {"type": ["string", "null"], "description": "the pipeline or batch this job is a step or child of"},
    "step": {"type": ["integer", "null"], "description": "its place in its parent (from 0)"},
    "flow": {"type": ["object", "null"], "description": "a pipeline's or a batch's own job: its children",
             "properties": {
                 "kind": {"type": "string", "enum": [PIPELINE, BATCH]},
                 "total": {"type": "integer", "description": "steps, or items"},
                 "done": {"type": "integer", "description": "children finished"},
                 "failed": {"type": "integer", "description": "of them, failed or canceled"},
                 "children": {"type": "array", "description": f"the steps (a batch: its first {CHILDREN_LISTED}"
                              " items, and its then-job)", "items": {"type": "object", "properties": {
                                  "id": {"type": "string"}, "task": {"type": "string"},
                                  "step": {"type": "integer"},
                                  "state": {"type": ["string", "null"], "enum": [*STATES, None]}}}}}},
}
JSON_SCHEMA: dict[str, Any] = {"type": "object", "required": list(_PROPERTIES), "properties": _PROPERTIES}
