"""``python -m lilqueue bench --json FILE``: every figure of a real run, machine-readable, and a
FILE that cannot be written refused before anything is measured. The figures' speed is not
checked (the benchmark never fails on speed), only that they were measured."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from lilqueue.bench import command
from lilqueue.bench.figures import Figure

ROOT = Path(__file__).resolve().parent.parent


def _bench(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lilqueue", "bench", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def _figure(figures: list[dict], starts: str) -> dict:
    found = [f for f in figures if f["name"].startswith(starts)]
    assert len(found) == 1, [f["name"] for f in figures]
    return found[0]


def _quick_run(tmp_path: Path) -> tuple[str, dict]:
    """The tables and the JSON document of a quick run: the run .ci/run makes just before the
    suite (``LILQUEUE_BENCH_RUN`` names the directory of its tables.txt and figures.json), so
    that CI measures once; without it, a run on SQLite made here."""
    given = os.environ.get("LILQUEUE_BENCH_RUN")
    if given:
        return (Path(given) / "tables.txt").read_text(), json.loads((Path(given) / "figures.json").read_text())
    out = tmp_path / "figures.json"
    done = _bench("--quick", "--engine", "sqlite", "--json", str(out))
    assert done.returncode == 0, done.stderr
    return done.stdout, json.loads(out.read_text())


def test_a_quick_run_writes_every_figure_it_measured_to_the_file(tmp_path: Path):
    tables, doc = _quick_run(tmp_path)
    assert "ratio > 1: lilqueue better" in tables  # the table is printed as usual
    assert doc["plan"] == "quick" and doc["lilqueue"] and doc["python"] and doc["platform"]
    started = datetime.fromisoformat(doc["started_at"])
    assert started.utcoffset() == timedelta(0)
    assert list(doc["engines"]) in (["sqlite"], ["sqlite", "postgres"])
    for engine_figures in doc["engines"].values():
        for figure in engine_figures:
            assert set(figure) == {"name", "unit", "lilqueue", "peer", "peer_name", "ratio", "target",
                                   "lower_is_better"}
            assert figure["name"] in tables
    if "postgres" in doc["engines"]:  # the same run went on to PostgreSQL
        pg_drain = _figure(doc["engines"]["postgres"], "drain 1000 no-op jobs, 1 thread(s)")
        assert pg_drain["peer_name"] == "PostgresHuey" and pg_drain["target"] == ">= 1.5x"
        assert pg_drain["lilqueue"] > 0 and pg_drain["peer"] > 0
    figures = doc["engines"]["sqlite"]
    enqueue = _figure(figures, "enqueue, one job per start(), 1 thread(s)")
    assert enqueue["lilqueue"] > 0 and enqueue["peer"] > 0 and enqueue["peer_name"] == "SqliteHuey"
    assert abs(enqueue["ratio"] - enqueue["lilqueue"] / enqueue["peer"]) < 1e-9
    assert enqueue["unit"] == "jobs/s" and enqueue["target"] == ">= 1.0x" and enqueue["lower_is_better"] is False
    drain = _figure(figures, "drain 1000 no-op jobs, 1 thread(s)")
    assert drain["lilqueue"] > 0 and drain["peer"] > 0
    bulk = _figure(figures, "bulk start_many(")
    assert bulk["lilqueue"] > 0 and bulk["peer"] > 0 and bulk["peer_name"] == "SqliteHuey"
    assert bulk["target"] == ">= 1.0x" and drain["target"] == ">= 1.2x"
    streams = _figure(figures, "200 event streams on 20 jobs: change to all, p50")
    assert streams["unit"] == "ms" and 0 < streams["lilqueue"] < 60_000
    pickup = _figure(figures, "idle pickup p50")
    assert pickup["lower_is_better"] is True and 0 < pickup["lilqueue"] < 60_000
    growth = [f for f in figures if f["peer_name"] == "empty table"]
    assert [f["name"] for f in growth] == [
        "queue.start() on 50,000 finished jobs", "queue.get() of a job on 50,000 finished jobs",
        "a worker's claim of a queued job on 50,000 finished jobs",
        "progress write to a waiting long-poll request on 50,000 finished jobs"]
    for figure in growth:
        assert figure["lilqueue"] > 0 and figure["peer"] > 0 and figure["ratio"] > 0
        assert figure["unit"] == "ms" and figure["target"] == ">= 0.8x" and figure["lower_is_better"] is True
    faces = [f for f in figures if f["peer_name"] == "WSGI face (a2wsgi)"]
    assert [f["name"].split(" (")[0] for f in faces] == [
        "uvicorn, 200 event streams on 100 jobs", "streams' progress p99", "events delivered",
        "server memory added per 1,000 streams", "server CPU, streams", "host's async route during the streams, p50",
        "host's async route during the streams, p99", "uvicorn, 50 long-poll clients on the same jobs: progress p50",
        "long-polls' progress p99", "server CPU, long-polls", "host's async route during the long-polls, p99"]
    for figure in faces:  # both faces measured; how fast is not checked
        assert figure["lilqueue"] is not None and figure["peer"] is not None, figure
    streams_p99 = _figure(figures, "streams' progress p99")
    assert streams_p99["unit"] == "ms" and streams_p99["target"] == "<= 250 ms" and streams_p99["lower_is_better"]
    assert 0 < streams_p99["lilqueue"] < 60_000 and 0 < streams_p99["peer"] < 60_000
    assert _figure(figures, "events delivered")["lilqueue"] > 0


def test_a_file_that_cannot_be_written_is_refused_in_one_line_before_the_run(tmp_path: Path):
    for bad in (tmp_path / "missing" / "figures.json", tmp_path):
        began = time.monotonic()
        done = _bench("--quick", "--engine", "sqlite", "--json", str(bad), timeout=60)
        assert done.returncode == command.EXIT_ERROR
        assert time.monotonic() - began < 30  # nothing was measured
        assert done.stdout == ""
        assert done.stderr.startswith(f"lilqueue bench: --json {bad}: cannot write there (")
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert not (tmp_path / "missing").exists()


def test_the_check_leaves_no_file_behind_and_an_existing_one_alone(tmp_path: Path):
    from lilqueue.bench.report import unwritable

    new = tmp_path / "new.json"
    assert unwritable(str(new)) is None and not new.exists()
    old = tmp_path / "old.json"
    old.write_text("kept")
    assert unwritable(str(old)) is None and old.read_text() == "kept"
    assert unwritable("-") is None


def test_json_on_standard_output_sends_the_tables_to_stderr(monkeypatch, capsys):
    def measure(engines, plan, url, report):
        print("the table")
        report.add("sqlite", [Figure("enqueue", "jobs/s", 300.0, 200.0, ">= 1.0x"),
                              Figure("  idle worker CPU", "% of a core", None, 0.2, lower_is_better=True),
                              Figure("bulk", "jobs/s", float("nan"))], "SqliteHuey")

    monkeypatch.setattr(command, "measure", measure)
    assert command.main(quick=True, engine="sqlite", json_path="-") == 0
    out, err = capsys.readouterr()
    assert "the table" in err and "the table" not in out
    doc = json.loads(out)
    assert doc["plan"] == "quick"
    assert doc["engines"]["sqlite"] == [
        {"name": "enqueue", "unit": "jobs/s", "lilqueue": 300.0, "peer": 200.0, "peer_name": "SqliteHuey",
         "ratio": 1.5, "target": ">= 1.0x", "lower_is_better": False},
        {"name": "idle worker CPU", "unit": "% of a core", "lilqueue": None, "peer": 0.2, "peer_name": "SqliteHuey",
         "ratio": None, "target": None, "lower_is_better": True},
        {"name": "bulk", "unit": "jobs/s", "lilqueue": None, "peer": None, "peer_name": None, "ratio": None,
         "target": None, "lower_is_better": False}]
