"""The benchmark's batch figures: a batch (10,000 children in the quick plan, 50,000 in the full
one, so that it is still draining when both windows end) started in one transaction, a read of its
parent, and the parent's progress as long-poll clients read it while a worker drains the batch.

    measured = measure_batch(workdir, items=10_000, watchers=100, seconds=10.0)   # or location=URL

The parent moves on a counter in its own row as each child ends, so a read costs the same
whatever the number of children, and the watcher reads it once per change for all its clients.
"""

from __future__ import annotations

import statistics
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..web.watcher import Watcher
from .clients import Client, Pollers
from .contestants import build_queue
from .figures import Figure, Plan
from .processes import WebProcess, WorkerProcess

if TYPE_CHECKING:
    from ..queue import Queue

READS = 50  # reads of the parent, for the median


def measure_batch(workdir: Path, items: int, watchers: int, seconds: float,
                  location: str | None = None) -> dict[str, float]:
    path = location or str(workdir / "batch.db")
    queue = build_queue(path)
    try:
        began, cpu = time.perf_counter(), time.process_time()
        parent = queue.tasks["stamp"].batch([()] * items)
        start_s, start_cpu = time.perf_counter() - began, time.process_time() - cpu
        reads = []
        for _ in range(READS):
            began = time.perf_counter()
            queue.get(parent.id)
            reads.append((time.perf_counter() - began) * 1000)
        web = WebProcess(path, watchers + 10, workdir / "batch-web.log")
        worker = WorkerProcess("lilqueue", path, 2, workdir / "batch-worker.log")
        try:
            pollers = Pollers(web.port, [Client(parent.id, parent.version) for _ in range(watchers)])
            began, done_before = time.monotonic(), queue.get(parent.id).flow.done
            pollers.run(began + seconds)
            took = time.monotonic() - began
            done = queue.get(parent.id).flow.done - done_before
            watched = watch_in_process(queue, parent.id, watchers, seconds)
        finally:
            worker.stop()
            web.stop()
    finally:
        queue.store.database.close_all()  # PostgreSQL: no server process outlives the figure
    return {"start_s": start_s, "start_cpu_s": start_cpu, "read_ms": statistics.median(reads),
            "answers_per_s": pollers.answers / took, "children_per_s": done / took, "errors": pollers.errors,
            **watched}


def watch_in_process(queue: Queue, parent: str, watchers: int, seconds: float) -> dict[str, float]:
    """``watchers`` threads long-polling the parent through one Watcher, as a web process's
    requests do: the snapshots they receive per second, and the watcher's database reads
    (None, not measured, if the batch ended before: its parent changes no more)."""
    if queue.get(parent).finished:
        return {"snapshots_per_s": None, "watcher_reads_per_s": None}
    watcher = Watcher(queue, max_waiters=watchers + 1)
    until = time.monotonic() + seconds
    received = [0] * watchers

    def follow(i: int) -> None:
        job = queue.get(parent)
        queue.store.close()  # as a web request does before it waits: no pooled connection per waiter
        while time.monotonic() < until and not job.finished:
            newer = watcher.wait(job, job.version, max(until - time.monotonic(), 0.01))
            if newer is not None:
                job = newer
                received[i] += 1

    threads = [threading.Thread(target=follow, args=(i,)) for i in range(watchers)]
    began, queries = time.monotonic(), watcher.queries
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    took = time.monotonic() - began
    watcher.close()
    return {"snapshots_per_s": sum(received) / took, "watcher_reads_per_s": (watcher.queries - queries) / took}


def batch_figures(workdir: Path, plan: Plan, location: str | None = None) -> list[Figure]:
    measured = measure_batch(workdir, plan.batch_items, plan.batch_watchers, plan.batch_seconds, location)
    items, watchers = f"{plan.batch_items:,}", plan.batch_watchers
    return [
        Figure(f"batch of {items}: start, one transaction", "s", measured["start_s"], None, "", lower_is_better=True),
        Figure("  CPU of the starting process", "s", measured["start_cpu_s"], None, "", lower_is_better=True),
        Figure("  queue.get() of its parent", "ms", measured["read_ms"], None, "", lower_is_better=True),
        Figure(f"  parent progress to {watchers} long-poll clients, as 2 worker threads drain it"
               f" ({measured['errors']} errors)", "answers/s", measured["answers_per_s"], None, ""),
        Figure("  children finished meanwhile", "jobs/s", measured["children_per_s"], None, ""),
        Figure(f"  the same {watchers} clients in one process: parent snapshots received", "snapshots/s",
               measured["snapshots_per_s"], None, ""),
        Figure("  database reads that cost its watcher (any number of clients)", "reads/s",
               measured["watcher_reads_per_s"], None, "", lower_is_better=True),
    ]
