"""lilqueue's tables, in one place: their names, columns and indexes, and a row turned into a Job.

The peewee models are the definition. Engines create the tables from them (``create``) and
name them in their SQL through ``JOB``, ``LOG`` and ``WORKER``, which are read off the models.
The models are bound to each queue's database by ``create``, so two queues in one process (or
one test run) never share a connection.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import peewee as pw

from ..job import ID_LENGTH, KEY_LIMIT, Job, JobError, LogLine, Progress
from ..states import RUNNING, UNFINISHED


class JobRow(pw.Model):
    id = pw.CharField(primary_key=True, max_length=ID_LENGTH)
    task = pw.CharField(max_length=200)
    state = pw.CharField(max_length=16)
    args = pw.TextField(default="[]")
    kwargs = pw.TextField(default="{}")
    key = pw.CharField(null=True, max_length=KEY_LIMIT)
    owner = pw.TextField(null=True)
    current = pw.FloatField(null=True)
    total = pw.FloatField(null=True)
    message = pw.TextField(null=True)
    result = pw.TextField(null=True)
    error_type = pw.TextField(null=True)
    error_message = pw.TextField(null=True)
    error_traceback = pw.TextField(null=True)
    version = pw.IntegerField(default=1)
    attempts = pw.IntegerField(default=0)
    cancel_requested = pw.BooleanField(default=False)
    worker = pw.CharField(null=True, max_length=64)
    logs_dropped = pw.IntegerField(default=0)
    created_at = pw.FloatField()
    started_at = pw.FloatField(null=True)
    finished_at = pw.FloatField(null=True)

    class Meta:
        table_name = "lilqueue_job"
        without_rowid = True  # the id is the key: one b-tree less to write on every start


class LogRow(pw.Model):
    id = pw.AutoField()
    job_id = pw.CharField(max_length=ID_LENGTH, index=True)
    ts = pw.FloatField()
    level = pw.CharField(max_length=16)
    message = pw.TextField()

    class Meta:
        table_name = "lilqueue_log"


class WorkerRow(pw.Model):
    id = pw.CharField(primary_key=True, max_length=64)
    hostname = pw.TextField()
    pid = pw.IntegerField()
    threads = pw.IntegerField()
    started_at = pw.FloatField()
    heartbeat_at = pw.FloatField(index=True)

    class Meta:
        table_name = "lilqueue_worker"


MODELS = (JobRow, LogRow, WorkerRow)
JOB = JobRow._meta.table_name
LOG = LogRow._meta.table_name
WORKER = WorkerRow._meta.table_name


def create(database: pw.Database) -> None:
    """Create the tables and indexes in ``database`` if they are missing. Once they exist this
    is a read: opening a queue (a web process, an isolated job's child) takes no write lock."""
    if {model._meta.table_name for model in MODELS} <= set(database.get_tables()):
        return
    bound = {}
    for model in MODELS:
        meta = type("Meta", (), {"database": database, "table_name": model._meta.table_name,
                                 "without_rowid": model._meta.without_rowid})
        bound[model] = type(model.__name__, (model,), {"Meta": meta, "__module__": __name__})
    job = bound[JobRow]
    # Partial indexes that a new queued job does not enter, so a start writes the job table's
    # b-tree and nothing else of lilqueue's. Queries must name the states as literals (not
    # parameters) for SQLite to use them.
    job.add_index(job.worker, where=job.state == RUNNING)               # reaping, cancels
    job.add_index(job.finished_at, where=job.finished_at.is_null(False))  # pruning
    job.add_index(job.key, unique=True, where=job.key.is_null(False) & job.state.in_(UNFINISHED))
    with database.atomic():
        database.create_tables(bound.values(), safe=True)


def job_from_row(row: dict[str, Any], logs: list[tuple[float, str, str]]) -> Job:
    """A Job snapshot from a row of the job table (by column name) and its log lines."""
    error = None
    if row["error_type"] is not None:
        error = JobError(row["error_type"], row["error_message"] or "", row["error_traceback"])
    return Job(
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


def _dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def _number(value: float | None) -> float | int | None:
    """Progress is stored as REAL; give integral values back as ints (3, not 3.0)."""
    if value is not None and value.is_integer():
        return int(value)
    return value
