"""The peewee tables lilqueue keeps next to Huey's, in the same SQLite file.

The models are declared once and bound to each queue's database by :func:`bind`, so two
queues in one process (or one test run) never share a connection.
"""

from __future__ import annotations

from types import SimpleNamespace

import peewee as pw

from .states import RUNNING, UNFINISHED


class Job(pw.Model):
    id = pw.CharField(primary_key=True, max_length=32)
    task = pw.CharField(max_length=200)
    state = pw.CharField(max_length=16)
    args = pw.TextField(default="[]")
    kwargs = pw.TextField(default="{}")
    key = pw.CharField(null=True, max_length=200)
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
        legacy_table_names = False
        without_rowid = True  # the id is the key: one b-tree less to write on every start


class Log(pw.Model):
    id = pw.AutoField()
    job_id = pw.CharField(max_length=32, index=True)
    ts = pw.FloatField()
    level = pw.CharField(max_length=16)
    message = pw.TextField()

    class Meta:
        table_name = "lilqueue_log"
        legacy_table_names = False


class Worker(pw.Model):
    id = pw.CharField(primary_key=True, max_length=64)
    hostname = pw.TextField()
    pid = pw.IntegerField()
    threads = pw.IntegerField()
    started_at = pw.FloatField()
    heartbeat_at = pw.FloatField(index=True)

    class Meta:
        table_name = "lilqueue_worker"
        legacy_table_names = False


MODELS = (Job, Log, Worker)


def bind(database: pw.Database) -> SimpleNamespace:
    """Subclasses of the three models bound to ``database``; creates the tables."""
    bound = {}
    for model in MODELS:
        meta = type("Meta", (), {"database": database, "table_name": model._meta.table_name,
                                 "legacy_table_names": False, "without_rowid": model._meta.without_rowid})
        bound[model.__name__] = type(model.__name__, (model,), {"Meta": meta, "__module__": __name__})
    job = bound["Job"]
    # Partial indexes that a new queued job does not enter, so a start writes the job table's
    # b-tree and nothing else of lilqueue's. Queries must name the states as literals (not
    # parameters) for SQLite to use them.
    job.add_index(job.worker, where=job.state == RUNNING)               # reaping, cancels
    job.add_index(job.finished_at, where=job.finished_at.is_null(False))  # pruning
    job.add_index(job.key, unique=True, where=job.key.is_null(False) & job.state.in_(UNFINISHED))
    with database.atomic():
        database.create_tables(bound.values(), safe=True)
    return SimpleNamespace(**bound)
