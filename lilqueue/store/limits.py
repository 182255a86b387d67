"""Limits of a task, in SQL for every engine: ``max_pending`` (checked by a start) and
``concurrency`` (checked by a claim; a job past it is parked: queued, without a message, until
its task has a free slot).

    class SqlStore(Limits, base.Store): ...    # see statemachine.py for the transactions that call these

Each check counts the task's jobs and acts in the caller's transaction, after ``_lock_task``:
SQLite's writers take turns anyway; PostgreSQL takes a lock per task, so two starts (or claims)
racing for a task's last place count one after the other.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import Busy
from ..states import QUEUED
from .schema import IS_QUEUED, IS_RUNNING, JOB


class Limits:
    # Provided by SqlStore:
    _execute: Any
    _sql: Any
    _send: Any
    _rules_of: Any
    _writing: Any
    database: Any

    def _check_pending(self, cursor: Any, task: str, limit: int, adding: int) -> None:
        """Raise Busy (the start's transaction then writes nothing) if ``adding`` more jobs
        would put more than ``limit`` of ``task`` in the queued and running states."""
        self._lock_task(cursor, task)
        # The queued and the running apart, each in the words of its partial index (schema.py).
        cursor.execute(self._sql(f"select (select count(*) from {JOB} where task = ? and {IS_QUEUED})"
                                 f" + (select count(*) from {JOB} where task = ? and {IS_RUNNING})"), (task, task))
        if cursor.fetchone()[0] + adding > limit:
            raise Busy(task, limit)

    def _lock_task(self, cursor: Any, task: str) -> None:
        """Serialize the transactions that count and change one task's jobs. SQLite's writers
        take turns already (BEGIN IMMEDIATE); an engine with concurrent writers locks here."""

    def _running_of(self, task: str) -> int:
        cursor = self.database.cursor()
        self._lock_task(cursor, task)
        return self._execute(f"select count(*) from {JOB} where task = ? and {IS_RUNNING}",
                             (task,)).fetchone()[0]

    def _release_slots(self, task: str, limit: int | None) -> int:
        """Give parked jobs of ``task`` their messages back, as many as it has free slots (all
        of them without a known limit), best priority and oldest first. In the transaction
        that took a job of the task out of ``running``."""
        free = (limit - self._running_of(task)) if limit is not None else None
        if free is not None and free <= 0:
            return 0
        rows = self._execute(
            f"select id, args, kwargs, priority from {JOB} where task = ? and parked = 1 and state = '{QUEUED}'"
            " order by priority desc, created_at, id" + ("" if free is None else f" limit {int(free)}"),
            (task,)).fetchall()
        released = 0
        for job_id, args, kwargs, priority in rows:
            if self._execute(f"update {JOB} set parked = 0 where id = ? and parked = 1", (job_id,)).rowcount:
                self._send(job_id, task, json.loads(args), json.loads(kwargs), priority, 0)
                released += 1
        return released

    def release_parked(self) -> int:
        """The safety net of concurrency limits, run by each worker's monitor now and then:
        release parked jobs of every task that has a free slot (by this process's rules), so
        that no job waits for ever when the job that held its slot ended in a process that did
        not know the limit."""
        released = 0
        for (task,) in self._execute(f"select distinct task from {JOB} where parked = 1").fetchall():
            with self._writing(), self.database.atomic():
                released += self._release_slots(task, self._rules_of(task).concurrency)
        return released
