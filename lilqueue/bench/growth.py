"""Flat costs as the table grows: a start, a get, a claim and a long-poll wake-up, on an empty
job table and again on one that holds ``Plan.growth_rows`` finished jobs.

    figures = sqlite_growth(plan)          # a file of each, in a temporary directory
    figures = postgres_growth(plan, url)   # a schema of each on that server, dropped after

Each figure puts the full table in lilqueue's column and the empty one in the peer's, less time
being better, so its ratio is the speed on the full table over the speed on the empty one: 1.0x
is flat, the target >= 0.8x. The two tables are measured call by call in turns (so that both
meet the same machine load), warm, each cost the median of many single calls made as the library
makes them: ``queue.start``, ``queue.get``, the worker's ``store.claim`` (its job then finished,
untimed) and a running job's progress write (``store.record``) to a request waiting in the web
process's long-poll ``Watcher``. The full table is filled with one INSERT ... SELECT of finished
jobs (``history.fill`` on SQLite), whose totals lilqueue counts when it next opens the table, as
for an older file.
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .. import Queue
from ..job import ID_LENGTH
from ..states import SUCCEEDED
from ..store.base import Claim, Final, Outcome
from ..web.watcher import Watcher
from .contestants import build_queue
from .figures import Figure, Plan
from .history import fill
from .pgserver import Schemas, connect

WORKER = "bench-growth"
SAMPLES = 200   # starts, claims and gets per round and table
WAKE_UPS = 20   # wake-ups per round and table, one per progress interval (0.2 s) as a busy task writes
WARM = 20       # calls of each before the first round, not counted
TARGET = ">= 0.8x"
COSTS = {"start": "queue.start()", "get": "queue.get() of a job", "claim": "a worker's claim of a queued job",
         "wake-up": "progress write to a waiting long-poll request"}


def _ms(began: float) -> float:
    return (time.perf_counter() - began) * 1000


def _claim(queue: Queue) -> Claim:
    claim = queue.store.claim(WORKER, time.time())
    if not claim:
        raise RuntimeError(f"the growth figures' claim found no queued job ({claim!r})")
    return claim


def _finish(queue: Queue, claim: Claim) -> None:
    queue.store.finish(claim, WORKER, Outcome(SUCCEEDED), Final(), time.time(), claim_next=False)


def measure_round(queues: dict[str, Queue], samples: int, wake_ups: int) -> dict[str, dict[str, list[float]]]:
    """Milliseconds of each cost on each queue, call by call in turns (a burst of load on this
    machine meets both): ``samples`` starts, claims (each job then finished, as a worker would)
    and gets of the jobs just run, then ``wake_ups`` wake-ups."""
    costs: dict[str, dict[str, list[float]]] = {label: {cost: [] for cost in COSTS} for label in queues}
    ids: dict[str, list[str]] = {label: [] for label in queues}
    for _ in range(samples):
        for label, queue in queues.items():
            began = time.perf_counter()
            ids[label].append(queue.start("stamp").id)
            costs[label]["start"].append(_ms(began))
    for _ in range(samples):
        for label, queue in queues.items():
            began = time.perf_counter()
            claim = _claim(queue)
            costs[label]["claim"].append(_ms(began))
            _finish(queue, claim)
    for i in range(samples):
        for label, queue in queues.items():
            began = time.perf_counter()
            queue.get(ids[label][i])
            costs[label]["get"].append(_ms(began))
    watched = {label: Watched(queue) for label, queue in queues.items()}
    try:
        for i in range(wake_ups):
            for label, one in watched.items():
                costs[label]["wake-up"].append(one.wake_up(i + 1))
    finally:
        for one in watched.values():
            one.close()
    return costs


class Watched:
    """A running job and the web process's long-poll watcher, for wake-ups: the time from the
    job's progress write to the return of a request waiting on it."""

    def __init__(self, queue: Queue) -> None:
        self.queue = queue
        job = queue.start("report", args=[1, 0.0])
        self.claim = _claim(queue)
        if self.claim.id != job.id:
            raise RuntimeError(f"the growth figures' claim took {self.claim.id}, not the watched job {job.id}")
        self.watcher = Watcher(queue, max_waiters=2)

    def wake_up(self, current: int) -> float:
        """Milliseconds, after a progress interval of quiet (a busy task writes no more often)."""
        seen = self.queue.get(self.claim.id)
        woke: list[tuple[object, float]] = []
        waiter = threading.Thread(target=lambda: woke.append(
            (self.watcher.wait(seen, seen.version, 30.0), time.perf_counter())))
        waiter.start()
        while self.watcher.waiting < 1:
            time.sleep(0.0005)
        time.sleep(self.queue.progress_interval)  # the watcher's first look at the job is not part of it
        began = time.perf_counter()
        self.queue.store.record(self.claim.id, WORKER, (current, None, None), [], 0, None)
        waiter.join(30.0)
        if not woke or woke[0][0] is None:
            raise RuntimeError("a progress write did not wake the long-poll request waiting on it")
        return (woke[0][1] - began) * 1000

    def close(self) -> None:
        self.watcher.close()
        _finish(self.queue, self.claim)


def compare(empty: Queue, full: Queue, plan: Plan) -> list[Figure]:
    """The figures of ``empty`` beside ``full`` (holding ``plan.growth_rows`` finished jobs)."""
    queues = {"empty": empty, "full": full}
    measure_round(queues, WARM, 1)
    samples: dict[str, dict[str, list[float]]] = {label: {cost: [] for cost in COSTS} for label in queues}
    for _ in range(plan.repeats):
        for label, costs in measure_round(queues, SAMPLES, WAKE_UPS).items():
            for cost, values in costs.items():
                samples[label][cost].extend(values)
    return [Figure(f"{what} on {plan.growth_rows:,} finished jobs", "ms", statistics.median(samples["full"][cost]),
                   statistics.median(samples["empty"][cost]), TARGET, lower_is_better=True)
            for cost, what in COSTS.items()]


def describe(plan: Plan) -> str:
    return (f"flat costs as the table grows: {plan.growth_rows:,} finished jobs beside an empty table; medians of"
            f" {plan.repeats * SAMPLES:,} calls each ({plan.repeats * WAKE_UPS} wake-ups), call by call in turns")


def sqlite_growth(plan: Plan, out: Callable[[str], None] = print) -> list[Figure]:
    """The figures on two files of a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="lilqueue-bench-growth-") as tmp:
        out(describe(plan))
        queues = [build_queue(str(Path(tmp) / "empty.db")), full_sqlite(str(Path(tmp) / "full.db"), plan.growth_rows)]
        try:
            return compare(*queues, plan)
        finally:
            for queue in queues:
                queue.store.database.close_all()


def full_sqlite(path: str, rows: int) -> Queue:
    """A bench queue on a new file that holds ``rows`` finished jobs."""
    fill(path, rows)
    queue = build_queue(path)  # its first open counts the jobs
    queue.database.execute_sql("pragma wal_checkpoint(truncate)")  # the fill's pages back in the file
    return queue


FILL_POSTGRES = (
    "insert into lilqueue_job (id, task, state, args, kwargs, version, attempts, cancel_requested, logs_dropped,"
    " created_at, started_at, finished_at, priority, parked)"
    f" select substr(md5(random()::text || i), 1, {ID_LENGTH}), 'report', 'succeeded', '[]', '{{}}', 3, 1, 0, 0,"
    " %(now)s - 259200.0 * i / %(rows)s, %(now)s - 259200.0 * i / %(rows)s + 0.01,"
    " %(now)s - 259200.0 * i / %(rows)s + 0.02 + (i %% 997) / 10.0, 0, 0 from generate_series(1, %(rows)s) as i")


def postgres_growth(plan: Plan, url: str, out: Callable[[str], None] = print) -> list[Figure]:
    """The figures on the server at ``url``, in two fresh schemas, dropped after."""
    out(describe(plan))
    queues: list[Queue] = []
    with Schemas(url) as schemas:
        try:
            queues.append(build_queue(schemas.fresh("growth_empty")))
            queues.append(full_postgres(schemas.fresh("growth_full"), plan.growth_rows))
            return compare(*queues, plan)
        finally:
            for queue in queues:
                queue.store.database.close_all()


def full_postgres(location: str, rows: int) -> Queue:
    """A bench queue on a new schema that holds ``rows`` finished jobs (succeeded, over three days)."""
    build_queue(location).store.database.close_all()  # the tables, to fill
    with connect(location) as conn:
        conn.execute(FILL_POSTGRES, {"now": time.time(), "rows": rows})
        conn.execute("drop table lilqueue_stat")  # rebuilt from the rows on the next open
    queue = build_queue(location)
    with connect(location) as conn:
        conn.execute("vacuum analyze lilqueue_job")  # as autovacuum would have, for the planner
    return queue
