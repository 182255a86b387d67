"""How much of a task may pile up or run at once: ``max_pending`` (a start past it raises Busy,
429 over HTTP, and writes nothing) and ``concurrency`` (never more running across workers and
processes; the others wait queued, holding no message), on real workers and both engines."""

from __future__ import annotations

import threading
import time

import pytest

import lilqueue
from lilqueue.store import Final, Outcome, open_store
from tests import engines
from tests.conftest import wait_for
from tests.http_support import request, serving


def most_at_once(db_path: str) -> tuple[int, int]:
    """(the most runs that overlapped, how many runs) from the slots the runs recorded."""
    with open(engines.side_file(db_path, ".slots")) as lines:
        spans = [tuple(map(float, line.split()[1:])) for line in lines]
    edges = sorted([(began, 1) for began, _ in spans] + [(ended, -1) for _, ended in spans],
                   key=lambda edge: (edge[0], edge[1]))  # an end before a start at the same instant
    now = top = 0
    for _, step in edges:
        now += step
        top = max(top, now)
    return top, len(spans)


def messages(db_path: str) -> int:
    return engines.sql(db_path, f"select count(*) from {engines.huey_table(db_path, 'task')}")[0][0]


def test_a_concurrency_limit_holds_across_two_worker_processes_of_four_threads(queue, db_path, start_worker):
    jobs = [queue.start("slotted", [0.15]) for _ in range(16)]
    start_worker(4)
    start_worker(4)
    done = [queue.wait(job.id, timeout=60) for job in jobs]
    assert {(job.state, job.attempts) for job in done} == {("succeeded", 1)}
    top, runs = most_at_once(db_path)
    assert (top, runs) == (2, 16)  # the limit was reached, and never passed


def test_jobs_past_the_limit_wait_queued_without_a_message_so_no_worker_spins(queue, db_path, start_worker):
    jobs = [queue.start("slotted", [1.5]) for _ in range(5)]
    start_worker(4)
    wait_for(lambda: engines.sql(db_path, "select count(*) from lilqueue_job where parked = 1") == [(3,)],
             timeout=15, what="three jobs parked")
    states = sorted(queue.get(job.id).state for job in jobs)
    assert states == ["queued", "queued", "queued", "running", "running"]
    assert messages(db_path) == 0  # nothing for the 4 threads to claim: they sleep
    done = [queue.wait(job.id, timeout=30) for job in jobs]
    assert {job.state for job in done} == {"succeeded"}
    assert most_at_once(db_path) == (2, 5)


def test_the_safety_net_releases_a_parked_job_whose_slot_was_freed_by_a_process_without_the_limit(queue, db_path):
    first, second, third = (queue.start("slotted", [0]) for _ in range(3))
    claims = [queue.store.claim("w", time.time()) for _ in range(3)]
    assert [c.id for c in claims[:2]] == [first.id, second.id] and claims[2] is False  # the third parked
    assert queue.get(third.id).state == "queued" and messages(db_path) == 0
    unaware = open_store(**queue.store.spec)  # no rules: it cannot know the slot it frees
    unaware.finish(claims[0], "w", Outcome("succeeded", result="1"), Final(), time.time(), claim_next=False)
    assert messages(db_path) == 0
    assert queue.store.release_parked() == 1
    assert messages(db_path) == 1 and queue.store.claim("w", time.time()).id == third.id


def test_a_start_past_max_pending_raises_busy_and_writes_nothing_but_a_key_still_finds_its_job(queue, db_path):
    held = queue.start("bounded", key="only-one")
    queue.start("bounded")
    queue.start("bounded")
    with pytest.raises(lilqueue.Busy) as raised:
        queue.start("bounded")
    assert (raised.value.task, raised.value.limit) == ("bounded", 3)
    with pytest.raises(lilqueue.Busy):
        queue.tasks["bounded"].map([(), ()])
    assert queue.start("bounded", key="only-one").id == held.id  # keys before limits
    assert engines.sql(db_path, "select count(*) from lilqueue_job") == [(3,)] and messages(db_path) == 3
    queue.cancel(held.id)
    assert queue.start("bounded").state == "queued"  # a finished job frees its place


def test_starts_racing_for_the_last_places_from_16_threads_never_pass_max_pending(queue, db_path):
    outcomes: list[str] = []
    gate = threading.Barrier(16)

    def start():
        gate.wait()
        try:
            queue.start("bounded")
            outcomes.append("started")
        except lilqueue.Busy:
            outcomes.append("busy")

    threads = [threading.Thread(target=start) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["busy"] * 13 + ["started"] * 3
    assert engines.sql(db_path, "select count(*) from lilqueue_job") == [(3,)]


def test_over_http_a_busy_task_is_a_429_problem_with_retry_after_and_nothing_is_written(queue, db_path, face):
    for _ in range(3):
        queue.start("bounded")
    with serving(queue, face) as start:
        base = start()
        answer = request(base, "POST", "/jobs/", {"task": "bounded"})
        listed = request(base, "GET", "/jobs/tasks").json()["tasks"]
    assert answer.status == 429 and answer.headers["Retry-After"] == "1"
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert answer.json()["type"].endswith(":busy") and "3 jobs" in answer.json()["detail"]
    assert engines.sql(db_path, "select count(*) from lilqueue_job") == [(3,)]
    described = {t["name"]: t for t in listed}
    assert (described["bounded"]["max_pending"], described["slotted"]["concurrency"]) == (3, 2)


@pytest.mark.parametrize("options", [{"max_pending": 0}, {"concurrency": 0}, {"concurrency": 1.5},
                                     {"max_pending": True}])
def test_bad_limits_fail_at_decoration(queue, options):
    with pytest.raises(lilqueue.ConfigurationError, match=next(iter(options))):
        queue.task(name="bad", **options)(lambda: None)
