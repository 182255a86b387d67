"""The benchmark's PostgreSQL half: which engines it measures, and its contestants (each in a
schema of its own, dropped afterwards). The figures themselves are not checked: the benchmark
never fails on speed (CI runs ``python -m lilqueue bench --quick`` for that)."""

from __future__ import annotations

import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lilqueue.bench import command, pgserver
from lilqueue.bench.figures import Plan
from lilqueue.bench.pgcontestant import PgContestant
from lilqueue.bench.pgrun import on_server
from lilqueue.bench.run import measure_drain, measure_enqueue, measure_idle
from tests import engines

# One at a time: the SIGTERM test waits for a worker of a schema named bench_*, which the other
# tests of this file and of test_bench_growth.py (same group) would also create beside it.
pytestmark = pytest.mark.xdist_group("bench-postgres")


NOBODY = "postgresql://postgres@127.0.0.1:1/test"  # no server listens on port 1


def test_auto_measures_sqlite_only_when_postgres_is_absent(monkeypatch):
    for ci in ("", "true"):
        monkeypatch.setenv("CI", ci)
        chosen, note = command.choose("auto", NOBODY)
        assert chosen == ["sqlite"]
        assert note.startswith("PostgreSQL: cannot connect to postgresql://postgres@127.0.0.1:1/test")
        assert "measuring SQLite only" in note and "\n" not in note


def test_sqlite_alone_does_not_look_for_a_server():
    assert command.choose("sqlite", NOBODY) == (["sqlite"], None)


def test_asking_for_postgres_without_a_server_is_an_error(capsys):
    assert command.main(quick=True, engine="postgres", postgres=NOBODY) == command.EXIT_ERROR
    assert command.main(quick=True, engine="both", postgres=NOBODY) == command.EXIT_ERROR
    assert "--engine both: cannot connect to" in capsys.readouterr().err


def test_an_unknown_engine_is_an_error(monkeypatch, capsys):
    monkeypatch.setenv("LILQUEUE_BENCH_ENGINE", "mysql")
    assert command.main(quick=True) == command.EXIT_ERROR
    assert "--engine must be one of auto, sqlite, postgres, both" in capsys.readouterr().err


def test_the_server_url_and_schemas(monkeypatch):
    monkeypatch.delenv("LILQUEUE_BENCH_POSTGRES", raising=False)
    monkeypatch.setenv("LILQUEUE_TEST_POSTGRES", "postgresql://a@b/c")
    assert pgserver.server_url(None) == "postgresql://a@b/c"
    monkeypatch.setenv("LILQUEUE_BENCH_POSTGRES", "postgresql://x@y/z")
    assert pgserver.server_url(None) == "postgresql://x@y/z"
    assert pgserver.server_url("postgresql://given@h/d") == "postgresql://given@h/d"
    assert pgserver.with_schema("postgresql://u@h/d?schema=old&sslmode=disable", "new") == \
        "postgresql://u@h/d?sslmode=disable&schema=new"
    assert pgserver.redacted("postgresql://u:secret@h/d") == "postgresql://u:***@h/d"
    assert pgserver.unreachable("/tmp/jobs.db") == "'/tmp/jobs.db' is not a postgresql:// URL"


def test_the_command_line_help():
    done = subprocess.run([sys.executable, "-m", "lilqueue", "bench", "--help"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0
    assert "--engine {auto,sqlite,postgres,both}" in done.stdout and "--postgres URL" in done.stdout


@pytest.fixture
def server(pg_url: str) -> str:
    """The test server's URL (``pg_url``: skipped without PostgreSQL, failed under CI=true)."""
    return engines.POSTGRES


def _schemas_named(server: str, label: str) -> list[str]:
    with pgserver.connect(server) as conn:
        return [r[0] for r in conn.execute("select nspname from pg_namespace where nspname like %s",
                                           (f"bench_{label}%",)).fetchall()]


def test_contestants_on_postgres_drain_and_drop_their_schemas(server: str, tmp_path: Path):
    label = f"t{secrets.token_hex(4)}"
    with pgserver.Schemas(server) as schemas:
        make = on_server(schemas, tmp_path)
        tagged = lambda kind, name: make(kind, f"{label}_{name}")  # noqa: E731
        for kind in ("lilqueue", "huey"):
            assert measure_enqueue(tagged, 20, "enq", kind) > 0
            assert measure_drain(tagged, 30, 2, kind, 0) > 0
        assert _schemas_named(server, label) == []  # each dropped as its contestant finished
    assert _schemas_named(server, label) == []


def test_idle_pickup_and_the_server_backends_cpu(server: str, tmp_path: Path):
    plan = Plan.quick()
    plan.pickups, plan.idle_before_pickup, plan.idle_window, plan.long_idle = 3, 0.05, 0.3, 0.0
    label = f"t{secrets.token_hex(4)}"
    with pgserver.Schemas(server) as schemas:
        make = lambda kind, name: PgContestant(kind, schemas, tmp_path, f"{label}_{name}")  # noqa: E731
        for kind in ("lilqueue", "huey"):
            idle = measure_idle(make, kind, plan)
            assert 0 < idle["p50"] <= idle["p99"] < 60_000
            assert idle["cpu"] is not None and idle["rss"] > 0
            if pgserver.BackendCpu(server, 0).local:  # its backends' /proc is on this machine
                assert idle["server_cpu"] is not None and idle["server_cpu"] >= 0
    assert _schemas_named(server, label) == []


def _bench_processes(schemas: set[str]) -> list[str]:
    """Command lines of live processes that name one of ``schemas`` (the bench's children)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            line = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(schema in line for schema in schemas):
            found.append(line)
    return found


def test_sigterm_stops_a_run_and_leaves_no_schema_and_no_process_behind(server: str):
    before = set(_schemas_named(server, ""))
    run = subprocess.Popen([sys.executable, "-m", "lilqueue", "bench", "--quick", "--engine", "postgres",
                            "--postgres", server], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        # Wait for a contestant whose worker process runs: then there is something to clean up.
        seen: set[str] = set()
        deadline = time.monotonic() + 120
        while not _bench_processes(seen) and time.monotonic() < deadline and run.poll() is None:
            seen |= set(_schemas_named(server, "")) - before
            time.sleep(0.05)
        assert _bench_processes(seen), "no bench worker process was seen running"
        run.send_signal(signal.SIGTERM)
        _, err = run.communicate(timeout=90)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == command.EXIT_TERMINATED, err
    assert err.strip().endswith("lilqueue bench: stopped by SIGTERM"), err
    assert set(_schemas_named(server, "")) - before == set()
    assert _bench_processes(seen) == []


def test_sigterm_inside_a_query_whose_cleanup_then_fails_is_still_a_stop_by_sigterm():
    # The signal can land while psycopg waits on a query; peewee's ROLLBACK then fails with
    # "another command is already in progress", and that error would replace the stop.
    with pytest.raises(command._Terminated) as stopped:
        with command._terminable():
            try:
                signal.raise_signal(signal.SIGTERM)
            finally:
                raise RuntimeError("sending query failed: another command is already in progress")
    assert isinstance(stopped.value.__cause__, RuntimeError)


def test_an_error_without_sigterm_is_left_as_it_is():
    with pytest.raises(ValueError, match="not a stop"):
        with command._terminable():
            raise ValueError("not a stop")
