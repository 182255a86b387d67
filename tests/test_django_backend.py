"""``lilqueue.django.Backend``, checked as django-tasks' own suite checks its backends (enqueue,
results, statuses, errors, priority, run_after, context), with a real worker process that has
Django set up, on SQLite and PostgreSQL; each result read back in another process."""

from __future__ import annotations

import signal
import sys
from datetime import datetime, timedelta

import pytest

import lilqueue
from lilqueue.django.carrier import register
from tests import engines
from tests.conftest import wait_for
from tests.django_support import first_event
from tests.django_tasks_support import MANAGE, TasksSite
from tests.http_support import post_json, request, running
from tests.test_job_statements import PLAIN

pytest.importorskip("django")
pytest.importorskip("django_tasks")

pytestmark = pytest.mark.xdist_group("django-tasks")

ADDRESS = {"module": "tests.djangoproject.reports.tasks", "queue": "default", "backend": "default"}


@pytest.fixture
def site(db_path, tmp_path):
    site = TasksSite(tmp_path, db_path)
    yield site
    site.close()


def _ended(queue: lilqueue.Queue, ids: list[str]) -> list[lilqueue.Job] | None:
    jobs = [queue.get(i) for i in ids]
    return jobs if all(job.finished for job in jobs) else None


def _times(found: dict) -> tuple:
    return tuple(datetime.fromisoformat(found[k]) for k in ("enqueued_at", "started_at", "finished_at"))


def test_enqueue_records_a_ready_job_whose_id_is_the_results_and_any_process_reads_it(site, db_path):
    enqueued, signalled, by_coroutine, links = site.probe("""
import asyncio
from lilqueue.django.tasks_api import task_enqueued
signalled = []
task_enqueued.connect(lambda sender, task_result, **kw: signalled.append(task_result.id), weak=False)
result = tasks.add.enqueue(2, b=3)
later = asyncio.run(tasks.add.aenqueue(4, 5))
read = asyncio.run(backend.aget_result(later.id))
from django.template import Context, Template
from django.urls import reverse
card = Template("{% load lilqueue %}{% lilqueue_card result %}").render(Context({"result": result}))
links = [reverse("lilqueue:status", args=[result.id]), result.id in card]
out([describe(result), signalled, [later.status, read.status, read.args, read.id == later.id], links])""")
    assert signalled[0] == enqueued["id"] and len(signalled) == 2
    assert by_coroutine == ["READY", "READY", [4, 5], True]
    assert links == [f"/jobs/{enqueued['id']}/status", True]  # the site's URLconf and card take the result
    assert enqueued["status"] == "READY" and enqueued["enqueued_at"] and not enqueued["is_finished"]
    assert (enqueued["args"], enqueued["kwargs"], enqueued["priority"]) == ([2], {"b": 3}, 10)
    job = lilqueue.Queue(db_path).get(enqueued["id"])
    assert (job.task, job.state, job.priority) == ("lilqueue.django", "queued", 10)
    assert job.args == [{**ADDRESS, "name": "add"}, 2] and job.kwargs == {"b": 3}
    again = site.probe(f"out(describe(backend.get_result({enqueued['id']!r})))")
    assert again == {**enqueued, "return_value": "raises ValueError: Task has not finished yet"}
    assert again["worker_ids"] == [] and again["attempts"] == 0 and again["started_at"] is None


def test_a_worker_runs_django_tasks_and_their_results_are_read_in_another_process(site, db_path):
    ids = site.probe("""out([t.enqueue(*a).id for t, a in [
        (tasks.meaning_of_life, ()), (tasks.add, (2, 3)), (tasks.noop, (1,)), (tasks.get_task_id, ()),
        (tasks.describe_context, (1,)), (tasks.async_add, (4, 5)), (tasks.report_progress, (3,))]])""")
    site.worker()
    found = site.probe(f"out([describe(finished(backend.get_result(i))) for i in {ids!r}])")
    assert [f["status"] for f in found] == ["SUCCESSFUL"] * 7
    assert [f["return_value"] for f in found[:4]] == [42, 5, None, ids[3]]
    assert found[4]["return_value"]["attempt"] == 1 and found[4]["return_value"]["status"] == "RUNNING"
    assert found[4]["return_value"]["worker_ids"] == found[4]["worker_ids"]
    assert found[5]["return_value"] == 9  # a coroutine function, run to its end
    workers = {w for (w,) in engines.sql(db_path, "select id from lilqueue_worker")}
    for f in found:
        enqueued, started, ended = _times(f)
        assert enqueued <= started <= ended and f["last_attempted_at"] == f["started_at"]
        assert f["attempts"] == 1 and len(f["worker_ids"]) == 1 and f["worker_ids"][0] in workers
        assert f["errors"] == [] and f["is_finished"]
    queue = lilqueue.Queue(db_path)
    assert queue.get(ids[1]).result == 5  # the lilqueue job's result is the return value itself
    report = queue.get(ids[6])
    assert report.result == {"steps": 3, "job": ids[6]}  # current_job() is the result's own job
    assert (report.progress.current, report.progress.total, report.progress.message) == (3, 3, "step 3 of 3")
    assert [line.message for line in report.logs if line.level == "info"] == ["step 1", "step 2", "step 3"]
    assert queue.get(ids[5]).progress.message == "async"
    logged = site.workers[0].output()  # the framework's signals, sent in the worker, logged by its handlers
    assert f"Task id={ids[0]} path=tests.djangoproject.reports.tasks.meaning_of_life state=SUCCESSFUL" in logged
    with running(queue.middleware()) as base:
        answer = request(base, "GET", f"/jobs/{ids[1]}")
        assert (answer.status, answer.json()["state"], answer.json()["result"]) == (200, "succeeded", 5)
        assert request(base, "GET", f"/jobs/{ids[6]}/status").status == 200


def test_a_worker_whose_apps_define_no_django_task_still_runs_them(site):
    enqueued = site.probe("out(tasks.add.enqueue(2, 3).id)")
    site.env["REPORTS_APP"] = "0"
    site.worker()
    del site.env["REPORTS_APP"]
    found = site.probe(f"out(describe(finished(backend.get_result({enqueued!r}))))")
    assert (found["status"], found["return_value"]) == ("SUCCESSFUL", 5)


def test_a_failing_task_is_failed_with_the_full_class_path_and_traceback_of_its_exception(site):
    ids = site.probe("""out([t.enqueue().id for t in [tasks.fail_value_error, tasks.fail_report_error,
                                                     tasks.complex_exception, tasks.complex_return_value]])""")
    site.worker()
    found = site.probe(f"out([describe(finished(backend.get_result(i))) for i in {ids!r}])")
    assert [f["status"] for f in found] == ["FAILED"] * 4
    assert [f["return_value"] for f in found] == ["raises ValueError: Task failed"] * 4
    assert [[e["path"] for e in f["errors"]] for f in found] == [
        ["builtins.ValueError"], ["tests.djangoproject.reports.tasks.ReportError"], ["builtins.ValueError"],
        ["builtins.TypeError"]]
    assert [f["errors"][0]["class"] for f in found] == ["ValueError", "ReportError", "ValueError", "TypeError"]
    assert found[0]["errors"][0]["traceback"].endswith("ValueError: This task failed due to ValueError\n")
    assert 'raise ReportError("no data for 1999")' in found[1]["errors"][0]["traceback"]
    assert "Unsupported type" in found[3]["errors"][0]["traceback"]
    for f in found:
        enqueued, started, ended = _times(f)
        assert enqueued <= started <= ended and f["attempts"] == 1


def test_a_canceled_job_is_a_failed_result_whose_error_names_the_cancellation(site, db_path):
    ids = site.probe("out([tasks.until_canceled.enqueue().id, tasks.noop.enqueue().id])")
    queue = lilqueue.Queue(db_path)
    queue.cancel(ids[1])  # while it waits: it never runs
    site.worker()
    wait_for(lambda: queue.get(ids[0]).state == "running", what="the task runs")
    queue.cancel(ids[0])
    found = site.probe(f"out([describe(finished(backend.get_result(i))) for i in {ids!r}])")
    assert [f["status"] for f in found] == ["FAILED", "FAILED"]
    assert [f["errors"][0]["path"] for f in found] == ["lilqueue.errors.Canceled"] * 2
    assert found[0]["errors"][0]["traceback"] == "lilqueue.errors.Canceled: the job was canceled\n"
    assert (found[0]["attempts"], found[1]["attempts"]) == (1, 0)


def test_priority_orders_the_jobs_and_run_after_delays_one(site, db_path):
    ids = site.probe("""
low, high = tasks.noop.using(priority=-100).enqueue("low"), tasks.noop.using(priority=100).enqueue("high")
out([low.id, tasks.noop.enqueue("zero").id, high.id])""")
    queue = lilqueue.Queue(db_path)
    assert [queue.get(i).priority for i in ids] == [-100, 0, 100]
    site.worker(threads=1)  # the three are queued already: the one thread takes them by priority
    found = site.probe(f"""
from datetime import timedelta
from django.utils import timezone
later = tasks.noop.using(run_after=timezone.now() + timedelta(seconds=1)).enqueue("later")
out([describe(finished(backend.get_result(i))) for i in {ids!r} + [later.id]])""")
    started = {f["args"][0]: datetime.fromisoformat(f["started_at"]) for f in found}
    assert started["high"] < started["zero"] < started["low"]
    assert [f["priority"] for f in found] == [-100, 0, 100, 0]
    later = found[3]
    run_at = queue.get(later["id"]).run_at
    assert datetime.fromisoformat(later["run_after"]) == run_at
    assert started["later"] >= run_at >= datetime.fromisoformat(later["enqueued_at"]) + timedelta(seconds=0.9)


def test_the_worker_runs_only_django_tasks_at_the_recorded_path(site, db_path, tmp_path):
    queue = lilqueue.Queue(db_path)
    register(queue)  # a job row as anyone who can write the table could forge it
    target = tmp_path / "ran"
    forged = [queue.start("lilqueue.django", [{**ADDRESS, "name": name}, str(target)]).id
              for name in ("not_a_task", "ReportError", "task", "also_lilqueue", "missing")]
    forged.append(queue.start("lilqueue.django", [{**ADDRESS, "module": "os", "name": "remove"}, str(target)]).id)
    target.write_text("still here")
    site.worker()
    jobs = wait_for(lambda: _ended(queue, forged), what="the forged jobs ended")
    assert [job.state for job in jobs] == ["failed"] * 6
    assert all("is not a Django task" in job.error.message or "no Django task" in job.error.message
               for job in jobs), [job.error for job in jobs]
    assert target.read_text() == "still here"


@pytest.mark.sqlite_only
def test_a_django_task_is_followed_live_and_canceled_through_the_sites_urlconf(site, db_path):
    """runserver with ``path("jobs/", include("lilqueue.django.urls"))``: the result's id is the
    job's URL there, its events and status page show the task's own progress, and a cancel
    there makes the Django result FAILED."""
    from tests.servers.harness import ServerProcess, free_port

    port = free_port()
    server = ServerProcess([sys.executable, str(MANAGE), "runserver", f"127.0.0.1:{port}", "--noreload"], port,
                           site.tmp_path / "server.log", site.env)
    try:
        base = server.wait_ready("/hello")
        result_id = site.probe("out(tasks.until_canceled.enqueue().id)")
        site.worker()
        queue = lilqueue.Queue(db_path)
        wait_for(lambda: queue.get(result_id).progress.message, what="the task reports progress")
        job = request(base, "GET", f"/jobs/{result_id}").json()
        assert (job["state"], job["progress"]["message"]) == ("running", "waiting for cancel")
        first = first_event(base, f"/jobs/{result_id}/events")
        assert b'"state": "running"' in first and b"waiting for cancel" in first
        assert b"waiting for cancel" in request(base, "GET", f"/jobs/{result_id}/status").body
        assert post_json(base, f"/jobs/{result_id}/cancel").status == 202
        found = site.probe(f"out(describe(finished(backend.get_result({result_id!r}))))")
    finally:
        server.stop()
    assert found["status"] == "FAILED" and found["errors"][0]["path"] == "lilqueue.errors.Canceled"


@pytest.mark.sqlite_only
def test_a_task_handed_back_by_a_stopping_worker_runs_again_on_the_next_as_the_same_attempt(site, db_path):
    result_id = site.probe("out(tasks.until_canceled.enqueue().id)")
    queue = lilqueue.Queue(db_path)
    first = site.worker(1, "--grace", "0.2")
    wait_for(lambda: queue.get(result_id).progress.message, what="the first run")
    first.signal(signal.SIGTERM)  # the task is asked to stop: its job goes back to the queue
    assert first.wait(15) == 0
    # A hand-back is not an attempt in lilqueue (the task did not fail): nor is it one here.
    assert (queue.get(result_id).state, queue.get(result_id).attempts) == ("queued", 0)
    second = site.worker()
    wait_for(lambda: queue.get(result_id).state == "running", what="the second run")
    queue.cancel(result_id)
    found = site.probe(f"out(describe(finished(backend.get_result({result_id!r}))))")
    assert found["attempts"] == 1 and len(found["worker_ids"]) == 1  # the worker of the attempt's latest run
    assert found["worker_ids"][0] in second.output() and found["worker_ids"][0] not in first.output()


def test_a_django_task_enqueue_costs_the_statements_of_a_plain_start(site, engine):
    sent = site.probe("""
from lilqueue.bench.phases import Statements
from lilqueue.django import queue
statements = Statements(lambda: queue.store.database.connection())
tasks.add.enqueue(1, b=1)
with statements.counting():
    tasks.add.enqueue(2, b=3)
out(statements.count)""")
    assert sent == PLAIN[engine][0]  # one start of the carrier task: see tests/test_job_statements.py
