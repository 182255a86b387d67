"""The PostgreSQL half of ``python -m lilqueue bench``: lilqueue's PostgreSQL engine beside raw
PostgresHuey on one server, in one run; each contestant in a fresh schema, dropped after.

Measured: enqueue, bulk, drain with 1 and 4 worker threads (worker processes as on SQLite),
idle pickup p50/p99, the idle worker's CPU (and its server backends') and memory, and progress
to a long-poll client. Targets from the issue: drain >= 1.0x PostgresHuey, pickup p50 <= 10 ms,
progress to client p50 <= 20 ms.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import huey

from .figures import Figure, Plan
from .flows import batch_figures
from .pgcontestant import PgContestant
from .pgserver import Schemas, connect, redacted
from .phases import phase_figures
from .run import Make, queue_figures
from .web import measure_progress_latency

TARGETS = {"drain 1": ">= 1.5x", "enqueue 1": ">= 1.0x", "pickup p50": "<= 10 ms"}


def on_server(schemas: Schemas, workdir: Path) -> Make:
    return lambda kind, label: PgContestant(kind, schemas, workdir, label)


def describe(url: str) -> str:
    import psycopg

    with connect(url) as conn:
        version = conn.execute("show server_version").fetchone()[0]
        commit = conn.execute("show synchronous_commit").fetchone()[0]
    return (f"PostgreSQL {version} at {redacted(url)} (synchronous_commit={commit} on both), psycopg"
            f" {psycopg.__version__}; lilqueue vs huey {huey.__version__} PostgresHuey, each in a fresh schema")


def run_postgres(plan: Plan, url: str, out: Callable[[str], None] = print) -> list[Figure]:
    out(describe(url))
    with tempfile.TemporaryDirectory(prefix="lilqueue-bench-pg-") as tmp, Schemas(url) as schemas:
        workdir = Path(tmp)
        figures = queue_figures(on_server(schemas, workdir), plan, TARGETS)
        figures += phase_figures(on_server(schemas, workdir), plan.enqueue)
        location = schemas.fresh("latency")
        try:
            latency = measure_progress_latency(workdir, plan.latency_updates, 0.25, location)
        finally:
            schemas.drop(location)
        location = schemas.fresh("batch")
        try:
            batch = batch_figures(workdir, plan, location)
        finally:
            schemas.drop(location)
    figures.append(Figure(f"progress() to long-poll client p50 ({latency['samples']} updates)", "ms",
                          latency["p50"], None, "<= 20 ms", lower_is_better=True))
    figures.append(Figure("progress() to long-poll client p99", "ms", latency["p99"], None, "",
                          lower_is_better=True))
    return figures + batch
