"""Workers' rows and the reaping of dead workers' jobs, in SQL for every engine.

    class SqlStore(Workers, base.Store): ...    # see statemachine.py for the rest of the state machine

A worker registers a row, beats its heartbeat into it and deletes it when it stops. A live worker
reaps the jobs of workers whose heartbeat went stale; every update names the state and worker it
takes the job from, so of two reapers of one dead worker only one takes each job.
"""

from __future__ import annotations

import json
from typing import Any

from ..states import CANCELED, FAILED, QUEUED, RUNNING
from .schema import JOB, WORKER

WORKER_LOST = "WorkerLost"


class Workers:
    # Provided by SqlStore:
    _execute: Any
    _send: Any
    _rules_of: Any
    _release_slots: Any
    log_line: Any
    database: Any
    parents: Any

    def register(self, worker: str, hostname: str, pid: int, threads: int, now: float) -> None:
        with self.database.atomic():
            self._execute(f"insert into {WORKER} (id, hostname, pid, threads, started_at, heartbeat_at)"
                          " values (?, ?, ?, ?, ?, ?) on conflict (id) do update set hostname = excluded.hostname,"
                          " pid = excluded.pid, threads = excluded.threads, started_at = excluded.started_at,"
                          " heartbeat_at = excluded.heartbeat_at", (worker, hostname, pid, threads, now, now))

    def heartbeat(self, worker: str, now: float) -> bool:
        """Returns False if the worker's row is gone: another worker took it for dead."""
        with self.database.atomic():
            return self._execute(f"update {WORKER} set heartbeat_at = ? where id = ?", (now, worker)).rowcount == 1

    def unregister(self, worker: str) -> None:
        with self.database.atomic():
            self._execute(f"delete from {WORKER} where id = ?", (worker,))

    def freshest_heartbeat(self) -> float | None:
        return self._execute(f"select max(heartbeat_at) from {WORKER}").fetchone()[0]

    def reap(self, stale_before: float, now: float) -> list[tuple[str, str]]:
        """Take back the running jobs of workers whose heartbeat is older than ``stale_before``:
        a job whose cancel was requested ends canceled; one whose task has retries left runs
        again; any other fails as lost. Each update is guarded by the job's state and worker:
        of two reapers, one takes each job."""
        with self.database.atomic():
            self._execute(f"delete from {WORKER} where heartbeat_at < ?", (stale_before,))
            # Not pipelines' and batches' own jobs: they run without a worker (see parents.py).
            rows = self._execute(
                f"select id, task, args, kwargs, attempts, worker, cancel_requested, priority, parent, step from {JOB}"
                f" where state = '{RUNNING}' and kind is null"
                f" and (worker is null or worker not in (select id from {WORKER}))"
            ).fetchall()
            reaped = []
            for job_id, task, args, kwargs, attempts, worker, cancel_requested, priority, parent, step in rows:
                held = f" where id = ? and state = '{RUNNING}' and coalesce(worker, '') = ?"
                if cancel_requested:
                    if self._execute(f"update {JOB} set state = ?, finished_at = ?, version = version + 1" + held,
                                     (CANCELED, now, job_id, worker or "")).rowcount:
                        reaped.append((job_id, CANCELED))
                        if parent:
                            self.parents.ended(parent, step, CANCELED, None, None, now)
                elif attempts <= self._rules_of(task).retries:
                    if self._execute(f"update {JOB} set state = ?, worker = null, started_at = null,"
                                     " version = version + 1" + held, (QUEUED, job_id, worker or "")).rowcount:
                        self.log_line(job_id, now, "warning",
                                      f"attempt {attempts} was lost with its worker {worker}; retrying")
                        self._send(job_id, task, json.loads(args), json.loads(kwargs), priority, 0)
                        reaped.append((job_id, QUEUED))
                else:
                    lost = (WORKER_LOST, f"worker lost: the worker running this job ({worker}) stopped without"
                            " finishing it", None)
                    if self._execute(f"update {JOB} set state = ?, error_type = ?, error_message = ?, finished_at = ?,"
                                     " version = version + 1" + held,
                                     (FAILED, lost[0], lost[1], now, job_id, worker or "")).rowcount:
                        reaped.append((job_id, FAILED))
                        if parent:
                            self.parents.ended(parent, step, FAILED, None, lost, now)
            for task in {row[1] for row in rows}:
                limit = self._rules_of(task).concurrency
                if limit is not None:
                    self._release_slots(task, limit)
        return reaped
