"""Periodic tasks' slots, in SQL for every engine: each matching minute of a periodic task
starts one job, however many workers reach it at once.

    class SqlStore(Periodic, ...): ...
    store.start_slot(new_job, slot=1796140800.0)   # True: this call started the slot's job

The slot row and the job (with its message) are written in one transaction, after
``_lock_task``; a slot at or before the task's latest one is never taken again, so a worker
whose clock lags cannot start a slot another worker already had.
"""

from __future__ import annotations

from typing import Any

from .base import NewJob
from .schema import IS_QUEUED, IS_RUNNING, JOB, SLOT


class Periodic:
    # Provided by SqlStore:
    _starting: Any
    _lock_task: Any
    _insert_rows: Any
    _sql: Any

    def start_slot(self, new: NewJob, slot: float) -> bool:
        """Start ``new`` for ``slot`` unless the slot is taken. Not at all for the first slot a
        task is seen at (a new periodic task waits for its next matching minute, instead of
        catching up one from before it existed), nor while a job of the task is unfinished
        (a run still going is not doubled): the slot is then taken without a job."""
        task = new.job.task
        with self._starting() as cursor:
            self._lock_task(cursor, task)
            cursor.execute(self._sql(f"select max(slot) from {SLOT} where task = ?"), (task,))
            latest = cursor.fetchone()[0]
            if latest is not None and slot <= latest:
                return False
            cursor.execute(self._sql(f"select exists (select 1 from {JOB} where task = ? and {IS_QUEUED})"
                                     f" or exists (select 1 from {JOB} where task = ? and {IS_RUNNING})"),
                           (task, task))
            unfinished = cursor.fetchone()[0]
            run = latest is not None and not unfinished
            cursor.execute(self._sql(f"insert into {SLOT} (task, slot, job_id) values (?, ?, ?)"),
                           (task, slot, new.job.id if run else None))
            cursor.execute(self._sql(f"delete from {SLOT} where task = ? and slot < ?"), (task, slot))
            if run:
                self._insert_rows(cursor, [new])
        return run
