"""The SQLite half of ``python -m lilqueue bench``: lilqueue and raw Huey (SqliteHuey) side by
side, in one run, on temporary files of the same file system; and the measures both engines use
(``pgrun.py`` runs them on PostgreSQL). Prints medians and ratios; never fails on speed.

A ratio above 1 means lilqueue did better (more jobs per second, or less time).
"""

from __future__ import annotations

import os
import platform
import sqlite3
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import huey

from .. import __version__
from ..context import CurrentJob
from .contestants import build_huey, build_queue
from .figures import Figure, Plan, percentile
from .flows import batch_figures
from .phases import phase_figures
from .processes import WorkerProcess


class Contestant:
    """One system under test on its own fresh file: starting jobs and reading their stamps.
    ``pgcontestant.PgContestant`` is the same on PostgreSQL; the measures take either."""

    def __init__(self, kind: str, workdir: Path, label: str) -> None:
        self.kind = kind
        self.path = str(workdir / f"{kind}-{label}.db")
        self.log = workdir / f"{kind}-{label}.log"
        if kind == "lilqueue":
            self.queue = build_queue(self.path)
        else:
            self.huey, self.huey_stamp = build_huey(self.path)

    def __enter__(self) -> Contestant:
        return self

    def __exit__(self, *exc: object) -> None:
        pass  # the file goes with the temporary directory

    def start_one(self) -> Callable[[float], float]:
        """Start a stamp job; returns a function that waits (up to a timeout) for its stamp."""
        if self.kind == "lilqueue":
            job = self.queue.start("stamp")
            return lambda timeout: self.queue.wait(job.id, timeout, interval=0.001).result
        result = self.huey.enqueue(self.huey_stamp())
        return lambda timeout: result.get(blocking=True, timeout=timeout, backoff=1.0, max_delay=0.001)

    def start_many(self, count: int) -> None:
        """``count`` stamp jobs in one transaction."""
        if self.kind == "lilqueue":
            self.queue.start_many("stamp", [()] * count)
            return
        messages = [(self.huey.serialize_task(self.huey_stamp()),) for _ in range(count)]
        conn = sqlite3.connect(self.path, isolation_level=None)
        conn.execute("begin immediate")
        conn.executemany("insert into task (queue, data, priority) values ('bench', ?, 0)", messages)
        conn.execute("commit")
        conn.close()

    def finished(self) -> int:
        conn = sqlite3.connect(self.path)
        try:
            if self.kind == "lilqueue":
                return conn.execute("select count(*) from lilqueue_job where state = 'succeeded'").fetchone()[0]
            return conn.execute("select count(*) from kv where queue = 'bench'").fetchone()[0]
        finally:
            conn.close()

    def stamps(self) -> list[float]:
        if self.kind == "lilqueue":
            conn = sqlite3.connect(self.path)
            rows = conn.execute("select result from lilqueue_job where state = 'succeeded'").fetchall()
            conn.close()
            return [float(r[0]) for r in rows]
        return [self.huey.serializer.deserialize(v) for v in self.huey.all_results().values()]

    @property
    def worker_kind(self) -> str:
        """The ``contestants`` command that runs this contestant's worker."""
        return self.kind

    def worker(self, threads: int, tries: int = 3) -> WorkerProcess:
        """A warm worker process: it is running and has run a job. One that died on the way
        (a shared PostgreSQL server with no free connection) is started again."""
        for _ in range(tries):
            process = WorkerProcess(self.worker_kind, self.path, threads, self.log)
            try:
                stamp = self.start_one()(60.0)
            except BaseException:
                process.stop()
                raise
            if stamp is not None and process.process.poll() is None:
                return process
            process.stop()
        raise RuntimeError(f"the {self.worker_kind} worker did not run a job; see {self.log}")


Make = Callable[[str, str], Any]  # (kind, label) -> a fresh contestant, used as a context manager


def on_files(workdir: Path) -> Make:
    return lambda kind, label: Contestant(kind, workdir, label)


def measure_enqueue(make: Make, count: int, label: str, kind: str, threads: int = 1) -> float:
    """Starts per second, one job per call, from ``threads`` threads at once (``count`` in all)."""
    with make(kind, label) as contestant:
        if kind == "lilqueue":
            start = contestant.queue.tasks["stamp"].start
        else:
            wrapper = contestant.huey_stamp
            start = lambda: contestant.huey.enqueue(wrapper())  # noqa: E731
        each = count // threads
        ready = threading.Barrier(threads + 1)
        stop = threading.Event()

        def starter() -> None:
            try:
                ready.wait()
            except threading.BrokenBarrierError:
                return
            for _ in range(each):
                if stop.is_set():
                    return
                start()

        starters = [threading.Thread(target=starter) for _ in range(threads)]
        for thread in starters:
            thread.start()
        try:
            ready.wait()
            began = time.perf_counter()
            for thread in starters:
                thread.join()
        finally:
            # A SIGTERM lands in this thread: the starters finish their start in flight and
            # stop before the contestant's cleanup drops the database under them.
            stop.set()
            ready.abort()
            for thread in starters:
                thread.join()
        return each * threads / (time.perf_counter() - began)


def measure_bulk(make: Make, count: int, kind: str, run: int) -> float:
    """Starts per second of ``count`` jobs in one call (raw Huey: its messages, serialized and
    inserted in one transaction)."""
    with make(kind, f"bulk{run}") as contestant:
        began = time.perf_counter()
        contestant.start_many(count)
        return count / (time.perf_counter() - began)


def measure_drain(make: Make, count: int, threads: int, kind: str, run: int) -> float:
    """Jobs per second between the first and the last job's start, with a warm worker."""
    with make(kind, f"drain{threads}-{run}") as contestant:
        worker = contestant.worker(threads)
        try:
            expected = count + contestant.finished()  # lilqueue keeps the warm-up's row
            contestant.start_many(count)
            deadline = time.monotonic() + 300
            while contestant.finished() < expected and time.monotonic() < deadline:
                time.sleep(0.02)
            stamps = sorted(contestant.stamps())[-count:]
        finally:
            worker.stop()
    return (len(stamps) - 1) / (stamps[-1] - stamps[0])


def measure_idle(make: Make, kind: str, plan: Plan) -> dict[str, float | None]:
    """Pickup latency after idling, and the idle worker's CPU and memory (and, on PostgreSQL,
    the CPU of the server processes serving it: ``server_cpu``)."""
    with make(kind, "idle") as contestant:
        worker = contestant.worker(1)
        try:
            time.sleep(plan.idle_window)  # let any backoff settle, then measure an idle stretch
            server = contestant.server_cpu(worker) if hasattr(contestant, "server_cpu") else None
            if server is not None:
                server.start()
            cpu0, wall0 = worker.cpu_seconds(), time.monotonic()
            time.sleep(plan.idle_window)
            wall = time.monotonic() - wall0
            cpu = (worker.cpu_seconds() - cpu0) / wall * 100
            spent = None if server is None else server.stop()
            server_cpu = None if spent is None else spent / wall * 100
            rss = worker.rss_mb()
            pickups = []
            for _ in range(plan.pickups):
                time.sleep(plan.idle_before_pickup)
                began = time.time()
                pickups.append((contestant.start_one()(60.0) - began) * 1000)
            long_pickup = None
            if plan.long_idle:
                time.sleep(plan.long_idle)
                began = time.time()
                long_pickup = (contestant.start_one()(60.0) - began) * 1000
        finally:
            worker.stop()
    return {"p50": statistics.median(pickups), "p99": percentile(pickups, 99), "cpu": cpu, "rss": rss,
            "long": long_pickup, "server_cpu": server_cpu}


def measure_hot_loop(workdir: Path, count: int) -> tuple[float, float]:
    """µs per ``progress()`` call in a tight loop, and how many writes it caused."""
    queue = build_queue(str(workdir / "hot.db"))
    job = queue.start("report", args=[1, 0.0])
    claim = queue.store.claim("bench", time.time())
    ctx = CurrentJob(queue.store, claim.id, "report", "bench", 1, queue.progress_interval, queue.max_logs)
    before = queue.store.version(job.id)
    began = time.perf_counter()
    for i in range(count):
        ctx.progress(i, total=count)
    elapsed = time.perf_counter() - began
    ctx.flush()
    return elapsed / count * 1e6, queue.store.version(job.id) - before


def side_by_side(runs: int, measure: Callable[[str, int], float]) -> tuple[float, float]:
    """Medians for lilqueue and Huey, measured in turns so that both meet the same machine load."""
    pairs = [(measure("lilqueue", i), measure("huey", i)) for i in range(runs)]
    return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)


SQLITE_TARGETS = {"enqueue": ">= 1.0x", "enqueue 8": ">= 2.0x", "bulk": ">= 1.0x", "drain 1": ">= 1.2x",
                  "drain 4": ">= 1.5x",
                  "pickup p50": "<= 2 ms", "pickup p99": "<= 10 ms", "long pickup": "<= 2 ms",
                  "cpu": "<= 0.25 % or 1.5x huey", "memory": "<= 60 MB"}


def queue_figures(make: Make, plan: Plan, targets: dict[str, str]) -> list[Figure]:
    """Enqueue, bulk, drain and the idle worker, lilqueue beside raw Huey, on any engine."""
    figures: list[Figure] = []
    for threads in plan.enqueue_threads:
        lq, hu = side_by_side(plan.repeats, lambda kind, i, n=threads: measure_enqueue(
            make, plan.enqueue, f"enq{n}-{i}", kind, n))
        figures.append(Figure(f"enqueue, one job per start(), {threads} thread(s)", "jobs/s", lq, hu,
                              targets.get(f"enqueue {threads}", targets.get("enqueue", ""))))
    lq, hu = side_by_side(plan.repeats, partial(measure_bulk, make, plan.bulk))
    figures.append(Figure(f"bulk start_many({plan.bulk}) (Huey: one transaction)", "jobs/s", lq, hu,
                          targets.get("bulk", "")))
    for threads in plan.drain_threads:
        lq, hu = side_by_side(plan.repeats, partial(measure_drain, make, plan.drain, threads))
        figures.append(Figure(f"drain {plan.drain} no-op jobs, {threads} thread(s)", "jobs/s", lq, hu,
                              targets.get(f"drain {threads}", "")))
    lq_idle = measure_idle(make, "lilqueue", plan)
    hu_idle = measure_idle(make, "huey", plan)
    figures.append(Figure(f"idle pickup p50 ({plan.idle_before_pickup:g} s idle)", "ms", lq_idle["p50"],
                          hu_idle["p50"], targets.get("pickup p50", ""), lower_is_better=True))
    figures.append(Figure("idle pickup p99", "ms", lq_idle["p99"], hu_idle["p99"], targets.get("pickup p99", ""),
                          lower_is_better=True))
    if plan.long_idle:
        figures.append(Figure(f"pickup after {plan.long_idle:g} s idle", "ms", lq_idle["long"],
                              hu_idle["long"], targets.get("long pickup", ""), lower_is_better=True))
    figures.append(Figure("idle worker CPU", "% of a core", lq_idle["cpu"], hu_idle["cpu"], targets.get("cpu", ""),
                          lower_is_better=True))
    if lq_idle["server_cpu"] is not None or hu_idle["server_cpu"] is not None:
        figures.append(Figure("  CPU of its server backends", "% of a core", lq_idle["server_cpu"],
                              hu_idle["server_cpu"], targets.get("server cpu", ""), lower_is_better=True))
    figures.append(Figure("idle worker memory", "MB RSS", lq_idle["rss"], hu_idle["rss"], targets.get("memory", ""),
                          lower_is_better=True))
    return figures


def run(plan: Plan, out: Callable[[str], None] = print) -> list[Figure]:
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="lilqueue-bench-") as tmp:
        workdir = Path(tmp)
        out(f"lilqueue {__version__} vs huey {huey.__version__} (SqliteHuey), SQLite {sqlite3.sqlite_version},"
            f" Python {platform.python_version()}, {os.cpu_count()} cores, {platform.platform()}")
        out(f"files in {workdir} (synchronous=FULL on both); medians of {plan.repeats} run(s)")
        figures.extend(queue_figures(on_files(workdir), plan, SQLITE_TARGETS))
        figures.extend(phase_figures(on_files(workdir), plan.enqueue))
        per_call, writes = measure_hot_loop(workdir, plan.hot_loop)
        figures.append(Figure(f"progress() hot loop ({plan.hot_loop:,} calls)", "us/call", per_call, None, "<= 1 us",
                              lower_is_better=True))
        figures.append(Figure("  writes it caused (first, one per 0.2 s, last)", "writes", writes, None,
                              "a few per second",
                              lower_is_better=True))
        idle_cpu = next((f.lilqueue for f in figures if f.name == "idle worker CPU"), None)
        figures.extend(web_figures(workdir, plan, idle_cpu))
        figures.extend(batch_figures(workdir, plan))
        figures.extend(history_figures(workdir, plan))
    return figures


def history_figures(workdir: Path, plan: Plan) -> list[Figure]:
    from .history import PAGE, measure_pages

    pages = measure_pages(workdir, plan.history_rows)
    table = f"{plan.history_rows:,} finished jobs"
    return [
        Figure(f"dashboard job list (failed), GET over HTTP, on {table}", "ms", pages["admin_page"], None,
               "<= 50 ms", lower_is_better=True),
        Figure(f"queue.jobs() page of {PAGE}, newest", "ms", pages["newest"], None, "<= 50 ms",
               lower_is_better=True),
        Figure("  the same, failed only", "ms", pages["failed"], None, "<= 50 ms", lower_is_better=True),
        Figure("  the same, one task", "ms", pages["task"], None, "<= 50 ms", lower_is_better=True),
        Figure("  the same, halfway back (keyset)", "ms", pages["deep"], None, "<= 50 ms", lower_is_better=True),
        Figure(f"queue.stats() on {table}", "ms", pages["stats"], None, "", lower_is_better=True),
        Figure("  first open of such a file made before lilqueue_stat", "ms", pages["backfill"], None, "",
               lower_is_better=True),
    ]


IDLE_WATCHERS = 20


def web_figures(workdir: Path, plan: Plan, idle_worker_cpu: float | None = None) -> list[Figure]:
    from . import web as benchweb
    from .clients import Streamers

    # One progress() call every 0.25 s: each crosses the 0.2 s interval, so each is written at once.
    latency = benchweb.measure_progress_latency(workdir, plan.latency_updates, 0.25)
    crowd = benchweb.measure_watchers(workdir, plan.watched_jobs, plan.watchers_per_job, plan.watch_seconds)
    streams = benchweb.measure_watchers(workdir, plan.watched_jobs, plan.watchers_per_job, plan.watch_seconds,
                                        Streamers)
    reads_one = benchweb.measure_reads_per_change(workdir, 1)
    reads_many = benchweb.measure_reads_per_change(workdir, 1000)
    idle_web = benchweb.measure_idle_watchers(workdir, IDLE_WATCHERS, plan.idle_window)
    return [
        Figure(f"web process with {IDLE_WATCHERS} waiting clients, nothing changing: CPU", "% of a core", idle_web,
               None, "<= idle worker's" + ("" if idle_worker_cpu is None else f" ({idle_worker_cpu:.3g} %)"),
               lower_is_better=True),
        Figure(f"progress() to long-poll client p50 ({latency['samples']} updates)", "ms", latency["p50"],
               None, "<= 2 ms", lower_is_better=True),
        Figure("progress() to long-poll client p99", "ms", latency["p99"], None, "<= 60 ms", lower_is_better=True),
        *_crowd_figures(crowd, "long-poll clients", "answers", plan.watched_jobs),
        *_crowd_figures(streams, "event streams", "events", plan.watched_jobs),
        Figure(f"watcher DB reads per change, 1,000 waiters (1 waiter: {reads_one})", "reads", reads_many, None,
               "same as with 1", lower_is_better=True),
    ]


def _crowd_figures(crowd: dict[str, float], who: str, answers: str, jobs: int) -> list[Figure]:
    """The latency and memory figures of ``measure_watchers``' clients."""
    clients = crowd["clients"]
    return [
        Figure(f"{clients} {who} on {jobs} jobs: change to all, p50", "ms", crowd["p50"], None, "",
               lower_is_better=True),
        Figure(f"  same, p99 ({crowd['answers']} {answers}, {crowd['errors']} errors)", "ms", crowd["p99"],
               None, "<= 250 ms", lower_is_better=True),
        Figure(f"  web process memory added by {clients} {who.split()[-1]}", "MB RSS", crowd["rss_added"], None,
               "<= 100 MB per 1,000", lower_is_better=True),
    ]
