"""The benchmark's "flat costs as the table grows" figures (``lilqueue/bench/growth.py``): the
full table holds finished jobs that lilqueue counts and no worker takes, and each cost is measured
on both tables. Small tables and few calls: the figures' speed is not checked."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import pytest

from lilqueue.bench import growth, pgserver
from lilqueue.bench.figures import Plan
from tests import engines

pytestmark = pytest.mark.xdist_group("bench-postgres")  # its bench_* schemas: see test_bench_postgres.py


@pytest.fixture
def small(monkeypatch) -> Plan:
    monkeypatch.setattr(growth, "SAMPLES", 10)
    monkeypatch.setattr(growth, "WAKE_UPS", 2)
    monkeypatch.setattr(growth, "WARM", 2)
    plan = Plan.quick()
    plan.growth_rows = 3000
    return plan


def _check(figures, plan: Plan) -> None:
    assert [f.name for f in figures] == [f"{what} on 3,000 finished jobs" for what in growth.COSTS.values()]
    for figure in figures:
        assert figure.lilqueue > 0 and figure.huey > 0 and figure.ratio == figure.huey / figure.lilqueue
        assert figure.unit == "ms" and figure.target == ">= 0.8x" and figure.lower_is_better
    wake_up = figures[-1]
    assert wake_up.lilqueue < 30_000 and wake_up.huey < 30_000  # woken by the write, not by the timeout


def _finished_and_untaken(queue, rows: int) -> None:
    states = queue.stats()["states"]
    assert sum(states.get(state, 0) for state in ("succeeded", "failed", "canceled")) == rows
    assert states.get("queued", 0) == 0 and states.get("running", 0) == 0
    assert all(job.finished_at is not None for job in queue.jobs(limit=20))
    assert queue.store.claim("test", time.time()) is None  # no message: no worker takes them


def test_the_full_file_holds_finished_jobs_that_no_worker_takes(tmp_path: Path):
    queue = growth.full_sqlite(str(tmp_path / "full.db"), 3000)
    try:
        _finished_and_untaken(queue, 3000)
    finally:
        queue.store.database.close_all()


def test_each_cost_is_measured_on_an_empty_and_a_full_file(small: Plan):
    lines: list[str] = []
    figures = growth.sqlite_growth(small, lines.append)
    assert lines == [growth.describe(small)]
    _check(figures, small)


@pytest.fixture
def server(pg_url: str) -> str:
    """The test server's URL (``pg_url``: skipped without PostgreSQL, failed under CI=true)."""
    return engines.POSTGRES


def test_on_postgres_the_same_in_two_schemas_dropped_after(server: str, small: Plan, monkeypatch):
    label = f"t{secrets.token_hex(4)}"
    fresh = pgserver.Schemas.fresh
    monkeypatch.setattr(pgserver.Schemas, "fresh", lambda self, name: fresh(self, f"{label}_{name}"))
    with pgserver.Schemas(server) as schemas:
        queue = growth.full_postgres(schemas.fresh("full"), 3000)
        try:
            _finished_and_untaken(queue, 3000)
        finally:
            queue.store.database.close_all()
    _check(growth.postgres_growth(small, server, lambda line: None), small)
    with pgserver.connect(server) as conn:
        assert conn.execute("select nspname from pg_namespace where nspname like %s",
                            (f"bench_{label}%",)).fetchall() == []
