"""``lilqueue.testing``: immediate mode around a block, a queue moved to a test's own database,
a real worker in the test process, and ``result``; used from a real Flask app's test client and
from Django's own test runner."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

import pytest

import lilqueue
from lilqueue import testing
from tests import engines, tasks
from tests.conftest import ROOT
from tests.test_immediate import snapshot


def test_immediate_holds_for_the_block_and_restores_the_mode(queue):
    with testing.immediate(queue) as same:
        assert same is queue and queue.immediate
        assert testing.result(queue.start("add", [1, 2])) == 3
        with testing.immediate(queue):
            pass
        assert queue.immediate  # an inner block leaves the outer one's mode
    assert not queue.immediate and queue.jobs() == []


def test_result_says_how_a_job_that_did_not_succeed_ended(queue):
    with testing.immediate(queue):
        failed = queue.start("fail", ["disk full"])
    with pytest.raises(AssertionError, match=r"is failed: ValueError: disk full\n.*Traceback"):
        testing.result(failed)
    with pytest.raises(AssertionError, match="is queued"):
        testing.result(queue.start("add", [1, 2]))


def test_a_real_worker_on_a_relocated_queue_leaves_the_apps_database_alone(queue, db_path, tmp_path):
    before = snapshot(db_path)
    with testing.relocated(queue, tmp_path / "test-jobs.db"), testing.worker(queue, threads=2):
        job = queue.start("steps", [3], {"delay": 0})
        done = queue.wait(job.id, timeout=20)
        assert testing.result(done) == {"imported": 3}
        assert (done.progress.current, len(done.logs)) == (3, 1)
    assert queue.path == db_path
    assert snapshot(db_path) == before
    assert engines.sql(str(tmp_path / "test-jobs.db"), "select state from lilqueue_job") == [("succeeded",)]


@pytest.fixture
def shop(monkeypatch, tmp_path, engine, db_path):
    """The Flask shop app, its queue moved to the test's database, in immediate mode."""
    monkeypatch.setenv("SHOP_DB", str(tmp_path / "shop.db"))  # where it opens at its first import
    module = importlib.import_module("tests.apps.shop")
    tasks.build(db_path)  # the tables, as the app's own database would have them
    with testing.relocated(module.queue, db_path), testing.immediate(module.queue):
        yield module


def test_a_flask_view_that_starts_a_job_in_the_test_client(shop, db_path):
    before = snapshot(db_path)
    client = shop.app.test_client()
    answer = client.post("/import", data={"count": 20})
    assert answer.status_code == 202 and answer.json["state"] == "succeeded"
    job = shop.queue.get(answer.json["id"])
    assert (job.result, job.progress.percent) == ({"imported": 20}, 100.0)
    assert [line.message for line in job.logs] == ["cannot import line 17"]
    # The browser's side, through the middleware: the start answers the job finished, GET reads it.
    started = client.post("/jobs/", json={"task": "import_rows", "args": [3]})
    assert started.status_code == 202 and started.json["result"] == {"imported": 3}
    assert client.get(started.json["url"]).json["state"] == "succeeded"
    assert b"succeeded" in client.get(answer.json["status_page"]).data
    refused = client.post("/jobs/", json={"task": "import_rows", "args": ["twenty"]})
    assert refused.status_code == 422 and refused.json["parameter"] == "count"
    assert snapshot(db_path) == before


def test_a_django_view_in_djangos_own_test_runner(tmp_path):
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.apps.django_shop.settings",
               SHOP_DB=str(tmp_path / "shop.db"))
    run = subprocess.run([sys.executable, "-m", "django", "test", "tests.apps.django_shop", "-v", "2"], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Ran 2 tests" in run.stderr and "OK" in run.stderr
    assert engines.sql(str(tmp_path / "shop.db"), "select count(*) from lilqueue_job") == [(0,)]


def test_a_worker_cannot_be_started_in_immediate_mode(queue):
    with testing.immediate(queue), pytest.raises(lilqueue.ConfigurationError):
        with testing.worker(queue):
            pass
