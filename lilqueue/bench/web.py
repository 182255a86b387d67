"""The benchmark's web figures: how fast progress reaches a long-polling browser, how many
waiting clients one web process holds, and what they cost.

The web process is ``python -m lilqueue serve``'s threaded server in a child process; the
clients are clients.py's raw sockets.
"""

from __future__ import annotations

import statistics
import threading
import time
from pathlib import Path

from ..web.watcher import Watcher
from .clients import Client, Crowd, Pollers
from .contestants import build_queue
from .figures import percentile
from .processes import WebProcess, WorkerProcess


def measure_progress_latency(workdir: Path, updates: int, pause: float,
                             location: str | None = None) -> dict[str, float]:
    """One job reporting ``updates`` times, ``pause`` apart; one client long-polling it. The
    queue is a file in ``workdir``, or ``location`` (a PostgreSQL URL) when given."""
    path = location or str(workdir / "latency.db")
    queue = build_queue(path)
    worker = WorkerProcess("lilqueue", path, 2, workdir / "latency-worker.log")
    try:
        web = WebProcess(path, 100, workdir / "latency-web.log")
        try:
            job = queue.start("report", args=[updates, pause])
            pollers = Pollers(web.port, [Client(job.id, job.version)])
            pollers.run(time.monotonic() + updates * pause + 30)
        finally:
            web.stop()
    finally:
        worker.stop()
        queue.store.database.close_all()  # PostgreSQL: no server process outlives the figure
    lat = pollers.latencies
    return {"p50": statistics.median(lat), "p99": percentile(lat, 99), "samples": len(lat),
            "errors": pollers.errors}


def measure_watchers(workdir: Path, jobs: int, per_job: int, seconds: float,
                     crowd: type[Crowd] = Pollers) -> dict[str, float]:
    """``jobs`` running jobs reporting once a second, ``per_job`` clients watching each:
    long-polling, or holding an event stream open (``crowd=Streamers``)."""
    name = f"watchers-{crowd.__name__.lower()}"
    path = str(workdir / f"{name}.db")
    queue = build_queue(path)
    worker = WorkerProcess("lilqueue", path, jobs, workdir / f"{name}-worker.log")
    web = WebProcess(path, jobs * per_job + 100, workdir / f"{name}-web.log")
    try:
        started = queue.start_many("report", [(int(seconds) + 5, 1.0)] * jobs)
        rss_before = web.rss_mb()
        clients = [Client(j.id, j.version) for j in started for _ in range(per_job)]
        watching = crowd(web.port, clients)
        peak = {"rss": rss_before}

        def sample_rss() -> None:
            while time.monotonic() < until:
                peak["rss"] = max(peak["rss"], web.rss_mb())
                time.sleep(0.5)

        until = time.monotonic() + seconds
        sampler = threading.Thread(target=sample_rss, daemon=True)
        sampler.start()
        watching.run(until)
        sampler.join()
    finally:
        web.stop()
        worker.stop()
    lat = watching.latencies
    return {"clients": len(clients), "p50": statistics.median(lat), "p99": percentile(lat, 99),
            "answers": watching.answers, "errors": watching.errors, "rss_added": peak["rss"] - rss_before}


def measure_idle_watchers(workdir: Path, clients: int, seconds: float) -> float | None:
    """CPU of a web process (% of a core) while ``clients`` long-polls wait on a job that does
    not change (queued, no worker); None where /proc is missing."""
    path = str(workdir / "idle-watchers.db")
    queue = build_queue(path)
    job = queue.start("report", args=[1, 0.0])
    web = WebProcess(path, clients + 10, workdir / "idle-watchers-web.log")
    try:
        pollers = Pollers(web.port, [Client(job.id, job.version) for _ in range(clients)])
        until = time.monotonic() + 2 + seconds
        asking = threading.Thread(target=pollers.run, args=(until,), daemon=True)
        asking.start()
        time.sleep(2)  # every client asked and waits
        cpu0, wall0 = web.cpu_seconds(), time.monotonic()
        time.sleep(seconds)
        cpu1, wall = web.cpu_seconds(), time.monotonic() - wall0
        asking.join()
    finally:
        web.stop()
    return None if cpu0 is None or cpu1 is None else (cpu1 - cpu0) / wall * 100


def measure_reads_per_change(workdir: Path, waiters: int) -> int:
    """Database reads the long-poll watcher makes for one job change with ``waiters`` waiting."""
    queue = build_queue(str(workdir / f"reads-{waiters}.db"))
    job = queue.start("report", args=[1, 0.0])
    claim = queue.store.claim("bench", time.time())
    job = queue.get(job.id)
    watcher = Watcher(queue, max_waiters=waiters + 1)
    threads = [threading.Thread(target=watcher.wait, args=(job, job.version, 30.0)) for _ in range(waiters)]
    for thread in threads:
        thread.start()
    while watcher.waiting < waiters:
        time.sleep(0.001)
    time.sleep(0.1)  # the watcher's first look at newly watched jobs is not part of a change
    before = watcher.queries
    queue.store.record(claim.id, "bench", (1, 1, None), [], 0, None)
    for thread in threads:
        thread.join()
    watcher.close()
    return watcher.queries - before
