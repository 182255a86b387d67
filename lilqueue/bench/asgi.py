"""The benchmark's figures of one web process on asyncio: the ASGI face (``queue.asgi(host)``)
beside the WSGI face through a2wsgi, each under uvicorn (one worker), in the same run.

For each face: a worker process runs JOBS jobs, each reporting progress once every PAUSE
seconds with the time in the message; the jobs start together and spread their reports evenly
over the second, so the server sees JOBS / PAUSE changes a second and each of ``streams``
event streams (``streams / JOBS`` per job) should get one event a second. Client processes
(``asyncclients.py``, CLIENTS_EACH clients each) open the streams over ``ramp`` seconds; after
SETTLE more seconds (at most ``ramp``) the figures are taken over ``seconds``: progress latency, events delivered,
the server's memory added per 1,000 streams and its CPU, and, from a probe process, the host's
own async route. Then the same with ``polls`` long-poll clients on the same jobs.

    figures = asgi_vs_wsgi(plan)     # Figure rows: the ASGI face, and the WSGI face as its peer
"""

from __future__ import annotations

import importlib.util
import json
import math
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from .contestants import build_queue
from .figures import Figure, Plan, percentile
from .processes import WorkerProcess

JOBS = 100
PAUSE = 1.0  # seconds between one job's reports
SETTLE = 10.0  # seconds (at most ``ramp``) after the last client opened: 10,000 streams opened in
# 10 s keep the server seconds behind, and the figures are of streams that are open
CLIENTS_EACH = 2500  # clients per client process
FACES = ("asgi", "wsgi")
PEER = "WSGI face (a2wsgi)"


class ServerProcess(WorkerProcess):
    """``asgihost.py`` under uvicorn: ``face`` is ``asgi`` or ``wsgi``; ``port`` where it listens."""

    def __init__(self, face: str, path: str, max_waiters: int, log: Path) -> None:
        self._log = open(log, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "lilqueue.bench.asgihost", face, path, str(max_waiters)],
            stdout=subprocess.PIPE, stderr=self._log, start_new_session=True)
        self.port = int(self.process.stdout.readline())


def missing() -> str | None:
    """Why these figures cannot be measured here (None: they can)."""
    for module in ("uvicorn", "a2wsgi"):
        if importlib.util.find_spec(module) is None:
            return f"the ASGI figures need uvicorn and a2wsgi ({module} is not installed); left out"
    return None


def measure_face(workdir: Path, face: str, streams: int, polls: int, seconds: float,
                 ramp: float) -> dict[str, dict[str, Any]]:
    """The streams' and the long-polls' figures of one face (see the module docstring)."""
    path = str(workdir / f"asgi-{face}.db")
    queue = build_queue(path)
    reports = math.ceil((2 * (ramp + SETTLE + seconds) + 30) / PAUSE)
    jobs = queue.start_many("report", [(reports, PAUSE, PAUSE * i / JOBS) for i in range(JOBS)])
    worker = WorkerProcess("lilqueue", path, JOBS, workdir / f"asgi-{face}-worker.log")
    try:
        server = ServerProcess(face, path, streams + polls + 100, workdir / f"asgi-{face}-server.log")
        try:
            return {kind: _phase(server, kind, [(j.id, j.version) for j in jobs], count, seconds, ramp)
                    for kind, count in (("streams", streams), ("polls", polls))}
        finally:
            server.stop()
    finally:
        for job in jobs:
            queue.cancel(job.id)  # a running job stops at its next report: the worker stops at once
        worker.stop()


def _phase(server: ServerProcess, kind: str, jobs: list[tuple[str, int]], count: int, seconds: float,
           ramp: float) -> dict[str, Any]:
    start = time.time() + ramp + min(SETTLE, ramp)
    end = start + seconds
    clients = [jobs[i % len(jobs)] for i in range(count)]
    shares = [clients[i:i + CLIENTS_EACH] for i in range(0, count, CLIENTS_EACH)]
    rss_before = server.rss_mb() or 0.0
    children = [_client({"kind": kind, "port": server.port, "clients": share, "ramp": ramp, "start": start,
                         "end": end}) for share in shares]
    probe = _client({"kind": "probe", "port": server.port, "clients": [], "ramp": 0, "start": start, "end": end})
    peak = {"rss": rss_before}

    def sample_rss() -> None:
        while time.time() < end:
            peak["rss"] = max(peak["rss"], server.rss_mb() or 0.0)
            time.sleep(0.5)

    sampler = threading.Thread(target=sample_rss, daemon=True)
    sampler.start()
    time.sleep(max(0.0, start - time.time()))
    cpu0, wall0 = server.cpu_seconds(), time.monotonic()
    time.sleep(max(0.0, end - time.time()))
    cpu1, wall = server.cpu_seconds(), time.monotonic() - wall0
    sampler.join()
    results = [_result(child, seconds) for child in children]
    host = _result(probe, seconds)
    lat = [ms for r in results for ms in r["latencies"]]
    return {"clients": count, "p50": _median(lat), "p99": _p99(lat),
            "events": sum(r["events"] for r in results), "errors": sum(r["errors"] for r in results),
            "per_second": sum(r["events"] for r in results) / seconds,
            "rss_per_1000": (peak["rss"] - rss_before) * 1000 / count,
            "cpu": None if cpu0 is None or cpu1 is None else (cpu1 - cpu0) / wall * 100,
            "host_p50": _median(host["latencies"]), "host_p99": _p99(host["latencies"]),
            "host_errors": host["errors"]}


def _client(spec: dict[str, Any]) -> subprocess.Popen:
    child = subprocess.Popen([sys.executable, "-m", "lilqueue.bench.asyncclients"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, start_new_session=True)
    child.stdin.write(json.dumps(spec))
    child.stdin.close()
    return child


def _result(child: subprocess.Popen, seconds: float) -> dict[str, Any]:
    try:
        out = child.stdout.read()
        child.wait(30 + seconds)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    if child.returncode:
        raise RuntimeError(f"a client process of the ASGI figures failed (exit {child.returncode})")
    return json.loads(out)


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _p99(values: list[float]) -> float | None:
    return percentile(values, 99) if values else None


def asgi_vs_wsgi(plan: Plan, out: Any = print) -> list[Figure]:
    """The two faces' figures, the ASGI face in lilqueue's column and the WSGI face as its peer."""
    import uvicorn

    fast = [m for m in ("uvloop", "httptools") if importlib.util.find_spec(m)]
    files = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    out(f"uvicorn {uvicorn.__version__} ({' and '.join(fast) or 'asyncio and h11'}), one worker, no access log;"
        f" {JOBS} jobs reporting every {PAUSE:g} s; open files: up to {files:,} per process")
    if files < plan.asgi_streams + plan.asgi_polls + 100:
        out(f"  the open-file limit caps the server below {plan.asgi_streams:,} streams: expect errors")
    with tempfile.TemporaryDirectory(prefix="lilqueue-bench-asgi-") as tmp:
        ours, peer = (measure_face(Path(tmp), face, plan.asgi_streams, plan.asgi_polls, plan.asgi_seconds,
                                   plan.asgi_ramp) for face in FACES)
    s, ps, p, pp = ours["streams"], peer["streams"], ours["polls"], peer["polls"]
    expected = plan.asgi_streams * 1 / PAUSE
    return [
        Figure(f"uvicorn, {s['clients']} event streams on {JOBS} jobs (1 report/s each): progress p50", "ms",
               s["p50"], ps["p50"], "", lower_is_better=True),
        Figure(f"  streams' progress p99 ({s['events']} / {ps['events']} events, {s['errors']} / {ps['errors']}"
               " errors)", "ms", s["p99"], ps["p99"], "<= 250 ms", lower_is_better=True),
        Figure(f"  events delivered (of {expected:,.0f}/s)", "events/s", s["per_second"], ps["per_second"], ""),
        Figure("  server memory added per 1,000 streams", "MB RSS", s["rss_per_1000"], ps["rss_per_1000"],
               "<= 100 MB", lower_is_better=True),
        Figure("  server CPU, streams", "% of a core", s["cpu"], ps["cpu"], "", lower_is_better=True),
        Figure("  host's async route during the streams, p50", "ms", s["host_p50"], ps["host_p50"], "",
               lower_is_better=True),
        Figure("  host's async route during the streams, p99", "ms", s["host_p99"], ps["host_p99"], "<= 50 ms",
               lower_is_better=True),
        Figure(f"uvicorn, {p['clients']} long-poll clients on the same jobs: progress p50", "ms", p["p50"],
               pp["p50"], "", lower_is_better=True),
        Figure(f"  long-polls' progress p99 ({p['events']} / {pp['events']} answers, {p['errors']} / "
               f"{pp['errors']} errors)", "ms", p["p99"], pp["p99"], "<= 250 ms", lower_is_better=True),
        Figure("  server CPU, long-polls", "% of a core", p["cpu"], pp["cpu"], "", lower_is_better=True),
        Figure("  host's async route during the long-polls, p99", "ms", p["host_p99"], pp["host_p99"],
               "<= 50 ms", lower_is_better=True),
    ]
