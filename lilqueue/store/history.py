"""What operators read and delete: job lists with filters and keyset pages, statistics, and
the deletion of finished jobs (their totals stay in ``lilqueue_stat``, kept by triggers).

Written with peewee's query builder on the models of ``schema.py``, so that every engine runs
the same queries. Each method is one transaction.

    history = History(database, reading, writing, minute)
    history.jobs(states=["failed"], limit=50)             # newest first
    history.jobs(states=["failed"], limit=50, before=last.id)   # the next page
    history.stats(time.time())
    history.delete(lambda job: job.finished_at < cutoff)   # in batches
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import peewee as pw

from ..errors import JobNotFound
from ..formats import iso
from ..job import Job
from ..states import CANCELED, FAILED, FINISHED, QUEUED, RUNNING, STATES, SUCCEEDED
from . import schema
from .schema import DURATION_BUCKETS, SLOTS, JobRow, LogRow, StatRow, WorkerRow

Scope = Callable[[], contextlib.AbstractContextManager]  # a read transaction; error translation
Condition = Callable[[type[pw.Model]], pw.Expression]  # the job model (bound) -> a WHERE condition
Minute = Callable[[pw.Expression], pw.Expression]      # seconds (>= 0) -> whole minutes, rounded down


class History:
    def __init__(self, database: pw.Database, reading: Scope, writing: Scope, minute: Minute) -> None:
        self.database = database
        self._reading = reading
        self._writing = writing
        self._minute = minute  # SQLite's CAST truncates; PostgreSQL's rounds, so it floors
        self._models = schema.bound(database)

    def jobs(self, *, states: Sequence[str] | None = None, task: str | None = None, owner: str | None = None,
             key: str | None = None, created_after: float | None = None, created_before: float | None = None,
             before: str | None = None, limit: int = 100) -> list[Job]:
        """Jobs newest first (by creation, then id); ``before`` is the id of the last job of the
        previous page. One index range per state (the queued, the finished by state; the
        running, few, sorted), each stopping after ``limit`` rows, merged here: a page costs
        the same on a big table."""
        job, log = self._models[JobRow], self._models[LogRow]
        with self._reading():
            anchor = None
            if before is not None:
                anchor = job.select(job.created_at).where(job.id == before).scalar()
                if anchor is None:
                    raise JobNotFound(before)
            rows: list[dict] = []
            for state in states or STATES:
                query = job.select().where(schema.in_state(state)).order_by(job.created_at.desc(), job.id.desc())
                for field, value in ((job.task, task), (job.owner, owner), (job.key, key)):
                    if value is not None:
                        query = query.where(field == value)
                if created_after is not None:
                    query = query.where(job.created_at >= created_after)
                if created_before is not None:
                    query = query.where(job.created_at < created_before)
                if anchor is not None:
                    query = query.where(pw.Tuple(job.created_at, job.id) < pw.Tuple(anchor, before))
                rows.extend(query.limit(limit).dicts())
            rows.sort(key=lambda row: (row["created_at"], row["id"]), reverse=True)
            rows = rows[:limit]
            lines: dict[str, list] = {row["id"]: [] for row in rows}
            if rows:
                for line in (log.select(log.job_id, log.ts, log.level, log.message)
                             .where(log.job_id.in_(list(lines))).order_by(log.id).tuples()):
                    lines[line[0]].append(line[1:])
        return [schema.job_from_row(row, lines[row["id"]]) for row in rows]

    def stats(self, now: float) -> dict[str, Any]:
        """See ``Queue.stats``. Reads index ranges and the small stat table: no scan of the
        finished jobs, however many there are."""
        job, stat = self._models[JobRow], self._models[StatRow]
        first_minute = (now // 60 - 59) * 60
        with self._reading():
            unfinished = [(task, state, n) for state in (QUEUED, RUNNING)
                          for task, n in job.select(job.task, pw.fn.COUNT(job.id))
                          .where(schema.in_state(state)).group_by(job.task).tuples()]
            oldest = job.select(pw.fn.MIN(job.created_at)).where(schema.in_state(QUEUED)).scalar()
            totals = list(stat.select().dicts())
            minutes = list(job.select(self._minute(job.finished_at - first_minute), job.state,
                                      pw.fn.COUNT(job.id))
                           .where(job.state.in_(list(FINISHED)), job.finished_at >= first_minute)
                           .group_by(pw.SQL("1"), job.state).tuples())
            failures = job.select(pw.fn.COUNT(job.id)).where(job.finished_at >= now - 86400,
                                                            job.state == FAILED).scalar()
            workers = self._workers(now)
        counts: dict[str, dict[str, int]] = {}
        for task, state, n in unfinished:
            counts.setdefault(task, {})[state] = n
        finished: dict[str, dict[str, int]] = {}
        durations: dict[str, dict[str, Any]] = {}
        kept: dict[tuple[str, str], int] = {}
        for row in totals:  # several rows per task and state on PostgreSQL (schema.STAT_SHARDS)
            task, state = row["task"], row["state"]
            ended = finished.setdefault(task, {})
            ended[state] = ended.get(state, 0) + row["count"]
            kept[task, state] = kept.get((task, state), 0) + row["count"] - row["deleted"]
            entry = durations.setdefault(task, {"count": 0, "sum": 0.0, "slots": [0] * len(SLOTS)})
            entry["count"] += row["timed"]
            entry["sum"] += row["duration_sum"]
            entry["slots"] = [a + row[slot] for a, slot in zip(entry["slots"], SLOTS, strict=True)]
        for (task, state), n in kept.items():
            if n > 0:
                counts.setdefault(task, {})[state] = n
        states = dict.fromkeys(STATES, 0)
        for by_state in counts.values():
            for state, n in by_state.items():
                states[state] += n
        strip = [{"minute": iso(first_minute + 60 * i), SUCCEEDED: 0, FAILED: 0, CANCELED: 0} for i in range(60)]
        for slot, state, n in minutes:
            if 0 <= slot < 60:
                strip[int(slot)][state] += n
        return {
            "counts": counts, "states": states,
            "oldest_queued_age": None if oldest is None else max(now - oldest, 0.0),
            "workers": workers, "throughput": strip, "failures_24h": failures or 0,
            "finished_totals": finished, "durations": {task: _histogram(d) for task, d in durations.items()},
        }

    def workers(self, now: float) -> list[dict[str, Any]]:
        """The registered workers, each with its heartbeat's age and the jobs it runs."""
        with self._reading():
            return self._workers(now)

    def _workers(self, now: float) -> list[dict[str, Any]]:
        job, worker = self._models[JobRow], self._models[WorkerRow]
        on: dict[str, list] = {}
        for job_id, task, started, worker_id in (job.select(job.id, job.task, job.started_at, job.worker)
                                                 .where(schema.in_state(RUNNING)).order_by(job.started_at)
                                                 .tuples()):
            on.setdefault(worker_id, []).append({"id": job_id, "task": task, "started_at": iso(started)})
        return [{"id": w["id"], "hostname": w["hostname"], "pid": w["pid"], "threads": w["threads"],
                 "started_at": iso(w["started_at"]), "heartbeat_age": max(now - w["heartbeat_at"], 0.0),
                 "running": on.get(w["id"], [])} for w in worker.select().order_by(worker.started_at).dicts()]

    def delete(self, condition: Condition, batch: int = 500) -> int:
        """Delete finished jobs that match ``condition`` (and their log lines), in short
        batches. A trigger counts them as deleted in the totals, in the same transaction."""
        job, log = self._models[JobRow], self._models[LogRow]
        deleted = 0
        while True:
            with self._writing(), self.database.atomic():
                ids = [row[0] for row in job.select(job.id)
                       .where(job.finished_at.is_null(False), job.state.in_(list(FINISHED)), condition(job))
                       .limit(batch).tuples()]
                if not ids:
                    return deleted
                log.delete().where(log.job_id.in_(ids)).execute()
                job.delete().where(job.id.in_(ids)).execute()
            deleted += len(ids)


def _histogram(entry: dict) -> dict[str, Any]:
    """Per-slot counts -> Prometheus-style cumulative buckets, ending with +Inf."""
    buckets, below = [], 0
    for bound, slot in zip(DURATION_BUCKETS, entry["slots"], strict=False):
        below += slot
        buckets.append([bound, below])
    return {"buckets": [*buckets, ["+Inf", entry["count"]]], "sum": entry["sum"], "count": entry["count"]}
