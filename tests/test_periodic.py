"""``@queue.periodic``: once per matching minute, however many workers; a missed slot caught up
at most once; a run still going not doubled; listed in /tasks with its next run. The slot
table is read directly (``lilqueue_slot``)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

import lilqueue
from tests import engines
from tests.conftest import wait_for
from tests.http_support import request, running


def minute(offset: int = 0) -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=offset)


def runs(db_path: str) -> list[tuple[str, float, int]]:
    try:
        with open(engines.side_file(db_path, ".periodic")) as lines:
            return [(job, float(at), int(pid)) for job, at, pid in (line.split() for line in lines)]
    except FileNotFoundError:
        return []


def test_two_worker_processes_run_a_periodic_task_once_per_minute_across_a_boundary(db_path, start_worker):
    queue = lilqueue.Queue(db_path)  # the tables, before the workers start
    # As if the task had run a minute ago: the current minute is then a slot missed, caught up at once.
    engines.sql(db_path, "insert into lilqueue_slot (task, slot, job_id) values (?, ?, null)",
                ("every_minute", minute(-1).timestamp()))
    boundary = minute(1)
    workers = [start_worker(2, target="tests.apps.periodic:queue") for _ in range(2)]
    wait_for(lambda: len(runs(db_path)) >= 1, timeout=20, what="the missed slot caught up")
    wait_for(lambda: datetime.now(UTC) > boundary + timedelta(seconds=4), timeout=75, interval=0.5,
             what="the next minute")
    recorded = runs(db_path)
    assert len(recorded) == 2, recorded  # one per minute: the caught-up one, and the boundary's
    assert recorded[1][1] >= boundary.timestamp()  # not early
    assert recorded[1][1] < boundary.timestamp() + 4  # started within seconds of its minute
    slots = engines.sql(db_path, "select task, slot, job_id from lilqueue_slot")
    assert slots == [("every_minute", boundary.timestamp(), recorded[1][0])]  # older slots deleted
    jobs = queue.jobs(task="every_minute")
    assert sorted(j.id for j in jobs) == sorted(r[0] for r in recorded)
    assert {j.state for j in jobs} == {"succeeded"}
    assert all(w.process.poll() is None for w in workers)


def test_a_new_periodic_task_waits_for_its_next_minute_then_a_missed_slot_runs_at_most_once(queue):
    task = queue.periodic("*/10 * * * *", name="tenth")(lambda: None)
    task_name = task.name
    assert queue.start_slot(task, minute(-30)) is None  # first seen: no catch-up from before it existed
    caught_up = queue.start_slot(task, minute(-10))   # two slots were missed since: one run
    assert caught_up is not None and caught_up.task == task_name
    queue.cancel(caught_up.id)
    assert queue.start_slot(task, minute(-20)) is None  # an older slot (a lagging clock): never
    assert queue.start_slot(task, minute(-10)) is None  # the same slot: never twice


def test_a_slot_that_comes_while_a_run_is_going_is_taken_without_a_second_run(queue, db_path):
    task = queue.periodic("* * * * *", name="beat")(lambda: None)
    queue.start_slot(task, minute(-3))
    first = queue.start_slot(task, minute(-2))
    assert first is not None and queue.store.claim("w", time.time()).id == first.id  # running
    assert queue.start_slot(task, minute(-1)) is None
    assert engines.sql(db_path, "select slot, job_id from lilqueue_slot") == [(minute(-1).timestamp(), None)]
    assert [j.id for j in queue.jobs(task="beat")] == [first.id]


def test_sixteen_threads_offering_one_slot_start_one_job(queue, db_path):
    task = queue.periodic("* * * * *", name="crowded")(lambda: None)
    queue.start_slot(task, minute(-2))
    gate = threading.Barrier(16)
    started: list[object] = []

    def offer():
        gate.wait()
        job = queue.start_slot(task, minute(-1))
        if job is not None:
            started.append(job)

    threads = [threading.Thread(target=offer) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(started) == 1
    assert engines.sql(db_path, "select count(*) from lilqueue_job where task = 'crowded'") == [(1,)]


def test_periodic_tasks_are_listed_with_their_schedule_and_next_run(queue):
    queue.periodic("30 2 * * *", tz="Europe/Paris", name="nightly", retries=2)(lambda: None)
    with running(queue.middleware()) as base:
        listed = {t["name"]: t for t in request(base, "GET", "/jobs/tasks").json()["tasks"]}
    nightly = listed["nightly"]
    assert nightly["retries"] == 2 and nightly["periodic"]["cron"] == "30 2 * * *"
    assert nightly["periodic"]["timezone"] == "Europe/Paris"
    following = datetime.fromisoformat(nightly["periodic"]["next_run"])
    assert timedelta(0) < following - datetime.now(UTC) <= timedelta(days=1, hours=1)
    assert listed["add"]["periodic"] is None


@pytest.mark.parametrize("cron, tz, says", [("61 * * * *", None, "minute"), ("* * * *", None, "not 5"),
                                            ("* * * * *", "Mars/Olympus", "time zone")])
def test_a_bad_schedule_fails_at_decoration(queue, cron, tz, says):
    with pytest.raises(lilqueue.ConfigurationError, match=says):
        queue.periodic(cron, tz=tz, name="bad")(lambda: None)


def test_a_periodic_function_must_take_no_arguments(queue):
    with pytest.raises(lilqueue.ConfigurationError, match="no arguments"):
        queue.periodic("* * * * *", name="bad")(lambda x: x)


def test_the_dashboard_shows_a_periodic_tasks_next_run(queue):
    queue.periodic("0 4 * * *", name="report")(lambda: None)
    with running(queue.middleware(admin=lambda environ: "ops")) as base:
        page = request(base, "GET", "/jobs/admin/").body.decode()
    following = queue.tasks["report"].periodic.next_after(datetime.now(UTC))
    assert f'title="0 4 * * * (UTC)">next {following:%Y-%m-%d} 04:00 UTC</small>' in page
