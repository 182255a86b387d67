"""One job's cost by phase: the CPU (µs of the calling thread), the wall time and the SQL
statements of each phase of a no-op job's life on lilqueue, beside raw Huey's enqueue,
dequeue and execute on the same engine. ``python -m lilqueue bench`` prints the table; the
statement counts are asserted by tests/test_job_statements.py (a number, not a time).

    costs = lilqueue_phases(queue, jobs=2000)    # {"start": Cost(...), "claim": ..., ...}
    costs = huey_phases(huey, task_class, jobs=2000)
    figures = phase_figures(make, jobs=2000)      # both, as the bench's table rows

Phases, in one thread, each over ``jobs`` jobs so that per-job figures are means:

    start        task.start(): the argument check and encoding, the id, the rows, the message
    claim        Store.claim: take a message, mark its job running
    run          the run wrapper: the job's context, the attempt, its result encoded
    finish       Store.finish without a next claim
    finish+next  Store.finish with the next claim, in one transaction: a busy worker's path

    enqueue      Huey.enqueue: the message (raw Huey)
    dequeue      Huey.dequeue
    execute      Huey.execute: the revocation check, the call, the result written
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ..context import CurrentJob
from ..store import Final
from ..worker.attempt import attempt, with_retry, within
from .figures import Figure

WORKER_ID = "bench:0:phases"
WRITES = ("insert", "update", "delete")  # the statements that may run triggers
WAL_HEADER, WAL_FRAME_HEADER = 32, 24     # bytes, in SQLite's -wal file format


@dataclass(frozen=True)
class Cost:
    cpu_us: float       # per job, this thread's CPU
    wall_us: float      # per job
    statements: float   # per job: SQL statements sent to the engine, BEGIN and COMMIT included
    pages: float | None = None  # per job, SQLite: pages its commits wrote to the -wal file


class Statements:
    """Counts the SQL statements the calling thread's connection sends while inside the block:
    SQLite's trace callback, or a counting cursor on psycopg (peewee sends BEGIN and COMMIT
    as statements there too). SQLite reports a write again at the start of each trigger
    program it runs; those repeats are not counted."""

    def __init__(self, connection: Callable[[], Any]) -> None:
        self.connection = connection
        self.count = 0
        self._last: str | None = None

    def seen(self, sql: str = "") -> None:
        if sql != self._last or not sql.lstrip().lower().startswith(WRITES):
            self.count += 1
        self._last = sql

    @contextmanager
    def counting(self) -> Iterator[Statements]:
        conn = self.connection()
        if hasattr(conn, "set_trace_callback"):
            conn.set_trace_callback(self.seen)
            try:
                yield self
            finally:
                conn.set_trace_callback(None)
            return
        before = conn.cursor_factory
        conn.cursor_factory = _counting_cursor(before, self.seen)
        try:
            yield self
        finally:
            conn.cursor_factory = before


def _counting_cursor(base: type, seen: Callable[..., None]) -> type:
    class Counting(base):  # type: ignore[misc, valid-type]
        def execute(self, *args: Any, **kwargs: Any) -> Any:
            seen()
            return super().execute(*args, **kwargs)

        def executemany(self, *args: Any, **kwargs: Any) -> Any:
            seen()
            return super().executemany(*args, **kwargs)
    return Counting


def measured(statements: Statements, jobs: int, step: Callable[[int], Any]) -> Cost:
    """``step(i)`` for i in range(jobs), counted and timed; the per-job Cost."""
    with statements.counting(), _WalFrames(statements.connection()) as wal:
        before = statements.count
        cpu, wall = time.thread_time(), time.perf_counter()
        for i in range(jobs):
            step(i)
        cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
        sent = statements.count - before
    return Cost(cpu * 1e6 / jobs, wall * 1e6 / jobs, sent / jobs, None if wal.frames is None else wal.frames / jobs)


class _WalFrames:
    """On SQLite, the pages the block's commits append to the ``-wal`` file (a frame each), in
    ``frames`` after the block: the file is emptied first and not checkpointed meanwhile (the
    phases run on one connection, in one thread). Elsewhere ``frames`` stays None."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.frames: int | None = None

    def __enter__(self) -> _WalFrames:
        if hasattr(self.conn, "set_trace_callback"):
            self._every = self.conn.execute("pragma wal_autocheckpoint").fetchone()[0]
            self.conn.execute("pragma wal_checkpoint(truncate)")
            self.conn.execute("pragma wal_autocheckpoint = 0")
        return self

    def __exit__(self, *exc: object) -> None:
        if not hasattr(self.conn, "set_trace_callback"):
            return
        path = self.conn.execute("pragma database_list").fetchone()[2] + "-wal"
        page_size = self.conn.execute("pragma page_size").fetchone()[0]
        size = max(os.path.getsize(path) - WAL_HEADER, 0) if os.path.exists(path) else 0
        self.frames = size // (page_size + WAL_FRAME_HEADER)
        self.conn.execute(f"pragma wal_autocheckpoint = {int(self._every)}")


def lilqueue_phases(queue: Any, jobs: int, task: str = "stamp") -> dict[str, Cost]:
    """The phases of ``jobs`` no-op jobs of ``task`` on ``queue`` (an empty one)."""
    store = queue.store
    statements = Statements(lambda: store.database.connection())
    start = queue.tasks[task].start
    store.register(WORKER_ID, "bench", 0, 1, time.time())
    costs = {"start": measured(statements, jobs, lambda i: start())}
    claims: list[Any] = []
    costs["claim"] = measured(statements, jobs, lambda i: claims.append(store.claim(WORKER_ID, time.time())))
    func = queue.tasks[task].func
    outcomes: list[Any] = []

    def run(i: int) -> None:
        claim = claims[i]
        ctx = CurrentJob(store, claim.id, claim.task, WORKER_ID, claim.attempts, queue.progress_interval,
                         queue.max_logs)
        outcome = within(queue.around_job, lambda: attempt(func, claim.args, claim.kwargs, ctx))
        outcomes.append((with_retry(outcome, queue.tasks[task], claim.attempts, ctx.stop_reason),
                         ctx.final_writes()))

    costs["run"] = measured(statements, jobs, run)
    costs["finish"] = measured(statements, jobs, lambda i: store.finish(claims[i], WORKER_ID, *outcomes[i],
                                                                        time.time(), claim_next=False))
    for _ in range(jobs + 1):
        start()
    following = [store.claim(WORKER_ID, time.time())]
    outcome = outcomes[0][0]
    costs["finish+next"] = measured(statements, jobs, lambda i: following.append(
        store.finish(following[-1], WORKER_ID, outcome, Final(), time.time(), claim_next=True)))
    return costs


def huey_phases(huey: Any, task_class: type, jobs: int) -> dict[str, Cost]:
    """Raw Huey's enqueue, dequeue and execute of ``jobs`` tasks (results kept, as by default)."""
    storage = huey.storage
    statements = Statements(lambda: storage.conn)
    costs = {"enqueue": measured(statements, jobs, lambda i: huey.enqueue(task_class()))}
    tasks: list[Any] = []
    costs["dequeue"] = measured(statements, jobs, lambda i: tasks.append(huey.dequeue()))
    costs["execute"] = measured(statements, jobs, lambda i: huey.execute(tasks[i]))
    return costs


def phase_figures(make: Any, jobs: int) -> list[Figure]:
    """The table's rows: a start beside Huey's enqueue, and a busy worker's path for one job
    (finish, next claim, run) beside Huey's dequeue and execute; wall µs, CPU µs and statements.
    Logging is off meanwhile: a worker's log lines are not part of a job's cost (the bench's
    command line logs at INFO, and Huey's execute logs twice per task)."""
    logging.disable(logging.CRITICAL)
    try:
        with make("lilqueue", "phases") as ours, make("huey", "phases") as peer:
            lq = lilqueue_phases(ours.queue, jobs)
            hu = huey_phases(peer.huey, peer.huey_stamp, jobs)
    finally:
        logging.disable(logging.NOTSET)
    worker = _sum(lq["finish+next"], lq["run"])
    peer_worker = _sum(hu["dequeue"], hu["execute"])
    figures = []
    rows = (("one start (Huey: enqueue)", vars(lq["start"]), vars(hu["enqueue"]), ">= 1.0x"),
            ("one job in a busy worker (Huey: dequeue, execute)", worker, peer_worker, ">= 1.2x"))
    for label, mine, theirs, target in rows:
        figures += [Figure(f"{label}: wall", "us/job", mine["wall_us"], theirs["wall_us"], target,
                           lower_is_better=True),
                    Figure("  its CPU", "us/job", mine["cpu_us"], theirs["cpu_us"], "", lower_is_better=True),
                    Figure("  its SQL statements", "per job", mine["statements"], theirs["statements"], "",
                           lower_is_better=True)]
        if mine["pages"] is not None:
            figures.append(Figure("  its pages written to the -wal file", "per job", mine["pages"],
                                  theirs["pages"], "", lower_is_better=True))
    for phase in ("claim", "run", "finish"):
        pages = "" if lq[phase].pages is None else f", {lq[phase].pages:.1f} pages"
        figures.append(Figure(f"  lilqueue's {phase} alone: wall (CPU)", "us/job", lq[phase].wall_us, None,
                              f"CPU {lq[phase].cpu_us:.0f} us, {lq[phase].statements:g} statements{pages}",
                              lower_is_better=True))
    return figures


def _sum(*costs: Cost) -> dict[str, float | None]:
    """The phases' costs added up (pages: None where the engine has no -wal file)."""
    total: dict[str, float | None] = {name: sum(getattr(c, name) for c in costs)
                                      for name in ("wall_us", "cpu_us", "statements")}
    pages = [c.pages for c in costs]
    total["pages"] = None if None in pages else sum(p for p in pages if p is not None)
    return total
