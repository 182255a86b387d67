"""What operators do with a queue's jobs: list them, retry, delete and purge finished ones, and
read the statistics and the workers. ``Queue`` has these methods from here.

    queue.jobs(state="failed", limit=50)
    queue.retry(job.id)
    queue.purge(older_than=timedelta(days=7))
    queue.stats()
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .errors import WrongState
from .job import Job
from .states import CANCELED, FAILED, FINISHED, STATES

if TYPE_CHECKING:
    from .store import NewJob, Store

MAX_PAGE = 1000  # jobs in one queue.jobs() page


class Operators:
    """The operators' methods of ``Queue`` (its job history, on its store)."""

    store: Store
    heartbeat_timeout: float
    get: Callable[[str], Job]
    _new_job: Callable[..., NewJob]

    def jobs(self, state: str | Iterable[str] | None = None, task: str | None = None, limit: int = 100, *,
             owner: str | None = None, key: str | None = None, created_after: datetime | float | None = None,
             created_before: datetime | float | None = None, before: str | None = None) -> list[Job]:
        """Jobs newest first, filtered; ``before`` (the id of the last job of a page) gives the
        next page. A page costs the same on a table of a million jobs (keyset, indexes)."""
        states = [state] if isinstance(state, str) else None if state is None else list(state)
        for name in states or ():
            if name not in STATES:
                raise ValueError(f"state must be one of {', '.join(STATES)}, not {name!r}")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
            raise ValueError(f"limit must be a whole number from 1 to {MAX_PAGE}, not {limit!r}")
        for name, value in (("task", task), ("owner", owner), ("key", key), ("before", before)):
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{name} must be a string, not {value!r}")
        return self.store.history.jobs(
            states=states, task=task, owner=owner, key=key, created_after=_epoch("created_after", created_after),
            created_before=_epoch("created_before", created_before), before=before, limit=limit)

    def retry(self, job_id: str) -> Job:
        """Start a failed or canceled job again, as a new job (``retry_of`` names the old one,
        which never changes). Raises JobNotFound, or WrongState for any other state."""
        old = self.get(job_id)
        if old.state not in (FAILED, CANCELED):
            raise WrongState(job_id, old.state, "only failed or canceled jobs can be retried")
        if old.flow is not None:
            raise WrongState(job_id, old.state, f"a {old.flow.kind} is retried by starting it again")
        new = self._new_job(old.task, old.args, old.kwargs, old.key, old.owner, time.time(), retry_of=old.id,
                            priority=old.priority)
        holder = self.store.insert(new)
        if holder is not None:
            raise WrongState(job_id, old.state, f"its key {old.key!r} is held by the unfinished job {holder.id}")
        return new.job

    def delete(self, job_id: str) -> None:
        """Delete one finished job and its log (its counts stay in the totals)."""
        job = self.get(job_id)
        if not job.finished:
            raise WrongState(job_id, job.state, "only finished jobs can be deleted")
        self.store.history.delete(lambda row: row.id == job_id)

    def purge(self, states: Iterable[str] = FINISHED, older_than: float | timedelta | None = None,
              task: str | None = None) -> int:
        """Delete finished jobs in ``states`` that finished more than ``older_than`` ago (all
        of them with None); returns how many. Their counts stay in ``stats()``'s totals."""
        states = [states] if isinstance(states, str) else list(states)
        wrong = [state for state in states if state not in FINISHED]
        if wrong or not states:
            raise ValueError(f"only finished jobs can be purged ({', '.join(sorted(FINISHED))}), not {wrong or states}")
        if isinstance(older_than, timedelta):
            older_than = older_than.total_seconds()
        if older_than is not None and (isinstance(older_than, bool) or not isinstance(older_than, (int, float))
                                       or older_than < 0):
            raise ValueError(f"older_than must be seconds >= 0 or a timedelta, not {older_than!r}")
        cutoff = None if older_than is None else time.time() - older_than

        def condition(row: Any) -> Any:
            found = row.state.in_(states)
            if cutoff is not None:
                found &= row.finished_at < cutoff
            return found & (row.task == task) if task is not None else found

        return self.store.history.delete(condition)

    def stats(self) -> dict[str, Any]:
        """What operators watch, from the job table (the same in every process): ``counts``
        per task and state, ``states`` totals, ``oldest_queued_age`` (s), ``workers`` (with
        ``heartbeat_age``, ``live`` and what they run), ``throughput`` (60 minutes, oldest first),
        ``failures_24h``, and ``finished_totals`` and ``durations`` (per task, histogram
        buckets) that never go down when old jobs are pruned or purged."""
        stats = self.store.history.stats(time.time())
        self._mark_live(stats["workers"])
        return stats

    def workers(self) -> list[dict[str, Any]]:
        """The registered workers: id, hostname, pid, threads, started_at, heartbeat_age,
        running, and ``live`` (False once silent for heartbeat_timeout: presumed dead)."""
        return self._mark_live(self.store.history.workers(time.time()))

    def _mark_live(self, workers: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for worker in workers:
            worker["live"] = worker["heartbeat_age"] <= self.heartbeat_timeout
        return workers


def _epoch(name: str, value: datetime | float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{name} must be an aware datetime (with a timezone), not {value!r}")
        return value.timestamp()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise ValueError(f"{name} must be an aware datetime or epoch seconds, not {value!r}")
    return float(value)
