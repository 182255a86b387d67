"""The SQLite engine: lilqueue's tables and Huey's in one file, the job state machine in SQL.

    store = SqliteStore("app.db", name="lilqueue", synchronous="full", busy_timeout=10.0, ...)

Each transition is one short transaction on the calling thread's peewee connection. Writes
begin IMMEDIATE (the database's default lock type), so two writers queue on SQLite's busy
timeout instead of failing with "database is locked" when a read lock cannot be upgraded.
Worker writes are guarded by ``worker = ?``: once a job was reaped or handed back, the worker
that lost it can no longer change it. See ``base.py`` for who calls what.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import timedelta

import peewee as pw
from huey import Huey
from huey.utils import utcnow

from ..errors import ConfigurationError, JobFinished, JobNotFound, StorageError
from ..job import Job
from ..states import CANCELED, FAILED, FINISHED, QUEUED, RUNNING, STOP_CANCELED, STOP_LOST
from . import base, schema
from .base import Claim, Final, MessageFactory, NewJob, Outcome, RetriesOf
from .commits import DataVersion
from .hueystorage import SharedSqliteStorage
from .schema import JOB, LOG, WORKER
from .sqlitefile import open_database, use_wal

WORKER_LOST = "WorkerLost"


class SqliteStore(base.Store):
    errors = (sqlite3.Error, pw.DatabaseError, StorageError)

    def __init__(self, path: str, *, name: str, synchronous: str, busy_timeout: float, max_logs: int,
                 make_message: MessageFactory | None = None, retries_of: RetriesOf | None = None) -> None:
        self.location = os.path.abspath(path)
        # Everything that shapes this store: another process opens the same with open_store(**spec).
        self.spec = {"location": self.location, "name": name, "synchronous": synchronous,
                     "busy_timeout": busy_timeout, "max_logs": max_logs}
        self.max_logs = max_logs
        self._make_message = make_message
        self._retries_of = retries_of or (lambda task: 0)
        self.database = open_database(self.location, synchronous, busy_timeout)
        try:
            use_wal(self.database, busy_timeout)
            schema.create(self.database)
            self.huey = Huey(name, results=False, utc=True, storage_class=SharedSqliteStorage,
                             database=self.database)
        except (sqlite3.Error, pw.DatabaseError) as exc:
            raise ConfigurationError(f"cannot open the job database {self.location!r}: {exc}") from exc
        finally:
            # No connection outlives setup: a process forked later must not inherit one.
            self.database.close()
            self.database.close_idle()

    # -- starting -------------------------------------------------------------------------

    def insert(self, new: NewJob) -> Job | None:
        """Write the row and its message in one transaction; returns the unfinished job that
        already holds ``new.key`` instead, if there is one."""
        with self._starting() as cursor:
            if new.job.key is not None:
                # States as literals: only then can SQLite use the partial index on key.
                existing = cursor.execute(
                    f"select id from {JOB} where key = ? and state in ('{QUEUED}', '{RUNNING}')",
                    (new.job.key,)).fetchone()
                if existing:
                    cursor.execute("commit")
                    return self.get(existing[0])
            self._insert_rows(cursor, [new])
        return None

    def insert_many(self, new: Sequence[NewJob]) -> None:
        """Write many rows and messages in one transaction (no keys)."""
        with self._starting() as cursor:
            self._insert_rows(cursor, new)

    @contextlib.contextmanager
    def _starting(self) -> Iterator[sqlite3.Cursor]:
        """The transaction of a start, kept lean (starting is the hot path of a web app): plain
        BEGIN IMMEDIATE and COMMIT on this thread's connection instead of peewee's ``atomic()``."""
        with self._writing():
            cursor = self.database.cursor()
            cursor.execute("begin immediate")
            try:
                yield cursor
                if cursor.connection.in_transaction:
                    cursor.execute("commit")
            except BaseException:
                if cursor.connection.in_transaction:
                    cursor.execute("rollback")
                raise

    def _insert_rows(self, cursor: sqlite3.Cursor, new: Sequence[NewJob]) -> None:
        """The job rows, and their messages in Huey's table (Huey's format and serializer)."""
        cursor.executemany(
            f"insert into {JOB} (id, task, state, args, kwargs, key, owner, version, attempts,"
            " cancel_requested, logs_dropped, created_at) values (?, ?, ?, ?, ?, ?, ?, 1, 0, 0, 0, ?)",
            [(n.job.id, n.job.task, QUEUED, n.args, n.kwargs, n.job.key, n.job.owner,
              n.job.created_at.timestamp()) for n in new])
        self.huey.storage.enqueue_many(cursor, [n.message for n in new])

    # -- reading --------------------------------------------------------------------------

    def get(self, job_id: str) -> Job:
        with self.database.atomic("DEFERRED"):
            cursor = self._execute(f"select * from {JOB} where id = ?", (job_id,))
            row = cursor.fetchone()
            if row is None:
                raise JobNotFound(job_id)
            names = [d[0] for d in cursor.description]
            logs = self._execute(f"select ts, level, message from {LOG} where job_id = ? order by id",
                                 (job_id,)).fetchall()
        return schema.job_from_row(dict(zip(names, row, strict=True)), logs)

    def version(self, job_id: str) -> int | None:
        row = self._execute(f"select version from {JOB} where id = ?", (job_id,)).fetchone()
        return None if row is None else row[0]

    def versions(self, job_ids: Sequence[str]) -> dict[str, int]:
        """The current version of each of ``job_ids`` that exists, in one query."""
        found: dict[str, int] = {}
        for i in range(0, len(job_ids), 500):
            chunk = job_ids[i:i + 500]
            marks = ",".join("?" * len(chunk))
            found.update(self._execute(f"select id, version from {JOB} where id in ({marks})",
                                       chunk).fetchall())
        return found

    def counts(self) -> dict[str, int]:
        rows = self._execute(
            f"select state, count(*) from {JOB} where state in ('{QUEUED}', '{RUNNING}') group by state"
        ).fetchall()
        return {QUEUED: 0, RUNNING: 0, **dict(rows)}

    def freshest_heartbeat(self) -> float | None:
        return self._execute(f"select max(heartbeat_at) from {WORKER}").fetchone()[0]

    # -- canceling ------------------------------------------------------------------------

    def cancel(self, job_id: str, now: float) -> Job:
        with self._writing():
            with self.database.atomic():
                row = self._execute(f"select state from {JOB} where id = ?", (job_id,)).fetchone()
                if row is None:
                    raise JobNotFound(job_id)
                state = row[0]
                if state in FINISHED:
                    raise JobFinished(job_id, state)
                if state == QUEUED:
                    # Its message stays in Huey's table; the claim finds the row canceled and skips it.
                    self._execute(f"update {JOB} set state = ?, cancel_requested = 1, finished_at = ?,"
                                  " version = version + 1 where id = ?", (CANCELED, now, job_id))
                else:
                    self._execute(f"update {JOB} set cancel_requested = 1, version = version + 1"
                                  " where id = ? and cancel_requested = 0", (job_id,))
        return self.get(job_id)

    def cancel_requests(self, worker: str) -> list[str]:
        return [r[0] for r in self._execute(
            f"select id from {JOB} where worker = ? and state = '{RUNNING}' and cancel_requested = 1",
            (worker,)).fetchall()]

    # -- running --------------------------------------------------------------------------

    def claim(self, worker: str, now: float) -> Claim | None | bool:
        """Take the next message and mark its job running, in one transaction. Returns None when
        the queue is empty and False for a message whose job is gone (canceled while queued)."""
        if not self._has_messages():
            return None
        with self.database.atomic():
            return self._claim_locked(worker, now)

    def _has_messages(self) -> bool:
        return self.huey.storage.has_messages()

    def has_due(self) -> bool:
        return self.huey.storage.has_due()

    def _claim_locked(self, worker: str, now: float) -> Claim | None | bool:
        data = self.huey.storage.dequeue()
        if data is None:
            return None
        job_id = self.huey.serializer.deserialize(data).id
        row = self._execute(
            f"update {JOB} set state = ?, worker = ?, started_at = ?, attempts = attempts + 1,"
            " version = version + 1 where id = ? and state = ? and cancel_requested = 0"
            " returning task, args, kwargs, attempts", (RUNNING, worker, now, job_id, QUEUED)).fetchone()
        if row is None:
            # Canceled while it waited for a retry or after its worker died: it ends here, unrun.
            self._execute(f"update {JOB} set state = ?, finished_at = ?, version = version + 1"
                          " where id = ? and state = ?", (CANCELED, now, job_id, QUEUED))
            return False
        return Claim(job_id, row[0], json.loads(row[1]), json.loads(row[2]), row[3])

    def record(self, job_id: str, worker: str, progress: tuple | None, lines: list, dropped: int,
               log_count: int | None) -> tuple[str | None, int | None]:
        """Store progress and log lines of a running job. Returns why the task should stop
        (None: go on) and how many lines the job keeps."""
        with self._writing():
            with self.database.atomic():
                return self._record_locked(job_id, worker, progress, lines, dropped, log_count)

    def _record_locked(self, job_id, worker, progress, lines, dropped, log_count):
        if progress is not None:
            current, total, message = progress
            row = self._execute(
                f"update {JOB} set current = ?, total = ?, message = ?, version = version + 1"
                " where id = ? and worker = ? and state = ? returning cancel_requested",
                (current, total, message, job_id, worker, RUNNING)).fetchone()
        else:
            row = self._execute(
                f"update {JOB} set version = version + 1 where id = ? and worker = ? and state = ?"
                " returning cancel_requested", (job_id, worker, RUNNING)).fetchone()
        if row is None:
            return STOP_LOST, log_count
        if lines or dropped:
            log_count = self._append_logs(job_id, lines, dropped, log_count)
        return (STOP_CANCELED if row[0] else None), log_count

    def _append_logs(self, job_id: str, lines: list, dropped: int, log_count: int | None) -> int:
        self.database.cursor().executemany(
            f"insert into {LOG} (job_id, ts, level, message) values (?, ?, ?, ?)",
            [(job_id, ts, level, message) for ts, level, message in lines])
        if log_count is None:
            log_count = self._execute(f"select count(*) from {LOG} where job_id = ?", (job_id,)).fetchone()[0]
        else:
            log_count += len(lines)
        excess = max(0, log_count - self.max_logs)
        if excess:
            self._execute(f"delete from {LOG} where id in (select id from {LOG} where job_id = ?"
                          " order by id limit ?)", (job_id, excess))
            log_count -= excess
        if excess or dropped:
            self._execute(f"update {JOB} set logs_dropped = logs_dropped + ? where id = ?",
                          (excess + dropped, job_id))
        return log_count

    def finish(self, claim: Claim, worker: str, outcome: Outcome, final: Final, now: float,
               claim_next: bool) -> Claim | None | bool:
        """Store how an attempt ended (with the last progress and lines), and, with
        ``claim_next``, take the next job in the same transaction."""
        with self._writing():
            with self.database.atomic():
                if final.progress is not None or final.lines or final.dropped:
                    self._record_locked(claim.id, worker, final.progress, final.lines, final.dropped,
                                        final.log_count)
                if outcome.hand_back or outcome.retry_in is not None:
                    self._requeue(claim, worker, outcome, now)
                else:
                    error_type, error_message, error_tb = outcome.error or (None, None, None)
                    self._execute(
                        f"update {JOB} set state = ?, result = ?, error_type = ?, error_message = ?,"
                        " error_traceback = ?, finished_at = ?, version = version + 1"
                        " where id = ? and worker = ? and state = ?",
                        (outcome.state, outcome.result, error_type, error_message, error_tb, now,
                         claim.id, worker, RUNNING))
                if claim_next and self._has_messages():
                    return self._claim_locked(worker, now)
        return None

    def _requeue(self, claim: Claim, worker: str, outcome: Outcome, now: float) -> None:
        attempts = "attempts - 1" if outcome.hand_back else "attempts"
        changed = self._execute(
            f"update {JOB} set state = ?, worker = null, started_at = null, attempts = {attempts},"
            " error_type = null, error_message = null, error_traceback = null, version = version + 1"
            " where id = ? and worker = ? and state = ?", (QUEUED, claim.id, worker, RUNNING)).rowcount
        if not changed:
            return
        if outcome.error is not None:
            kind, text, _ = outcome.error
            delay = outcome.retry_in or 0
            self.log_line(claim.id, now, "warning",
                              f"attempt {claim.attempts} failed ({kind}: {text}); retrying in {delay:g} s")
        self._send(claim.id, claim.task, claim.args, claim.kwargs, outcome.retry_in or 0)

    def _send(self, job_id: str, task: str, args: list, kwargs: dict, delay: float) -> None:
        if self._make_message is None:
            raise TypeError("this store was opened without a message factory: it cannot requeue jobs")
        message = self._make_message(job_id, task, args, kwargs)
        if delay > 0:
            message.eta = utcnow() + timedelta(seconds=delay)
            self.huey.add_schedule(message)
        else:
            self.huey.enqueue(message)

    def log_line(self, job_id: str, now: float, level: str, message: str) -> None:
        self._execute(f"insert into {LOG} (job_id, ts, level, message) values (?, ?, ?, ?)",
                      (job_id, now, level, message))

    def release_due(self) -> int:
        """Move retries whose delay has passed from Huey's schedule to its queue."""
        with self.database.atomic():
            due = self.huey.read_schedule()
            for message in due:
                self.huey.enqueue(message)
        return len(due)

    # -- workers --------------------------------------------------------------------------

    def register(self, worker: str, hostname: str, pid: int, threads: int, now: float) -> None:
        with self.database.atomic():
            self._execute(f"insert or replace into {WORKER} (id, hostname, pid, threads, started_at,"
                          " heartbeat_at) values (?, ?, ?, ?, ?, ?)", (worker, hostname, pid, threads, now, now))

    def heartbeat(self, worker: str, now: float) -> bool:
        """Returns False if the worker's row is gone: another worker took it for dead."""
        with self.database.atomic():
            return self._execute(f"update {WORKER} set heartbeat_at = ? where id = ?", (now, worker)).rowcount == 1

    def unregister(self, worker: str) -> None:
        with self.database.atomic():
            self._execute(f"delete from {WORKER} where id = ?", (worker,))

    def reap(self, stale_before: float, now: float) -> list[tuple[str, str]]:
        """Take back the running jobs of workers whose heartbeat is older than ``stale_before``:
        a job whose cancel was requested ends canceled; one whose task has retries left runs
        again; any other fails as lost."""
        with self.database.atomic():
            self._execute(f"delete from {WORKER} where heartbeat_at < ?", (stale_before,))
            rows = self._execute(
                f"select id, task, args, kwargs, attempts, worker, cancel_requested from {JOB}"
                f" where state = '{RUNNING}' and (worker is null or worker not in (select id from {WORKER}))"
            ).fetchall()
            reaped = []
            for job_id, task, args, kwargs, attempts, worker, cancel_requested in rows:
                if cancel_requested:
                    self._execute(f"update {JOB} set state = ?, finished_at = ?, version = version + 1"
                                  " where id = ?", (CANCELED, now, job_id))
                    reaped.append((job_id, CANCELED))
                elif attempts <= self._retries_of(task):
                    self._execute(f"update {JOB} set state = ?, worker = null, started_at = null,"
                                  " version = version + 1 where id = ?", (QUEUED, job_id))
                    self.log_line(job_id, now, "warning",
                                      f"attempt {attempts} was lost with its worker {worker}; retrying")
                    self._send(job_id, task, json.loads(args), json.loads(kwargs), 0)
                    reaped.append((job_id, QUEUED))
                else:
                    self._execute(
                        f"update {JOB} set state = ?, error_type = ?, error_message = ?, finished_at = ?,"
                        " version = version + 1 where id = ?",
                        (FAILED, WORKER_LOST, f"worker lost: the worker running this job ({worker})"
                         " stopped without finishing it", now, job_id))
                    reaped.append((job_id, FAILED))
        return reaped

    def prune(self, finished_before: float, batch: int = 500) -> int:
        """Delete finished jobs (and their lines) older than ``finished_before``, in short batches."""
        total = 0
        while True:
            with self.database.atomic():
                ids = [r[0] for r in self._execute(
                    f"select id from {JOB} where finished_at < ? limit ?", (finished_before, batch))]
                if not ids:
                    return total
                marks = ",".join("?" * len(ids))
                self._execute(f"delete from {LOG} where job_id in ({marks})", ids)
                self._execute(f"delete from {JOB} where id in ({marks})", ids)
            total += len(ids)

    # -- plumbing -------------------------------------------------------------------------

    def commits(self) -> DataVersion:
        return DataVersion(self.location)

    def _execute(self, sql: str, params: Sequence = ()) -> sqlite3.Cursor:
        return self.database.cursor().execute(sql, params)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Turns SQLite's "readonly", "full" and "locked" into StorageError for callers."""
        try:
            yield
        except (sqlite3.OperationalError, pw.OperationalError) as exc:
            # On "full" SQLite rolls back by itself; peewee's own ROLLBACK then fails with
            # "cannot rollback - no transaction is active" and hides the cause: report the cause.
            cause: BaseException = exc
            while "cannot rollback" in str(cause) and cause.__context__ is not None:
                cause = cause.__context__
            raise StorageError(str(cause)) from exc
