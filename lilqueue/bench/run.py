"""``python -m lilqueue bench``: lilqueue and raw Huey (SqliteHuey) side by side, in one run,
on temporary files of the same file system. Prints medians and ratios; never fails on speed.

A ratio above 1 means lilqueue did better (more jobs per second, or less time).
"""

from __future__ import annotations

import os
import platform
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import huey

from .. import __version__
from ..context import CurrentJob
from .contestants import build_huey, build_queue
from .figures import Figure, Plan, median_of, percentile, render
from .processes import WorkerProcess


class Contestant:
    """One system under test on its own fresh file: starting jobs and reading their stamps."""

    def __init__(self, kind: str, workdir: Path, label: str) -> None:
        self.kind = kind
        self.path = str(workdir / f"{kind}-{label}.db")
        self.log = workdir / f"{kind}-{label}.log"
        if kind == "lilqueue":
            self.queue = build_queue(self.path)
        else:
            self.huey, self.huey_stamp = build_huey(self.path)

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

    def worker(self, threads: int) -> WorkerProcess:
        process = WorkerProcess(self.kind, self.path, threads, self.log)
        try:
            self.start_one()(60.0)  # warm up: the worker is running and has run a job
        except BaseException:
            process.stop()
            raise
        return process


def measure_enqueue(kind: str, workdir: Path, count: int, label: str) -> float:
    contestant = Contestant(kind, workdir, label)
    if kind == "lilqueue":
        start = contestant.queue.tasks["stamp"].start
    else:
        wrapper = contestant.huey_stamp
        start = lambda: contestant.huey.enqueue(wrapper())  # noqa: E731
    began = time.perf_counter()
    for _ in range(count):
        start()
    return count / (time.perf_counter() - began)


def measure_bulk(workdir: Path, count: int, label: str) -> float:
    queue = Contestant("lilqueue", workdir, label).queue
    began = time.perf_counter()
    queue.start_many("stamp", [()] * count)
    return count / (time.perf_counter() - began)


def measure_drain(workdir: Path, count: int, threads: int, kind: str, run: int) -> float:
    """Jobs per second between the first and the last job's start, with a warm worker."""
    contestant = Contestant(kind, workdir, f"drain{threads}-{run}")
    worker = contestant.worker(threads)
    try:
        contestant.start_many(count)
        expected = count + (1 if kind == "lilqueue" else 0)
        deadline = time.monotonic() + 300
        while contestant.finished() < expected and time.monotonic() < deadline:
            time.sleep(0.02)
        stamps = sorted(contestant.stamps())[-count:]
    finally:
        worker.stop()
    return (len(stamps) - 1) / (stamps[-1] - stamps[0])


def measure_idle(kind: str, workdir: Path, plan: Plan) -> dict[str, float]:
    """Pickup latency after idling, and the idle worker's CPU and memory."""
    contestant = Contestant(kind, workdir, "idle")
    worker = contestant.worker(1)
    try:
        time.sleep(plan.idle_window)  # let any backoff settle, then measure an idle stretch
        cpu0, wall0 = worker.cpu_seconds(), time.monotonic()
        time.sleep(plan.idle_window)
        cpu = (worker.cpu_seconds() - cpu0) / (time.monotonic() - wall0) * 100
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
            "long": long_pickup}


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


def _side_by_side(runs: int, measure: Callable[[str, int], float]) -> tuple[float, float]:
    """Medians for lilqueue and Huey, measured in turns so that both meet the same machine load."""
    pairs = [(measure("lilqueue", i), measure("huey", i)) for i in range(runs)]
    return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)


def run(plan: Plan, out: Callable[[str], None] = print) -> list[Figure]:
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="lilqueue-bench-") as tmp:
        workdir = Path(tmp)
        out(f"lilqueue {__version__} vs huey {huey.__version__} (SqliteHuey), SQLite {sqlite3.sqlite_version},"
            f" Python {platform.python_version()}, {os.cpu_count()} cores, {platform.platform()}")
        out(f"files in {workdir} (synchronous=FULL on both); medians of {plan.repeats} run(s)")
        lq, hu = _side_by_side(plan.repeats, lambda kind, i: measure_enqueue(kind, workdir, plan.enqueue, f"enq{i}"))
        figures.append(Figure("enqueue, one job per start()", "jobs/s", lq, hu, ">= 1.0x"))
        bulk = median_of(plan.repeats, lambda i: measure_bulk(workdir, plan.bulk, f"bulk{i}"))
        figures.append(Figure(f"bulk start_many({plan.bulk})", "jobs/s", bulk, None, ">= 50,000"))
        for threads in plan.drain_threads:
            lq, hu = _side_by_side(plan.repeats, partial(measure_drain, workdir, plan.drain, threads))
            figures.append(Figure(f"drain {plan.drain} no-op jobs, {threads} thread(s)", "jobs/s", lq, hu, ">= 1.0x"))
        lq_idle = measure_idle("lilqueue", workdir, plan)
        hu_idle = measure_idle("huey", workdir, plan)
        figures.append(Figure(f"idle pickup p50 ({plan.idle_before_pickup:g} s idle)", "ms", lq_idle["p50"],
                              hu_idle["p50"], "<= 5 ms", lower_is_better=True))
        figures.append(Figure("idle pickup p99", "ms", lq_idle["p99"], hu_idle["p99"], "<= 20 ms",
                              lower_is_better=True))
        if plan.long_idle:
            figures.append(Figure(f"pickup after {plan.long_idle:g} s idle", "ms", lq_idle["long"],
                                  hu_idle["long"], "<= 5 ms", lower_is_better=True))
        figures.append(Figure("idle worker CPU", "% of a core", lq_idle["cpu"], hu_idle["cpu"], "<= 1 %",
                              lower_is_better=True))
        figures.append(Figure("idle worker memory", "MB RSS", lq_idle["rss"], hu_idle["rss"], "<= 60 MB",
                              lower_is_better=True))
        per_call, writes = measure_hot_loop(workdir, plan.hot_loop)
        figures.append(Figure(f"progress() hot loop ({plan.hot_loop:,} calls)", "us/call", per_call, None, "<= 1 us",
                              lower_is_better=True))
        figures.append(Figure("  writes it caused (first, one per 0.2 s, last)", "writes", writes, None,
                              "a few per second",
                              lower_is_better=True))
        figures.extend(web_figures(workdir, plan))
    return figures


def web_figures(workdir: Path, plan: Plan) -> list[Figure]:
    from . import web as benchweb

    # One progress() call every 0.25 s: each crosses the 0.2 s interval, so each is written at once.
    latency = benchweb.measure_progress_latency(workdir, plan.latency_updates, 0.25)
    crowd = benchweb.measure_watchers(workdir, plan.watched_jobs, plan.watchers_per_job, plan.watch_seconds)
    reads_one = benchweb.measure_reads_per_change(workdir, 1)
    reads_many = benchweb.measure_reads_per_change(workdir, 1000)
    clients = crowd["clients"]
    return [
        Figure(f"progress() to long-poll client p50 ({latency['samples']} updates)", "ms", latency["p50"],
               None, "<= 20 ms", lower_is_better=True),
        Figure("progress() to long-poll client p99", "ms", latency["p99"], None, "<= 60 ms", lower_is_better=True),
        Figure(f"{clients} long-poll clients on {plan.watched_jobs} jobs: change to all, p50", "ms",
               crowd["p50"], None, "", lower_is_better=True),
        Figure(f"  same, p99 ({crowd['answers']} answers, {crowd['errors']} errors)", "ms", crowd["p99"],
               None, "<= 250 ms", lower_is_better=True),
        Figure(f"  web process memory added by {clients} clients", "MB RSS", crowd["rss_added"], None,
               "<= 100 MB per 1,000", lower_is_better=True),
        Figure(f"watcher DB reads per change, 1,000 waiters (1 waiter: {reads_one})", "reads", reads_many, None,
               "same as with 1", lower_is_better=True),
    ]


def main(quick: bool) -> int:
    figures = run(Plan.quick() if quick else Plan.full())
    print()
    print(render(figures))
    print("\nratio > 1: lilqueue better (more jobs/s, or less time/CPU/memory)")
    return 0
