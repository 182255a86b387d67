"""What a job looks like from outside: a read-only snapshot of one row of the job table."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

from .states import FINISHED


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
        return {"ts": _iso(self.ts), "level": self.level, "message": self.message}


@dataclasses.dataclass(frozen=True)
class JobError(_Record):
    type: str
    message: str
    traceback: str | None = dataclasses.field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """Type and message only: tracebacks are for operators, never for browsers."""
        return {"type": self.type, "message": self.message}


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

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape the HTTP API serves (no traceback, no owner)."""
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
            "created_at": _iso(self.created_at),
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
        }

    @classmethod
    def from_row(cls, row: dict[str, Any], logs: list[tuple[float, str, str]]) -> Job:
        error = None
        if row["error_type"] is not None:
            error = JobError(row["error_type"], row["error_message"] or "", row["error_traceback"])
        return cls(
            id=row["id"],
            task=row["task"],
            state=row["state"],
            version=row["version"],
            args=json.loads(row["args"]),
            kwargs=json.loads(row["kwargs"]),
            key=row["key"],
            owner=row["owner"],
            progress=Progress(_number(row["current"]), _number(row["total"]), row["message"]),
            logs=tuple(LogLine(_dt(ts), level, message) for ts, level, message in logs),
            logs_dropped=row["logs_dropped"],
            result=None if row["result"] is None else json.loads(row["result"]),
            error=error,
            attempts=row["attempts"],
            cancel_requested=bool(row["cancel_requested"]),
            created_at=_dt(row["created_at"]),
            started_at=_dt(row["started_at"]),
            finished_at=_dt(row["finished_at"]),
        )

    def __repr__(self) -> str:
        return f"<Job {self.id} {self.task} {self.state} v{self.version}>"


def _dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _number(value: float | None) -> float | int | None:
    """Progress is stored as REAL; give integral values back as ints (3, not 3.0)."""
    if value is not None and value.is_integer():
        return int(value)
    return value
