"""When and in which order jobs run: delayed starts (``delay``, ``eta``), priorities, and the
start options bound with ``task.options(...)``, on real worker processes and both engines."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

import lilqueue
from tests import engines
from tests.http_support import request, running


def test_a_delayed_job_is_queued_at_once_and_never_runs_before_its_time(queue, start_worker):
    start_worker(2)
    jobs = [queue.start("add", [i, i], delay=d) for i, d in enumerate([0.6, 1.2, timedelta(seconds=1.8)])]
    for job in jobs:
        assert job.state == "queued" and job.run_at is not None
        assert job.to_dict()["run_at"].endswith("Z")
    time.sleep(0.3)
    assert {queue.get(job.id).state for job in jobs} == {"queued"}
    for job in jobs:
        done = queue.wait(job.id, timeout=20)
        assert done.state == "succeeded"
        assert done.started_at >= job.run_at, (done.started_at, job.run_at)  # never early
        assert (done.started_at - job.run_at).total_seconds() < 3  # and not forgotten
    assert [j.run_at for j in jobs] == sorted(j.run_at for j in jobs)


def test_an_eta_ahead_delays_the_job_and_one_in_the_past_runs_at_once(queue, start_worker):
    start_worker(1)
    ahead = queue.start("add", [1, 2], eta=datetime.now(UTC) + timedelta(seconds=0.8))
    past = queue.start("add", [3, 4], eta=datetime.now(UTC) - timedelta(hours=1))
    assert past.run_at is None
    assert queue.wait(past.id, timeout=10).result == 7
    assert queue.get(ahead.id).state == "queued"
    done = queue.wait(ahead.id, timeout=10)
    assert done.result == 3 and done.started_at >= ahead.run_at


def test_with_one_worker_thread_jobs_run_by_priority_then_in_order_of_start(queue, start_worker):
    priorities = [0, 5, -2, 5, 9, 0, -2, 3]
    jobs = [queue.start("add", [i, 0], priority=p) for i, p in enumerate(priorities)]
    start_worker(1)
    done = [queue.wait(job.id, timeout=20) for job in jobs]
    ran = sorted(done, key=lambda job: job.started_at)
    assert [job.priority for job in ran] == sorted(priorities, reverse=True)
    for first, second in zip(ran, ran[1:], strict=False):
        if first.priority == second.priority:
            assert first.created_at <= second.created_at  # first in, first out among equals


def test_a_requeued_job_keeps_its_priority_and_a_retry_of_it_too(queue, db_path):
    job = queue.start("fail", ["once"], priority=7)
    claim = queue.store.claim("w", time.time())
    assert claim.id == job.id
    queue.store.finish(claim, "w", lilqueue.store.Outcome("failed", retry_in=0.0), lilqueue.store.Final(),
                       time.time(), claim_next=False)
    table = engines.huey_table(db_path, "task")
    assert engines.sql(db_path, f"select priority from {table}") == [(7,)]
    again = queue.store.claim("w", time.time())
    queue.store.finish(again, "w", lilqueue.store.Outcome("failed", error=("ValueError", "once", None)),
                       lilqueue.store.Final(), time.time(), claim_next=False)
    assert queue.retry(job.id).priority == 7


def test_the_tasks_priority_is_the_default_and_options_bind_start_options(queue):
    urgent = queue.task(name="urgent", priority=10)(lambda: None)
    assert urgent.start().priority == 10
    assert urgent.options(priority=-1).start().priority == -1
    bound = queue.tasks["add"].options(delay=30, key="sum-1")
    first, second = bound.start(1, 2), bound.start(1, 2)
    assert first.id == second.id and first.run_at is not None and first.args == [1, 2]
    many = queue.tasks["add"].options(priority=4, delay=60).map([(1, 1), (2, 2)])
    assert [(j.priority, j.run_at is not None) for j in many] == [(4, True), (4, True)]
    with pytest.raises(TypeError, match="unknown start option"):
        queue.tasks["add"].options(countdown=5)
    with pytest.raises(TypeError, match="one key"):
        bound.map([(1, 2)])


@pytest.mark.parametrize("options, says", [
    ({"delay": -1}, "delay must be seconds"),
    ({"delay": float("nan")}, "delay must be seconds"),
    ({"delay": "5"}, "delay must be seconds"),
    ({"delay": 10 ** 9}, "delay must be seconds"),
    ({"delay": 5, "eta": datetime.now(UTC)}, "not both"),
    ({"eta": datetime.now()}, "aware datetime"),
    ({"eta": datetime.now(UTC) + timedelta(days=400)}, "at most"),
    ({"priority": 1.5}, "priority must be"),
    ({"priority": True}, "priority must be"),
    ({"priority": 10 ** 7}, "priority must be"),
])
def test_a_bad_delay_eta_or_priority_is_invalid_arguments_and_writes_nothing(queue, db_path, options, says):
    with pytest.raises(lilqueue.InvalidArguments, match=says):
        queue.start("add", [1, 2], **options)
    assert engines.sql(db_path, "select count(*) from lilqueue_job") == [(0,)]


@pytest.mark.parametrize("options", [{"priority": "high"}, {"priority": 2 ** 40}])
def test_a_bad_task_priority_fails_at_decoration(queue, options):
    with pytest.raises(lilqueue.ConfigurationError, match="priority"):
        queue.task(name="bad", **options)(lambda: None)


def test_a_bad_priority_is_told_the_same_bounds_at_decoration_and_at_start(queue):
    with pytest.raises(lilqueue.ConfigurationError) as decorated:
        queue.task(name="bad", priority=-10 ** 7)(lambda: None)
    with pytest.raises(lilqueue.InvalidArguments) as started:
        queue.start("add", [1, 2], priority=-10 ** 7)
    assert started.value.detail == str(decorated.value) == (
        "priority must be a whole number from -1000000 to 1000000, not -10000000")


def test_a_start_over_http_may_be_delayed_within_a_bound(queue, db_path):
    with running(queue.middleware()) as base:
        started = request(base, "POST", "/jobs/", {"task": "add", "args": [1, 2], "delay": 30})
        assert started.status == 202 and started.json()["run_at"] is not None
        assert started.json()["state"] == "queued"
        too_far = request(base, "POST", "/jobs/", {"task": "add", "args": [1, 2], "delay": 10 ** 6})
        assert too_far.status == 422 and "delay" in too_far.json()["detail"]
        not_a_number = request(base, "POST", "/jobs/", {"task": "add", "args": [1, 2], "delay": "soon"})
        assert not_a_number.status == 400
        priority = request(base, "POST", "/jobs/", {"task": "add", "args": [1, 2], "priority": 9})
        assert priority.status == 400  # visitors may not jump the queue
        described = request(base, "GET", "/jobs/openapi.json").json()
    assert described["components"]["schemas"]["StartRequest"]["properties"]["delay"]["maximum"] == 86400
    assert engines.sql(db_path, "select count(*) from lilqueue_job") == [(1,)]
