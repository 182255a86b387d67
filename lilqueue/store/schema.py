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

from ..job import ID_LENGTH, KEY_LIMIT, Child, Flow, Job, JobError, LogLine, Progress
from ..states import FINISHED, QUEUED, RUNNING, STATES, UNFINISHED

# Upper bounds (seconds) of the duration histogram; a last slot holds the longer ones.
DURATION_BUCKETS = (0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
SLOTS = [f"b{i}" for i in range(len(DURATION_BUCKETS) + 1)]
TASK_LENGTH = 200   # a task's name, in every table that holds one (task.NAME_PATTERN allows 100)
STATE_LENGTH = 16   # a state's name
WORKER_LENGTH = 64  # a worker's id: host:pid:random


class JobRow(pw.Model):
    id = pw.CharField(primary_key=True, max_length=ID_LENGTH)
    task = pw.CharField(max_length=TASK_LENGTH)
    state = pw.CharField(max_length=STATE_LENGTH)
    args = pw.TextField(default="[]")
    kwargs = pw.TextField(default="{}")
    key = pw.CharField(null=True, max_length=KEY_LIMIT)
    owner = pw.TextField(null=True)
    current = pw.DoubleField(null=True)
    total = pw.DoubleField(null=True)
    message = pw.TextField(null=True)
    result = pw.TextField(null=True)
    error_type = pw.TextField(null=True)
    error_message = pw.TextField(null=True)
    error_traceback = pw.TextField(null=True)
    version = pw.IntegerField(default=1)
    attempts = pw.IntegerField(default=0)
    cancel_requested = pw.IntegerField(default=0)  # 0 or 1, compared as numbers by both engines
    worker = pw.CharField(null=True, max_length=WORKER_LENGTH)
    logs_dropped = pw.IntegerField(default=0)
    created_at = pw.DoubleField()
    started_at = pw.DoubleField(null=True)
    finished_at = pw.DoubleField(null=True)
    retry_of = pw.CharField(null=True, max_length=ID_LENGTH)
    run_at = pw.DoubleField(null=True)          # a delayed start: not before this moment
    # Defaults in the table too, as ALTER TABLE gives an older one: a writer naming no value gets 0.
    priority = pw.IntegerField(default=0, constraints=[pw.SQL("DEFAULT 0")])  # higher runs first
    parked = pw.IntegerField(default=0, constraints=[pw.SQL("DEFAULT 0")])    # 1: waits for a slot, without a message
    # A step of a pipeline or a child of a batch: its parent job, and its place there.
    parent = pw.CharField(null=True, max_length=ID_LENGTH)
    step = pw.IntegerField(null=True)
    # A pipeline's or a batch's own job (no message: its children's ends move it, see parents.py):
    kind = pw.CharField(null=True, max_length=16)   # PIPELINE or BATCH
    children = pw.IntegerField(null=True)           # steps, or items
    children_done = pw.IntegerField(null=True)      # finished, counted as each one ends
    children_failed = pw.IntegerField(null=True)    # of them, failed or canceled
    plan = pw.TextField(null=True)                  # JSON: the steps to start, a batch's then-task

    class Meta:
        table_name = "lilqueue_job"
        without_rowid = True  # the id is the key: one b-tree less to write on every start


class LogRow(pw.Model):
    id = pw.AutoField()
    job_id = pw.CharField(max_length=ID_LENGTH, index=True)
    ts = pw.DoubleField()
    level = pw.CharField(max_length=16)
    message = pw.TextField()

    class Meta:
        table_name = "lilqueue_log"


class WorkerRow(pw.Model):
    id = pw.CharField(primary_key=True, max_length=WORKER_LENGTH)
    hostname = pw.TextField()
    pid = pw.IntegerField()
    threads = pw.IntegerField()
    started_at = pw.DoubleField()
    heartbeat_at = pw.DoubleField(index=True)

    class Meta:
        table_name = "lilqueue_worker"


class StatRow(pw.Model):
    """Totals per task and final state, kept by triggers in the transaction that finishes (or
    deletes) a job: counters and duration histograms that never go down when old jobs are
    pruned, and current counts without scanning the job table."""
    task = pw.CharField(max_length=TASK_LENGTH)
    state = pw.CharField(max_length=STATE_LENGTH)
    count = pw.IntegerField(default=0)              # jobs that ended in this state
    deleted = pw.IntegerField(default=0)            # of them, pruned or purged since
    timed = pw.IntegerField(default=0)              # of them, with a start and an end
    duration_sum = pw.DoubleField(default=0.0)
    # and b0, b1, ...: timed jobs per slot of DURATION_BUCKETS (the last: longer), added below

    class Meta:
        table_name = "lilqueue_stat"
        primary_key = pw.CompositeKey("task", "state")


for _slot in SLOTS:
    StatRow._meta.add_field(_slot, pw.IntegerField(default=0))


class SlotRow(pw.Model):
    """The latest slot (a matching minute) of each periodic task that a worker took: the row
    is inserted in the transaction that starts the slot's job, so that a slot runs once however
    many workers reach it; the older rows of the task are deleted in that transaction too."""
    task = pw.CharField(max_length=TASK_LENGTH)
    slot = pw.DoubleField()                                  # the minute, epoch seconds (UTC)
    job_id = pw.CharField(null=True, max_length=ID_LENGTH)   # None: skipped (first seen, or still running)

    class Meta:
        table_name = "lilqueue_slot"
        primary_key = pw.CompositeKey("task", "slot")


MODELS = (JobRow, LogRow, WorkerRow, StatRow, SlotRow)
JOB = JobRow._meta.table_name
JOB_COLUMNS = ", ".join(JobRow._meta.sorted_field_names)
LOG = LogRow._meta.table_name
WORKER = WorkerRow._meta.table_name
STAT = StatRow._meta.table_name
SLOT = SlotRow._meta.table_name
STAT_SHARDS = 16
_FINISHED = ", ".join(f"'{state}'" for state in sorted(FINISHED))  # the final states, as SQL literals
# The conditions of the partial indexes by state (see ``create``), which queries repeat word for word.
IS_QUEUED = f"state = '{QUEUED}'"
IS_RUNNING = f"state = '{RUNNING}'"
IS_FINISHED = f"state in ({_FINISHED})"
INDEXES = ("jobrow_queued", "jobrow_running", "jobrow_finished")
# Indexes an older lilqueue created, dropped when it adds those: (state, finished_at) replaced
# jobrow_finished_at; the three by state replaced one of all jobs by (state, created_at, id) and
# two of running jobs, by worker and by task (a claim and a finish moved four entries, now two).
REPLACED_INDEXES = ("jobrow_finished_at", "jobrow_state_created_at_id", "jobrow_worker", "jobrow_task")


def _triggers(database: pw.Database, channel: str | None) -> list[str]:
    """Triggers that keep ``lilqueue_stat``: whichever path finishes a job (a worker, a cancel,
    a reaper) or deletes it (pruning, purging), the totals move in its transaction. On
    PostgreSQL the same trigger also notifies ``channel`` with the id of every job that changed,
    and once per statement that inserted jobs (with an empty payload: a worker's doorbell)."""
    took = "(new.finished_at - new.started_at)"
    slots = [f"case when {condition} then 1 else 0 end" for condition in _slot_conditions(took)]
    names = ", ".join(SLOTS)
    sharded = _sharded(database)
    key = "task, state, shard" if sharded else "task, state"
    shard = f", mod(pg_backend_pid(), {STAT_SHARDS})" if sharded else ""  # no "%": the driver's placeholder
    count_finished = (
        f"insert into {STAT} ({key}, count, deleted, timed, duration_sum, {names})"
        f" values (new.task, new.state{shard}, 1, 0, case when new.started_at is null then 0 else 1 end,"
        f" coalesce({took}, 0), {', '.join(slots)})"
        f" on conflict ({key}) do update set count = {STAT}.count + 1,"
        f" timed = {STAT}.timed + excluded.timed, duration_sum = {STAT}.duration_sum + excluded.duration_sum, "
        + ", ".join(f"{slot} = {STAT}.{slot} + excluded.{slot}" for slot in SLOTS))
    count_deleted = (
        f"insert into {STAT} ({key}, count, deleted, timed, duration_sum, {names})"
        f" values (old.task, old.state{shard}, 0, 1, 0, 0, {', '.join('0' for _ in SLOTS)})"
        f" on conflict ({key}) do update set deleted = {STAT}.deleted + 1")
    is_finishing = f"new.state in ({_FINISHED}) and old.state not in ({_FINISHED})"
    if not isinstance(database, pw.PostgresqlDatabase):
        return [f"create trigger if not exists lilqueue_job_finished after update of state on {JOB}"
                f" when {is_finishing} begin {count_finished}; end",
                f"create trigger if not exists lilqueue_job_deleted after delete on {JOB}"
                f" when old.state in ({_FINISHED}) begin {count_deleted}; end"]
    if channel is None:
        raise TypeError("PostgreSQL's triggers need the channel to notify")
    return [
        "create or replace function lilqueue_job_changed() returns trigger language plpgsql as $$ begin"
        f" perform pg_notify('{channel}', coalesce(new.id, old.id));"
        f" if tg_op = 'DELETE' then if old.state in ({_FINISHED}) then {count_deleted}; end if;"
        f" elsif {is_finishing} then {count_finished}; end if;"
        " return null; end $$",
        f"create or replace trigger lilqueue_job_changed after update or delete on {JOB}"
        " for each row execute function lilqueue_job_changed()",
        "create or replace function lilqueue_job_inserted() returns trigger language plpgsql as $$ begin"
        f" perform pg_notify('{channel}', ''); return null; end $$",
        f"create or replace trigger lilqueue_job_inserted after insert on {JOB}"
        " for each statement execute function lilqueue_job_inserted()",
    ]


def _slot_conditions(took: str) -> list[str]:
    """SQL conditions, one per slot: the duration ``took`` falls in it (NULL without a start)."""
    bounds = DURATION_BUCKETS
    return ([f"{took} <= {bounds[0]}"]
            + [f"{took} > {low} and {took} <= {high}" for low, high in zip(bounds, bounds[1:], strict=False)]
            + [f"{took} > {bounds[-1]}"])


def _backfill() -> str:
    """Totals of the finished jobs a database already holds when its stat table is created."""
    took = "(finished_at - started_at)"
    slots = [f"sum(case when {condition} then 1 else 0 end)" for condition in _slot_conditions(took)]
    return (f"insert into {STAT} (task, state, count, deleted, timed, duration_sum, {', '.join(SLOTS)})"
            f" select task, state, count(*), 0, count(started_at), coalesce(sum({took}), 0), {', '.join(slots)}"
            f" from {JOB} where state in ({_FINISHED}) group by task, state")


def bound(database: pw.Database) -> dict[type[pw.Model], type[pw.Model]]:
    """Each model, bound to ``database`` (a subclass per database: queues never share one).
    The caller keeps them: nothing here holds on to a database."""
    models = {}
    for model in MODELS:
        options = {"database": database, "table_name": model._meta.table_name,
                   "without_rowid": model._meta.without_rowid and isinstance(database, pw.SqliteDatabase)}
        body: dict[str, Any] = {"__module__": __name__}
        if isinstance(model._meta.primary_key, pw.CompositeKey):
            options["primary_key"] = pw.CompositeKey(*model._meta.primary_key.field_names)
        if model is StatRow and _sharded(database):
            body["shard"] = pw.IntegerField(default=0, constraints=[pw.SQL("DEFAULT 0")])
            options["primary_key"] = pw.CompositeKey("task", "state", "shard")
        body["Meta"] = type("Meta", (), options)
        models[model] = type(model.__name__, (model,), body)
    return models


def _sharded(database: pw.Database) -> bool:
    """PostgreSQL's writers run side by side: the totals of one task and state are spread over
    STAT_SHARDS rows (by server process), or every finishing transaction would wait for the one
    before it to commit, on that row's lock. SQLite's writers take turns anyway: one row."""
    return isinstance(database, pw.PostgresqlDatabase)


def create(database: pw.Database, channel: str | None = None) -> None:
    """Create the tables, indexes and triggers in ``database`` if they are missing, and add what
    a newer lilqueue added to tables an older one created. Once all is there this is a read:
    opening a queue (a web process, an isolated job's child) takes no write lock. ``channel``:
    PostgreSQL's notification channel for changed jobs (see ``_triggers``)."""
    tables = set(database.get_tables())
    if ({model._meta.table_name for model in MODELS} <= tables and _columns_missing(database) == []
            and set(INDEXES) <= {index.name for index in database.get_indexes(JOB)}):
        return
    models = bound(database)
    job = models[JobRow]
    # Partial indexes, one per part of a job's life, so that a state change moves as few index
    # entries as it can (each is a page of every commit, docs/performance.md): a start enters
    # the queued one, a claim moves the job to the running one, a finish to the finished ones.
    # A query must name the state as these conditions do (literals, not parameters) for SQLite
    # to use them; their sizes in ANALYZE's statistics are their own, so the planner knows that
    # the queued and running ones are small, which it cannot tell of a state's range in an
    # index of all jobs (there it assumes every state holds a fifth of the table).
    job.add_index(job.created_at, job.id, where=pw.SQL(IS_QUEUED), name=INDEXES[0])   # the queued, oldest first
    job.add_index(job.task, job.worker, where=pw.SQL(IS_RUNNING), name=INDEXES[1])   # limits, reaping, cancels
    # The operators' lists of finished jobs: newest first per state (keyset pagination).
    job.add_index(job.state, job.created_at, job.id, where=pw.SQL(IS_FINISHED), name=INDEXES[2])
    job.add_index(job.task, job.priority, job.created_at, where=job.parked == 1)  # jobs waiting for a slot
    # Pruning, the last hour's throughput, the last day's failures: by state, then finish time.
    job.add_index(job.state, job.finished_at, where=job.finished_at.is_null(False))
    job.add_index(job.key, unique=True, where=job.key.is_null(False) & job.state.in_(UNFINISHED))
    job.add_index(job.parent, job.step, where=job.parent.is_null(False))  # a parent's children, in order
    with database.atomic():
        if JOB in tables:
            for column in _columns_missing(database):
                database.execute_sql(f"alter table {JOB} add column {column} {ADDED_COLUMNS[column]}")
        database.create_tables(models.values(), safe=True)
        for name in REPLACED_INDEXES:
            database.execute_sql(f"drop index if exists {name}")
        if STAT not in tables:
            database.execute_sql(_backfill())
        for trigger in _triggers(database, channel):
            database.execute_sql(trigger)


# Columns a newer lilqueue added to the job table, and their definitions (valid on both engines).
ADDED_COLUMNS = {"retry_of": f"varchar({ID_LENGTH})", "run_at": "double precision",
                 "priority": "integer not null default 0", "parked": "integer not null default 0",
                 "parent": f"varchar({ID_LENGTH})", "step": "integer", "kind": "varchar(16)", "children": "integer",
                 "children_done": "integer", "children_failed": "integer", "plan": "text"}


def in_state(state: str) -> pw.Node:
    """The condition "the job is in ``state``" for peewee's queries, in the words of the partial
    index that holds the state (a literal: with a parameter SQLite would not use the index)."""
    if state not in STATES:
        return pw.SQL("0 = 1")  # no job is in a state that does not exist
    if state in FINISHED:
        return pw.SQL(f"{IS_FINISHED} and state = '{state}'")
    return pw.SQL(IS_QUEUED if state == QUEUED else IS_RUNNING)


def _columns_missing(database: pw.Database) -> list[str]:
    """Columns of the job table that its model has and an older lilqueue did not create."""
    have = {column.name for column in database.get_columns(JOB)}
    return [name for name in ADDED_COLUMNS if have and name not in have]


def job_from_row(row: dict[str, Any], logs: list[tuple[float, str, str]], children: tuple[Child, ...] = ()) -> Job:
    """A Job snapshot from a row of the job table (by column name), its log lines and, for a
    pipeline's or a batch's parent, the children listed with it."""
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
        retry_of=row.get("retry_of"),
        run_at=_dt(row.get("run_at")),
        priority=row.get("priority") or 0,
        parent=row.get("parent"),
        step=row.get("step"),
        flow=None if not row.get("kind") else Flow(row["kind"], row["children"], row["children_done"] or 0,
                                                   row["children_failed"] or 0, children),
    )


def _dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def _number(value: float | None) -> float | int | None:
    """Progress is stored as REAL; give integral values back as ints (3, not 3.0)."""
    if value is not None and value.is_integer():
        return int(value)
    return value
