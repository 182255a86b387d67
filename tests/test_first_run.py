"""A first run that cannot fail: processes opening one fresh database (a SQLite file, a
PostgreSQL schema) at once all succeed, the worker names the database it serves (a file by its
absolute path, a URL without its password), and with no live worker the job JSON says so."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from tests import engines
from tests.conftest import ROOT, wait_for
from tests.http_support import post_json, request, running
from tests.tasks import build

OPEN = """
import sys, time
import lilqueue
start_at = float(sys.argv[2])
time.sleep(max(0.0, start_at - time.time()))
queue = lilqueue.Queue(sys.argv[1])
queue.task()(print)
print("opened", queue.store.location)
"""


def test_processes_opening_one_fresh_database_at_the_same_moment_all_succeed(db_path, engine, tmp_path):
    """Eight processes create the tables of one fresh database at once: one SQLite file, or one
    PostgreSQL schema that none of them has yet."""
    failures = []
    for round_ in range(6):
        where = tmp_path / f"round-{round_}"
        where.mkdir()
        location = engines.fresh(engine, where)
        start_at = time.time() + 1.5  # past every child's imports: they open together
        try:
            children = [subprocess.Popen([sys.executable, "-c", OPEN, location, repr(start_at)], cwd=ROOT,
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                        for _ in range(8)]
            for child in children:
                output, _ = child.communicate(timeout=60)
                if child.returncode != 0:
                    failures.append(output.strip().splitlines()[-1])
            if not failures:
                assert engines.sql(location, "select count(*) from lilqueue_job") == [(0,)]
        finally:
            engines.drop(location)
    assert not failures, f"{len(failures)} of 48 first opens failed: {failures[:3]}"


def test_the_worker_logs_where_its_database_is_a_file_by_its_absolute_path_a_url_without_its_password(
        db_path, tmp_path):
    if engines.is_postgres(db_path):
        served = db_path.replace("://postgres@", "://postgres:s3cret-pw@", 1)  # trust auth: never asked for
        expected = db_path.replace("://postgres@", "://postgres:***@", 1)
        assert served != db_path
    else:
        served, expected = "relative.db", str(tmp_path / "relative.db")
    env = dict(os.environ, LILQUEUE_TEST_DB=served, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    worker = subprocess.Popen([sys.executable, "-m", "lilqueue", "worker", "tests.tasks:queue"], cwd=tmp_path,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        for line in worker.stdout:
            lines.append(line)
            if "started" in line:
                break
        assert f"on {expected}," in "".join(lines), lines
    finally:
        worker.terminate()
        output, _ = worker.communicate(timeout=20)
    assert "s3cret-pw" not in "".join(lines) + output


def test_a_queued_job_says_when_no_worker_is_alive(queue, start_worker):
    with running(queue.middleware()) as base:
        job = post_json(base, "/jobs/", {"task": "sleepy", "args": [0.5]}).json()
        assert job["state"] == "queued" and job["no_worker"] is True
        assert request(base, "GET", f"/jobs/{job['id']}").json()["no_worker"] is True
        start_worker()
        began = time.monotonic()
        wait_for(lambda: post_json(base, "/jobs/", {"task": "noop"}).json()["no_worker"] is False, timeout=10,
                 interval=0.1, what="a new queued job knowing that a worker runs")
        assert time.monotonic() - began < 2.5  # the web process reads worker presence once a second
        now = request(base, "GET", f"/jobs/{job['id']}").json()
        assert now["no_worker"] is False


def test_no_worker_is_true_once_the_last_worker_stopped(queue, start_worker):
    worker = start_worker()
    worker.close()
    with running(queue.middleware()) as base:
        job = post_json(base, "/jobs/", {"task": "noop"}).json()
        assert job["no_worker"] is True


def test_a_worker_that_stopped_heartbeating_counts_as_gone(db_path):
    queue = build(db_path, heartbeat_timeout=1.0)
    queue.store.register("ghost:1:abc", "ghost", 1, 1, time.time())
    with running(queue.middleware()) as base:
        assert post_json(base, "/jobs/", {"task": "noop"}).json()["no_worker"] is False
        time.sleep(2.2)  # past heartbeat_timeout and the 1 s cache
        assert post_json(base, "/jobs/", {"task": "noop"}).json()["no_worker"] is True
