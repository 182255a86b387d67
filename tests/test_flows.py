"""Pipelines (``a.then(b)``) and batches (``task.batch(items, then=...)``): one parent job per
flow, moved on by its children's ends, on real worker processes (SIGKILLed too), over real HTTP,
on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time

import pytest

import lilqueue
from lilqueue.flows import BATCH_TASK, PIPELINE_TASK
from tests import engines
from tests.conftest import wait_for
from tests.http_support import post_json, request, serving
from tests.reliability.support import duplicates, runs
from tests.test_web import assert_problem, follow


def relay(queue):
    return queue.tasks["relay"]


def children_of(db_path: str, parent: str) -> list[tuple]:
    return engines.sql(db_path, "select step, task, state, args from lilqueue_job where parent = ? order by step",
                       (parent,))


def test_a_pipeline_is_one_job_that_runs_its_steps_in_turn_each_given_the_last_result(queue, db_path, start_worker):
    job = relay(queue).then("relay", 0.05).then("add", 100).start(1, 0.05)
    assert (job.task, job.state, job.flow.kind, job.flow.total) == (PIPELINE_TASK, "queued", "pipeline", 3)
    assert [(c.task, c.state) for c in job.flow.children] == [("relay", "queued"), ("relay", None), ("add", None)]
    assert len(children_of(db_path, job.id)) == 1  # a later step is written when the one before ends
    start_worker()
    done = queue.wait(job.id, timeout=30)
    assert (done.state, done.result, done.error) == ("succeeded", 103, None)
    assert [(step, task, state, json.loads(args)) for step, task, state, args in children_of(db_path, job.id)] == [
        (0, "relay", "succeeded", [1, 0.05]), (1, "relay", "succeeded", [2, 0.05]), (2, "add", "succeeded", [3, 100])]
    assert [c.state for c in done.flow.children] == ["succeeded"] * 3
    assert (done.progress.current, done.progress.total, done.flow.done) == (1, 1, 3)
    assert [line.message for line in done.logs] == ["relay 1", "relay 2"]  # the steps' lines
    steps = {j.id: j for j in queue.jobs() if j.parent == job.id}
    assert sorted(j.step for j in steps.values()) == [0, 1, 2] and all(j.flow is None for j in steps.values())


def test_a_failed_step_fails_the_pipeline_with_its_error_and_no_later_step_runs(queue, db_path, start_worker):
    start_worker()
    job = queue.tasks["add"].then("fail").then("add", 1).start("no such ", "file")
    done = queue.wait(job.id, timeout=30)
    assert (done.state, done.error.type, done.error.message) == ("failed", "ValueError", "no such file")
    assert [(s, t, st) for s, t, st, _ in children_of(db_path, job.id)] == [(0, "add", "succeeded"),
                                                                           (1, "fail", "failed")]
    assert [c.state for c in done.flow.children] == ["succeeded", "failed", None]


def test_a_step_retries_on_its_own_and_the_pipeline_goes_on(queue, start_worker):
    start_worker()
    job = queue.tasks["add"].then("flaky").start(1, 1)  # flaky(2): fails twice, has two retries
    done = queue.wait(job.id, timeout=30)
    assert (done.state, done.result) == ("succeeded", 3)


def test_canceling_a_pipeline_cancels_its_running_step_and_no_later_step_runs(queue, db_path, start_worker):
    start_worker()
    job = relay(queue).then("relay", 0).start(1, 30)
    wait_for(lambda: queue.get(job.id).state == "running", what="the first step running")
    queue.cancel(job.id)
    done = queue.wait(job.id, timeout=20)
    assert done.state == "canceled"
    assert [(s, st) for s, _, st, _ in children_of(db_path, job.id)] == [(0, "canceled")]


def test_canceling_one_step_on_its_own_fails_the_pipeline_with_that_reason(queue, start_worker):
    start_worker()
    job = relay(queue).then("relay", 0).start(1, 30)
    step = wait_for(lambda: [c for c in queue.get(job.id).flow.children if c.state == "running"],
                    what="the first step running")[0]
    queue.cancel(step.id)
    done = queue.wait(job.id, timeout=20)
    assert (done.state, done.error.type) == ("failed", "Canceled")
    assert done.error.message == "step 1 of 2 (relay) was canceled"


def test_a_queued_pipeline_canceled_never_runs_a_step(queue, db_path):
    job = queue.tasks["add"].then("add", 1).start(1, 2)
    assert queue.cancel(job.id).state == "canceled"
    assert [st for _, _, st, _ in children_of(db_path, job.id)] == ["canceled"]


def test_pipeline_progress_rises_from_0_to_1_across_the_steps_and_never_goes_back(queue, start_worker):
    start_worker()
    job = relay(queue).then("relay", 0.6).then("relay", 0.6).start(0, 0.6)
    seen = []
    while not job.finished:
        job = queue.get(job.id)
        seen.append(job.progress.current)
        time.sleep(0.02)
    assert seen == sorted(seen), seen
    assert seen[-1] == 1 and any(0 < value < 1 / 3 for value in seen) and any(1 / 3 < value < 2 / 3 for value in seen)


def test_a_pipelines_state_is_queued_until_its_first_step_runs(queue, start_worker):
    job = relay(queue).then("relay").start(1, 0.5)
    assert queue.get(job.id).state == "queued"
    start_worker()
    assert wait_for(lambda: queue.get(job.id).state == "running", what="the pipeline running")


def test_a_step_is_checked_when_it_is_added(queue):
    with pytest.raises(lilqueue.InvalidArguments, match="previous result"):
        queue.tasks["add"].then("add", 1, 2)  # add(result, 1, 2): one argument too many
    with pytest.raises(lilqueue.InvalidArguments, match="parameter 'ratio' expects float, got str"):
        queue.tasks["add"].then("import_rows", "fast")
    with pytest.raises(lilqueue.InvalidArguments, match="JSON"):
        queue.tasks["add"].then("add", {1, 2})


def test_a_batch_is_one_job_counting_its_children_and_ends_with_their_results_in_order(queue, db_path, start_worker):
    job = queue.tasks["add"].batch([(i, 10) for i in range(5)])
    assert (job.task, job.flow.kind, job.progress.current, job.progress.total) == (BATCH_TASK, "batch", 0, 5)
    start_worker()
    done = queue.wait(job.id, timeout=30)
    assert (done.state, done.result) == ("succeeded", [10, 11, 12, 13, 14])
    assert (done.progress.current, done.progress.total, done.flow.done, done.flow.failed) == (5, 5, 5, 0)
    assert [c.step for c in done.flow.children] == [0, 1, 2, 3, 4]


def test_a_batch_then_task_gets_the_list_of_results_and_gives_the_batch_its_result(queue, start_worker):
    start_worker()
    done = queue.wait(queue.tasks["add"].batch([(i, i) for i in range(4)], then="total").id, timeout=30)
    assert (done.state, done.result) == ("succeeded", 12)
    assert done.flow.children[-1].task == "total" and done.flow.children[-1].step == 4


def test_a_batch_with_a_failed_child_fails_after_the_others_finish_naming_it(queue, db_path, start_worker):
    start_worker(threads=3)
    job = queue.tasks["relay"].batch([(1, 1.0), (2, 1.0), ("x", 0)])  # "x" + 1 fails at once
    failed_child = wait_for(lambda: [r for r in children_of(db_path, job.id) if r[2] == "failed"],
                            what="the failing child done")
    assert queue.get(job.id).state == "running"  # the others still run
    done = queue.wait(job.id, timeout=30)
    assert (done.state, done.error.type, done.flow.failed) == ("failed", "ChildrenFailed", 1)
    assert failed_child[0][0] == 2 and "item 2" in done.error.message and "TypeError" in done.error.message
    others = engines.sql(db_path, "select state, finished_at from lilqueue_job where parent = ? and step < 2",
                         (job.id,))
    assert [state for state, _ in others] == ["succeeded", "succeeded"]
    assert max(at for _, at in others) <= done.finished_at.timestamp() + 0.001  # (microseconds)


def test_canceling_a_batch_cancels_the_children_that_have_not_finished(queue, db_path, start_worker):
    start_worker(threads=2)
    job = queue.tasks["relay"].batch([(i, 0.0 if i < 2 else 30.0) for i in range(6)])
    wait_for(lambda: queue.get(job.id).flow.done >= 2 and queue.get(job.id).state == "running",
             what="two children done")
    queue.cancel(job.id)
    done = queue.wait(job.id, timeout=20)
    assert done.state == "canceled"
    states = [state for _, _, state, _ in children_of(db_path, job.id)]
    assert states[:2] == ["succeeded", "succeeded"] and set(states[2:]) == {"canceled"}


def test_a_parent_holds_no_worker_thread_two_threads_run_a_batch_of_ten(queue, start_worker):
    start_worker(threads=2)
    done = queue.wait(queue.tasks["relay"].batch([(i, 0.05) for i in range(10)], then="total").id, timeout=60)
    assert (done.state, done.result) == ("succeeded", 55)


def test_a_batch_of_ten_thousand_starts_in_one_transaction(queue, db_path):
    started = time.perf_counter()
    job = queue.tasks["noop"].batch([()] * 10_000)
    took = time.perf_counter() - started
    assert engines.sql(db_path, "select count(*) from lilqueue_job where parent = ?", (job.id,)) == [(10_000,)]
    assert engines.sql(db_path, f"select count(*) from {engines.huey_table(db_path, 'task')}") == [(10_000,)]
    read = queue.get(job.id)
    assert (read.flow.total, len(read.flow.children), read.progress.total) == (10_000, 100, 10_000)
    assert took < 60, took
    with pytest.raises(lilqueue.Busy):  # bounded: max_pending 3, so all or nothing
        queue.tasks["bounded"].batch([()] * 4)
    assert engines.sql(db_path, "select count(*) from lilqueue_job where task in ('bounded', ?)",
                       (BATCH_TASK,)) == [(1,)]


def test_a_key_belongs_to_the_flow_not_to_its_first_child(queue):
    first = queue.tasks["add"].then("add", 1).options(key="import-7").start(1, 2)
    again = queue.tasks["add"].then("add", 1).options(key="import-7").start(1, 2)
    assert again.id == first.id and first.key == "import-7"
    assert [j.key for j in queue.jobs() if j.parent == first.id] == [None]
    assert queue.tasks["add"].options(key="batch-1").batch([(1, 2)]).id == \
        queue.tasks["add"].options(key="batch-1").batch([(1, 2)]).id


def test_flows_in_immediate_mode_are_finished_when_start_returns(queue):
    queue.immediate = True
    try:
        pipeline = queue.tasks["add"].then("add", 10).start(1, 1)
        batch = queue.tasks["add"].batch([(1, 1), (2, 2)], then="total")
        assert (pipeline.state, pipeline.result, batch.state, batch.result) == ("succeeded", 12, "succeeded", 6)
        assert queue.tasks["fail"].batch(["a"]).state == "failed"
    finally:
        queue.immediate = False


def test_a_worker_killed_mid_pipeline_loses_nothing_and_runs_nothing_twice(queue, db_path, start_worker):
    retrying = queue.tasks["relay_retry"]
    job = retrying.then("relay_retry", 0.2).then("relay_retry", 3.0).then("relay_retry", 0.2).start(0, 0.2)
    worker = start_worker(threads=1)
    wait_for(lambda: [c for c in queue.get(job.id).flow.children if c.step == 2 and c.state == "running"],
             timeout=30, what="the third step running")
    worker.kill_group()  # SIGKILL, mid-step
    interrupted = {(r[0], r[1]) for r in engines.sql(db_path, "select id, attempts from lilqueue_job"
                                                     " where state = 'running' and parent is not null")}
    start_worker(threads=2)
    done = queue.wait(job.id, timeout=60)
    assert (done.state, done.result) == ("succeeded", 4)
    assert duplicates(db_path, frozenset(interrupted)) == []
    ended = {job_id: [a for a, e in events if e == "end"] for job_id, events in runs(db_path).items()}
    assert len(ended) == 4 and all(len(attempts) == 1 for attempts in ended.values())
    assert [(s, st) for s, _, st, _ in children_of(db_path, job.id)] == [(i, "succeeded") for i in range(4)]


def test_a_worker_killed_mid_batch_loses_nothing_and_runs_nothing_twice(queue, db_path, start_worker):
    job = queue.tasks["relay_retry"].batch([(i, 0.3) for i in range(12)], then="total")
    worker = start_worker(threads=2)
    wait_for(lambda: 2 <= queue.get(job.id).flow.done <= 8, timeout=30, what="the batch under way")
    worker.kill_group()
    interrupted = {(r[0], r[1]) for r in engines.sql(db_path, "select id, attempts from lilqueue_job"
                                                     " where state = 'running' and parent is not null")}
    assert interrupted
    start_worker(threads=2)
    done = queue.wait(job.id, timeout=60)
    assert (done.state, done.result, done.flow.done) == ("succeeded", sum(range(1, 13)), 12)
    assert duplicates(db_path, frozenset(interrupted)) == []
    ended = {job_id: [a for a, e in events if e == "end"] for job_id, events in runs(db_path).items()}
    assert len(ended) == 12 and all(len(attempts) == 1 for attempts in ended.values())
    assert engines.sql(db_path, "select count(*) from lilqueue_job where parent = ?", (job.id,)) == [(13,)]


@pytest.fixture
def serve_middleware(queue, face):
    with serving(queue, face) as start:
        yield start


def test_a_registered_pipeline_starts_over_http_and_the_browser_follows_one_job(queue, serve_middleware,
                                                                                start_worker):
    queue.pipeline("relay_twice", relay(queue).then("relay", 0.3))
    base = serve_middleware()
    start_worker()
    answer = post_json(base, "/jobs/", {"task": "relay_twice", "args": [5, 0.3]})
    assert answer.status == 202 and answer.json()["task"] == "relay_twice"
    seen = follow(base, answer.json())
    assert (seen[-1]["state"], seen[-1]["result"]) == ("succeeded", 7)
    assert [c["state"] for c in seen[-1]["flow"]["children"]] == ["succeeded", "succeeded"]
    percents = [s["progress"]["percent"] or 0 for s in seen]
    assert percents == sorted(percents) and percents[-1] == 100
    listed = {t["name"]: t for t in request(base, "GET", "/jobs/tasks").json()["tasks"]}
    assert listed["relay_twice"]["pipeline"] == ["relay", "relay"]
    assert_problem(post_json(base, "/jobs/", {"task": "relay_twice", "args": [1], "kwargs": {"bogus": 2}}), 422)


def test_the_internal_names_of_flows_are_refused_over_http_and_not_listed(queue, serve_middleware):
    base = serve_middleware()
    queue.tasks["add"].then("add", 1).start(1, 2)
    queue.tasks["add"].batch([(1, 2)])
    for name in (PIPELINE_TASK, BATCH_TASK):
        assert_problem(post_json(base, "/jobs/", {"task": name, "args": []}), 404)
    listed = {t["name"] for t in request(base, "GET", "/jobs/tasks").json()["tasks"]}
    assert "add" in listed and not {PIPELINE_TASK, BATCH_TASK} & listed
    with pytest.raises(lilqueue.ConfigurationError, match="lilqueue's own"):
        queue.task(name="lilqueue.batch")(lambda: None)
    with pytest.raises(lilqueue.ConfigurationError, match="already registered"):
        queue.pipeline("add", queue.tasks["add"].then("add", 1))


def test_a_conditional_cancel_of_a_flow_that_moved_on_changes_nothing(queue, db_path):
    job = queue.tasks["add"].batch([(1, 2), (3, 4)])
    queue.cancel(queue.get(job.id).flow.children[0].id)  # the batch moves on: its version grows
    with pytest.raises(lilqueue.JobChanged):
        queue.cancel(job.id, version=job.version)
    assert [st for _, _, st, _ in children_of(db_path, job.id)] == ["canceled", "queued"]
    assert queue.cancel(job.id, version=queue.get(job.id).version).state == "canceled"
    assert [st for _, _, st, _ in children_of(db_path, job.id)] == ["canceled", "canceled"]


def test_a_child_claimed_after_its_flows_cancel_was_requested_is_canceled_unrun(queue, db_path, start_worker):
    # The moment a step is written just as its pipeline is canceled, played by hand: the cancel is
    # requested on the parent, its child still queued. The claim must not run it.
    job = queue.tasks["relay"].batch([(1, 0), (2, 0)])
    engines.sql(db_path, "update lilqueue_job set cancel_requested = 1 where id = ?", (job.id,))
    start_worker()
    done = queue.wait(job.id, timeout=20)
    assert done.state == "canceled"
    assert [(st, attempts) for st, attempts in engines.sql(
        db_path, "select state, attempts from lilqueue_job where parent = ? order by step", (job.id,))] == \
        [("canceled", 0), ("canceled", 0)]
    assert runs(db_path) == {}
