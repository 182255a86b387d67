"""Immediate mode (``queue.immediate``): ``start()`` runs the job in the calling thread, in a private
database; the queue's own file or PostgreSQL schema is never written meanwhile."""

from __future__ import annotations

import os
import threading
import time

import pytest

import lilqueue
from lilqueue.store.pgdatabase import Location
from tests import engines, tasks
from tests.conftest import wait_for
from tests.http_support import post_json, request, serving


def snapshot(location: str) -> dict[str, list]:
    """Every row of every table of the queue's database (lilqueue's and Huey's), sorted."""
    if engines.is_postgres(location):
        names = [r[0] for r in engines.sql(location, "select table_name from information_schema.tables"
                                           " where table_schema = ?", (Location.parse(location).schema,))]
    else:
        names = [r[0] for r in engines.sql(location, "select name from sqlite_master where type = 'table'")]
    assert "lilqueue_job" in names
    return {name: sorted(map(repr, engines.sql(location, f"select * from {name}"))) for name in names}


@pytest.fixture
def immediate(queue):
    queue.start("add", [1, 1])  # a job of the queue's own, which immediate mode must not see or touch
    queue.immediate = True
    yield queue
    queue.immediate = False


def test_start_returns_the_job_finished_with_its_result_logs_and_progress(immediate):
    job = immediate.start("steps", [3], {"delay": 0})
    assert (job.state, job.result, job.attempts) == ("succeeded", {"imported": 3}, 1)
    assert (job.progress.current, job.progress.total, job.progress.message) == (3, 3, "step 3")
    assert [line.message for line in job.logs] == ["cannot import line 3"]
    assert immediate.get(job.id) == job
    assert [j.id for j in immediate.jobs()] == [job.id]


def test_a_failing_task_never_raises_out_of_start_its_job_holds_the_error(immediate):
    job = immediate.start("fail", ["no such file"])
    assert job.state == "failed"
    assert (job.error.type, job.error.message) == ("ValueError", "no such file")
    assert "raise ValueError(message)" in job.error.traceback
    with pytest.raises(lilqueue.InvalidArguments):  # a bad start is still refused at the door
        immediate.start("add", [1])


def test_retries_run_at_once_with_their_delays_skipped(immediate):
    began = time.monotonic()
    job = immediate.start("backs_off", ["down"])  # 3 retries, 0.2 s doubling: 0.6 s at the least
    assert time.monotonic() - began < 0.5
    assert (job.state, job.attempts) == ("failed", 4)
    assert sum("retrying in 0 s" in line.message for line in job.logs) == 3
    assert immediate.start("flaky", [2]).result == 3


def test_a_delayed_start_runs_at_once(immediate):
    job = immediate.start("add", [2, 3], delay=3600)
    assert (job.state, job.result, job.run_at) == ("succeeded", 5, None)


def test_timeouts_and_isolation_still_hold(immediate):
    began = time.monotonic()
    timed = immediate.start("timed", [30])  # sleeps 30 s, its timeout is 0.5 s
    assert time.monotonic() - began < 10
    assert (timed.state, timed.error.type) == ("failed", "TimeoutError")
    crashed = immediate.start("crash", [3])  # os._exit in its own process: this one lives on
    assert (crashed.state, crashed.error.type) == ("failed", "ChildProcessError")
    assert immediate.start("spin", [0.05]).result == "spun"


def test_a_job_canceled_from_another_thread_ends_canceled(immediate):
    ended = []
    runner = threading.Thread(target=lambda: ended.append(immediate.start("sleepy", [30])))
    runner.start()
    running = wait_for(lambda: [j for j in immediate.jobs(state="running")], what="the job running")
    immediate.cancel(running[0].id)
    runner.join(10)
    assert ended and ended[0].state == "canceled"


def test_starts_on_many_threads_each_return_their_own_job_finished(immediate):
    results: dict[int, lilqueue.Job] = {}

    def start(i: int) -> None:
        results[i] = immediate.start("add", [i, 100])

    threads = [threading.Thread(target=start, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert {i: (job.state, job.result) for i, job in results.items()} == {i: ("succeeded", i + 100) for i in range(8)}


def test_map_runs_every_job_before_it_returns(immediate):
    jobs = immediate.tasks["add"].map([(1, 2), (3, 4)])
    assert [(j.state, j.result) for j in jobs] == [("succeeded", 3), ("succeeded", 7)]


def test_nothing_is_written_to_the_queues_database_and_switching_off_returns_to_it(queue, db_path):
    queue.start("add", [1, 1])
    before = snapshot(db_path)
    queue.immediate = True
    private = queue.store.location
    assert os.path.exists(private)
    queue.start("steps", [2], {"delay": 0})
    queue.start("fail")
    queue.tasks["add"].map([(1, 2)] * 5)
    assert len(queue.jobs()) == 7
    assert snapshot(db_path) == before
    queue.immediate = False
    assert not os.path.exists(private)
    assert [j.task for j in queue.jobs()] == ["add"]  # the queue's own job; the private ones are gone
    assert queue.start("add", [2, 2]).state == "queued"
    assert len(snapshot(db_path)["lilqueue_job"]) == 2


def test_a_queue_made_immediate_does_not_open_its_own_database(tmp_path, db_path):
    queue = tasks.build(db_path, immediate=True)
    assert queue.start("add", [1, 2]).result == 3
    if engines.is_postgres(db_path):
        schema = Location.parse(db_path).schema
        assert engines.sql(db_path, "select 1 from pg_namespace where nspname = ?", (schema,)) == []
    else:
        assert not os.path.exists(db_path)
    queue.immediate = False
    assert queue.start("add", [1, 2]).state == "queued"  # opened now
    assert engines.sql(db_path, "select count(*) from lilqueue_job")[0][0] == 1


def test_no_worker_is_started_for_an_immediate_queue(immediate):
    with pytest.raises(lilqueue.ConfigurationError, match="immediate mode"):
        immediate.worker()


def test_a_task_that_starts_a_job_finds_it_finished(immediate):
    @immediate.task
    def outer(n: int) -> str:
        inner = immediate.start("add", [n, n])
        return f"{inner.state} {inner.result}"

    assert immediate.start("outer", [4]).result == "succeeded 8"


def test_the_middleware_answers_a_start_with_the_job_finished(immediate, face):
    with serving(immediate, face) as serve:
        base = serve()
        answer = post_json(base, "/jobs/", {"task": "add", "args": [20, 22]})
        assert answer.status == 202
        assert (answer.json()["state"], answer.json()["result"]) == ("succeeded", 42)
        read = request(base, "GET", f"/jobs/{answer.json()['id']}?since=1&wait=5")
        assert read.status == 200 and read.json()["result"] == 42
        assert post_json(base, "/jobs/", {"task": "add", "args": ["x", 1]}).json()["state"] == "failed"
