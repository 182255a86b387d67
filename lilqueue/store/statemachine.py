"""The job state machine in SQL, written once for every engine (``sqlite.py``, ``postgres.py``).

    class SqliteStore(SqlStore): ...   # how to begin a start, dequeue, translate errors

Statements use ``?`` placeholders; an engine whose driver wants another style converts them in
``_execute`` (``statements.in_style``). Each transition is one short transaction on the calling thread's connection.

SQLite has one writer at a time; PostgreSQL runs writers side by side. So no transition reads a
state and then writes on the strength of it: every UPDATE names the state it leaves (``... WHERE
state = 'running' AND worker = ?``) and acts on its row count. A worker that lost a job (reaped,
handed back) can no longer change it, a cancel racing a claim flags the running job instead of
ending it, and of two workers reaping one dead worker only one requeues each job. Two starts with
one ``key`` meet at the partial unique index: the loser reads the winner's job. A task's limits
(``limits.py``), periodic tasks' slots (``periodic.py``) and the workers' rows with the reaping of
dead workers' jobs (``workers.py``) are mixed in from their own files.
"""

from __future__ import annotations

import contextlib
import functools
import json
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from huey.utils import utcnow

from ..errors import JobChanged, JobFinished, JobNotFound
from ..job import Job
from ..states import CANCELED, FINISHED, QUEUED, RUNNING, STOP_CANCELED, STOP_LOST
from . import base, schema
from .base import Claim, Final, MessageFactory, NewJob, NewParent, Outcome, Rules, RulesOf
from .limits import Limits
from .parents import Parents
from .periodic import Periodic
from .schema import IS_QUEUED, IS_RUNNING, JOB, LOG
from .workers import Workers

KEY_RACES = 3  # tries of a start whose key another start took between our check and our insert


class SqlStore(Limits, Periodic, Workers, base.Store):
    max_logs: int
    conflict: tuple[type[BaseException], ...]  # what the driver raises for a unique violation
    def _setup(self, max_logs: int, make_message: MessageFactory | None, rules_of: RulesOf | None) -> None:
        self.max_logs = max_logs
        self._make_message = make_message
        self._rules_of = rules_of or (lambda task: Rules())
        self.parents = Parents(self)

    def _starting(self) -> contextlib.AbstractContextManager:
        """The write transaction of a start; yields a driver cursor."""
        raise NotImplementedError

    def _reading(self) -> contextlib.AbstractContextManager:
        """A read transaction (one snapshot for a job row and its lines)."""
        raise NotImplementedError

    def _writing(self) -> contextlib.AbstractContextManager:
        """Turns the driver's "disk full", "read-only" and lost connections into StorageError."""
        raise NotImplementedError

    def _execute(self, sql: str, params: Sequence = ()) -> Any:
        raise NotImplementedError

    def _executemany(self, cursor: Any, sql: str, rows: list) -> None:
        raise NotImplementedError

    def insert(self, new: NewJob) -> Job | None:
        """Write the row and its message in one transaction; returns the unfinished job that
        already holds ``new.key`` instead, if there is one."""
        return self._keyed(new.job.key, functools.partial(self._insert_in, new=new))

    def insert_flow(self, parent: NewParent, children: Sequence[NewJob]) -> Job | None:
        return self._keyed(parent.job.key, functools.partial(self.parents.insert, parent=parent, children=children))

    def _keyed(self, key: str | None, insert: Callable[[Any], str | None]) -> Job | None:
        for tries_left in reversed(range(KEY_RACES)):
            try:
                holder = self._start(insert)
            except self.conflict:
                if key is None or not tries_left:
                    raise
                continue  # another start inserted the key after our check: read its job
            return None if holder is None else self.get(holder)
        raise AssertionError("unreachable: the last try returns or raises")

    def _start(self, work: Callable[[Any], Any]) -> Any:
        """``work(cursor)`` in the transaction of a start; its result once committed."""
        with self._starting() as cursor:
            return work(cursor)

    def _insert_in(self, cursor: Any, new: NewJob) -> str | None:
        if new.job.key is not None:
            # States as literals: only then can SQLite use the partial index on key.
            cursor.execute(self._sql(f"select id from {JOB} where key = ? and state in"
                                     f" ('{QUEUED}', '{RUNNING}')"), (new.job.key,))
            existing = cursor.fetchone()
            if existing:
                return existing[0]
        if new.max_pending is not None:
            self._check_pending(cursor, new.job.task, new.max_pending, 1)
        self._insert_rows(cursor, [new])
        return None

    def insert_many(self, new: Sequence[NewJob]) -> None:
        """Write many rows and messages in one transaction (no keys; one task)."""
        with self._starting() as cursor:
            if new and new[0].max_pending is not None:
                self._check_pending(cursor, new[0].job.task, new[0].max_pending, len(new))
            self._insert_rows(cursor, new)

    def _insert_rows(self, cursor: Any, new: Sequence[NewJob]) -> None:
        """The job rows, and their messages in Huey's table (Huey's format and serializer)."""
        self._executemany(
            cursor,
            f"insert into {JOB} (id, task, state, args, kwargs, key, owner, version, attempts, cancel_requested,"
            " logs_dropped, created_at, retry_of, run_at, priority, parked, parent, step)"
            " values (?, ?, ?, ?, ?, ?, ?, 1, 0, 0, 0, ?, ?, ?, ?, 0, ?, ?)",
            [(n.job.id, n.job.task, QUEUED, n.args, n.kwargs, n.job.key, n.job.owner, n.job.created_at.timestamp(),
              n.job.retry_of, n.job.run_at and n.job.run_at.timestamp(), n.job.priority, n.job.parent, n.job.step)
             for n in new])
        now = [(n.message, n.job.priority) for n in new if n.job.run_at is None]
        later = [(n.message, n.job.run_at) for n in new if n.job.run_at is not None]
        if now:
            self.huey.storage.enqueue_many(cursor, now)
        if later:  # Huey's schedule: the worker's monitor moves each to the queue once it is due
            self.huey.storage.schedule_many(cursor, later)

    def _sql(self, sql: str) -> str:
        """A statement in the driver's placeholder style (``?`` here)."""
        return sql

    def get(self, job_id: str) -> Job:
        with self._reading():
            # Columns by name: PostgreSQL's prepared "select *" fails once a newer lilqueue adds one.
            cursor = self._execute(f"select {schema.JOB_COLUMNS} from {JOB} where id = ?", (job_id,))
            row = cursor.fetchone()
            if row is None:
                raise JobNotFound(job_id)
            names = [d[0] for d in cursor.description]
            logs = self._execute(f"select ts, level, message from {LOG} where job_id = ? order by id",
                                 (job_id,)).fetchall()
            found = dict(zip(names, row, strict=True))
            children = self.parents.listed(found) if found["kind"] else ()
        return schema.job_from_row(found, logs, children)

    def version(self, job_id: str) -> int | None:
        row = self._execute(f"select version from {JOB} where id = ?", (job_id,)).fetchone()
        return None if row is None else row[0]

    def versions(self, job_ids: Sequence[str]) -> dict[str, int]:
        """The current version of each of ``job_ids`` that exists, in one query."""
        found: dict[str, int] = {}
        for i in range(0, len(job_ids), 500):
            chunk = list(job_ids[i:i + 500])
            marks = ",".join("?" * len(chunk))
            found.update(self._execute(f"select id, version from {JOB} where id in ({marks})",
                                       chunk).fetchall())
        return found

    def counts(self) -> dict[str, int]:
        queued, running = self._execute(f"select (select count(*) from {JOB} where {IS_QUEUED}),"
                                        f" (select count(*) from {JOB} where {IS_RUNNING})").fetchone()
        return {QUEUED: queued, RUNNING: running}

    def cancel(self, job_id: str, now: float, version: int | None = None) -> Job:
        with self._writing():
            while not self._cancel_once(job_id, now, version):
                pass  # requeued (a retry) between our two updates: cancel it as queued
        return self.get(job_id)

    def _cancel_once(self, job_id: str, now: float, version: int | None) -> bool:
        # A conditional cancel (If-Match) names the version in each guarded UPDATE: no read-then-write.
        at = "" if version is None else " and version = ?"
        expected = () if version is None else (version,)
        with self.database.atomic():
            if self.parents.cancel(job_id, now, version):  # a pipeline or a batch: its children, then itself
                return True
            # Its message stays in Huey's table; the claim finds the row canceled and skips it.
            row = self._execute(f"update {JOB} set state = ?, cancel_requested = 1, finished_at = ?,"
                                f" version = version + 1 where id = ? and state = ?{at} returning parent, step",
                                (CANCELED, now, job_id, QUEUED, *expected)).fetchone()
            if row is not None:
                if row[0]:
                    self.parents.ended(row[0], row[1], CANCELED, None, None, now)
                return True
            if self._execute(f"update {JOB} set cancel_requested = 1, version = version + 1"
                             f" where id = ? and state = ? and cancel_requested = 0{at}",
                             (job_id, RUNNING, *expected)).rowcount:
                return True
            row = self._execute(f"select state, version from {JOB} where id = ?", (job_id,)).fetchone()
        if row is None:
            raise JobNotFound(job_id)
        if row[0] in FINISHED:
            raise JobFinished(job_id, row[0])
        if version is not None and row[1] != version:
            raise JobChanged(job_id, version, row[1])
        return row[0] == RUNNING  # its cancel was requested already

    def cancel_requests(self, worker: str) -> list[str]:
        return [r[0] for r in self._execute(
            f"select id from {JOB} where worker = ? and state = '{RUNNING}' and cancel_requested = 1",
            (worker,)).fetchall()]

    def claim(self, worker: str, now: float) -> Claim | None | bool:
        """Take the next message and mark its job running, in one transaction. Returns None when
        the queue is empty and False for a message whose job is gone (canceled while queued)."""
        if not self.huey.storage.has_messages():
            return None
        with self.database.atomic():
            return self._claim_locked(worker, now)

    def has_due(self) -> bool:
        return self.huey.storage.has_due()

    def _claim_locked(self, worker: str, now: float) -> Claim | None | bool:
        data = self.huey.storage.dequeue()
        if data is None:
            return None
        job_id = self.huey.serializer.deserialize(data).id
        # The time the job starts is now, after the dequeue: a job started after the caller
        # took ``now`` (while this claim waited for the write lock) must not start before it was created.
        now = max(now, time.time())
        row = self._execute(
            f"update {JOB} set state = ?, worker = ?, started_at = ?, attempts = attempts + 1,"
            " version = version + 1 where id = ? and state = ? and cancel_requested = 0"
            " returning task, args, kwargs, attempts, parent, step", (RUNNING, worker, now, job_id, QUEUED)).fetchone()
        if row is None:
            # Canceled while it waited for a retry or after its worker died: it ends here, unrun.
            ended = self._execute(f"update {JOB} set state = ?, finished_at = ?, version = version + 1"
                                  " where id = ? and state = ? returning parent, step",
                                  (CANCELED, now, job_id, QUEUED)).fetchone()
            if ended is not None and ended[0]:
                self.parents.ended(ended[0], ended[1], CANCELED, None, None, now)
            return False
        limit = self._rules_of(row[0]).concurrency
        if limit is not None and self._running_of(row[0]) > limit:
            # No free slot: undone in this same transaction (nobody saw it running), the job
            # waits queued without a message until one of its task's jobs leaves ``running``
            # (``_release_slots``). No worker spins on it meanwhile.
            self._execute(f"update {JOB} set state = ?, worker = null, started_at = null, attempts = attempts - 1,"
                          " version = version - 1, parked = 1 where id = ?", (QUEUED, job_id))
            return False
        if row[4] and not self.parents.claimed(job_id, row[4], row[5], now):
            return False
        return Claim(job_id, row[0], json.loads(row[1]), json.loads(row[2]), row[3], row[4], row[5])

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
                " where id = ? and worker = ? and state = ? returning cancel_requested, parent, step",
                (current, total, message, job_id, worker, RUNNING)).fetchone()
        else:
            row = self._execute(
                f"update {JOB} set version = version + 1 where id = ? and worker = ? and state = ?"
                " returning cancel_requested, parent, step", (job_id, worker, RUNNING)).fetchone()
        if row is None:
            return STOP_LOST, log_count
        if lines or dropped:
            log_count = self._append_logs(job_id, lines, dropped, log_count)
        if row[1]:
            self.parents.progressed(row[1], row[2], progress, lines)
        return (STOP_CANCELED if row[0] else None), log_count

    def _append_logs(self, job_id: str, lines: list, dropped: int, log_count: int | None) -> int:
        self._executemany(self.database.cursor(), f"insert into {LOG} (job_id, ts, level, message) values (?, ?, ?, ?)",
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
                limit = self._rules_of(claim.task).concurrency
                if outcome.hand_back or outcome.retry_in is not None:
                    self._requeue(claim, worker, outcome, now)
                else:
                    error_type, error_message, error_tb = outcome.error or (None, None, None)
                    ended = self._execute(
                        f"update {JOB} set state = ?, result = ?, error_type = ?, error_message = ?,"
                        " error_traceback = ?, finished_at = ?, version = version + 1"
                        " where id = ? and worker = ? and state = ?",
                        (outcome.state, outcome.result, error_type, error_message, error_tb, now,
                         claim.id, worker, RUNNING)).rowcount
                    if ended and claim.parent:
                        self.parents.ended(claim.parent, claim.step, outcome.state, outcome.result,
                                           outcome.error, now)
                if limit is not None:
                    self._release_slots(claim.task, limit)
                if claim_next:  # the dequeue finds an empty queue in one statement
                    return self._claim_locked(worker, now)
        return None

    def _requeue(self, claim: Claim, worker: str, outcome: Outcome, now: float) -> None:
        attempts = "attempts - 1" if outcome.hand_back else "attempts"
        changed = self._execute(
            f"update {JOB} set state = ?, worker = null, started_at = null, attempts = {attempts},"
            " error_type = null, error_message = null, error_traceback = null, version = version + 1"
            " where id = ? and worker = ? and state = ? returning priority",
            (QUEUED, claim.id, worker, RUNNING)).fetchone()
        if changed is None:
            return
        if outcome.error is not None:
            kind, text, _ = outcome.error
            delay = outcome.retry_in or 0
            self.log_line(claim.id, now, "warning",
                          f"attempt {claim.attempts} failed ({kind}: {text}); retrying in {delay:g} s")
        self._send(claim.id, claim.task, claim.args, claim.kwargs, changed[0], outcome.retry_in or 0)

    def _send(self, job_id: str, task: str, args: list, kwargs: dict, priority: int, delay: float) -> None:
        if self._make_message is None:
            raise TypeError("this store was opened without a message factory: it cannot requeue jobs")
        message = self._make_message(job_id, task, args, kwargs, priority)
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

    def prune(self, finished_before: float, batch: int = 500) -> int:
        """Delete finished jobs (and their lines) older than ``finished_before``, in short batches."""
        return self.history.delete(lambda job: job.finished_at < finished_before, batch)
