"""``lilqueue.web.metrics``: the Prometheus text, read back with prometheus_client's own parser,
against a known set of jobs run by a real worker, and ``MetricsApp`` over real HTTP."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
import wsgiref.util
import wsgiref.validate
from types import SimpleNamespace

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lilqueue.states import FINISHED, STATES
from lilqueue.web.metrics import CONTENT_TYPE, MetricsApp, metrics
from tests import engines
from tests.conftest import wait_for
from tests.http_support import request, running


def scrape(queue) -> dict[str, object]:
    """Family name -> family, parsed by prometheus_client (a counter's name loses ``_total``)."""
    return {family.name: family for family in text_string_to_metric_families(metrics(queue).decode())}


def values(family, name: str | None = None) -> dict[tuple, float]:
    """(label values, sorted by label name) -> value, for the samples called ``name``."""
    return {tuple(v for _, v in sorted(sample.labels.items())): sample.value
            for sample in family.samples if name is None or sample.name == name}


@pytest.fixture
def known(queue, start_worker):
    """Two succeeded ``add``, one failed ``fail``, one ``sleepy`` of 0.2 s, one ``noop``
    canceled while queued, then (worker stopped) one ``noop`` left queued."""
    worker = start_worker(threads=1)
    done = [queue.start("add", [1, 2]), queue.start("add", [3, 4]), queue.start("fail"),
            queue.start("sleepy", [0.2])]
    for job in done:
        assert queue.wait(job.id, timeout=15).finished
    worker.close()
    queue.cancel(queue.start("noop").id)
    return queue.start("noop")


def test_the_gauges_count_every_state_of_every_task(queue, known):
    families = scrape(queue)
    jobs = families["lilqueue_jobs"]
    assert jobs.type == "gauge"
    counted = values(jobs)
    assert set(counted) == {(state, task) for task in queue.tasks for state in STATES}
    expected = {("succeeded", "add"): 2, ("failed", "fail"): 1, ("succeeded", "sleepy"): 1,
                ("canceled", "noop"): 1, ("queued", "noop"): 1}
    assert {key: n for key, n in counted.items() if n} == expected
    assert values(families["lilqueue_failures_24h"]) == {(): 1}
    oldest = values(families["lilqueue_queue_oldest_seconds"])[()]
    assert 0 < oldest < time.time() - known.created_at.timestamp() + 1


def test_the_finished_counter_and_the_duration_histogram_follow_the_jobs(queue, known):
    families = scrape(queue)
    finished = families["lilqueue_jobs_finished"]
    assert finished.type == "counter"
    totals = values(finished, "lilqueue_jobs_finished_total")
    assert set(totals) == {(state, task) for task in queue.tasks for state in FINISHED}
    assert {key: n for key, n in totals.items() if n} == {
        ("succeeded", "add"): 2, ("failed", "fail"): 1, ("succeeded", "sleepy"): 1, ("canceled", "noop"): 1}
    durations = families["lilqueue_job_duration_seconds"]
    assert durations.type == "histogram"
    counts = values(durations, "lilqueue_job_duration_seconds_count")
    assert counts[("add",)] == 2 and counts[("fail",)] == 1 and counts[("sleepy",)] == 1
    assert counts.get(("noop",), 0) == 0  # canceled before it started: no run time
    buckets = {key: n for key, n in values(durations, "lilqueue_job_duration_seconds_bucket").items()
               if key[1] == "sleepy"}
    assert buckets[("0.1", "sleepy")] == 0 and buckets[("0.5", "sleepy")] == 1 and buckets[("+Inf", "sleepy")] == 1
    for task in ("add", "fail", "sleepy"):
        row = sorted(((float(le), n) for (le, name), n in values(
            durations, "lilqueue_job_duration_seconds_bucket").items() if name == task))
        assert [n for _, n in row] == sorted(n for _, n in row), "cumulative buckets never go down"
        assert row[-1] == (float("inf"), counts[(task,)])
    sums = values(durations, "lilqueue_job_duration_seconds_sum")
    assert 0.2 <= sums[("sleepy",)] < 1.0 and 0 <= sums[("add",)] < 0.5


def test_counters_and_histograms_do_not_go_down_when_jobs_are_purged(queue, known):
    before = scrape(queue)
    assert queue.purge() == 5
    after = scrape(queue)
    assert {key: n for key, n in values(after["lilqueue_jobs"]).items() if n} == {("queued", "noop"): 1}
    for family in ("lilqueue_jobs_finished", "lilqueue_job_duration_seconds"):
        kept = values(after[family])
        assert kept == values(before[family]), family
    assert values(before["lilqueue_jobs_finished"])[("succeeded", "add")] == 2


def test_workers_counts_only_workers_with_a_fresh_heartbeat(queue, start_worker):
    assert values(scrape(queue)["lilqueue_workers"]) == {(): 0}
    first, second = start_worker(threads=1), start_worker(threads=1)
    assert values(scrape(queue)["lilqueue_workers"]) == {(): 2}
    first.kill_group()
    second.kill_group()  # their rows stay, with no live worker left to reap them
    assert len(queue.workers()) == 2
    wait_for(lambda: values(scrape(queue)["lilqueue_workers"]) == {(): 0}, timeout=10, interval=0.2,
             what="killed workers no longer count")


def test_the_oldest_queued_age_is_0_when_nothing_is_queued(queue):
    assert values(scrape(queue)["lilqueue_queue_oldest_seconds"]) == {(): 0}
    queue.cancel(queue.start("noop").id)
    assert values(scrape(queue)["lilqueue_queue_oldest_seconds"]) == {(): 0}


def test_label_values_are_escaped():
    odd = 'a "quoted"\\back\nslash'
    stats = {"counts": {odd: {"failed": 1}}, "states": dict.fromkeys(STATES, 0), "oldest_queued_age": None,
             "workers": [], "throughput": [], "failures_24h": 1, "finished_totals": {odd: {"failed": 1}},
             "durations": {odd: {"buckets": [[0.5, 1], ["+Inf", 1]], "sum": 0.25, "count": 1}}}
    fake = SimpleNamespace(stats=lambda: stats, tasks={}, heartbeat_timeout=30.0)
    body = metrics(fake).decode()
    assert "\nslash" not in body  # a newline in a label value is written as \n
    families = {family.name: family for family in text_string_to_metric_families(body)}
    assert values(families["lilqueue_jobs"])[("failed", odd)] == 1
    assert values(families["lilqueue_job_duration_seconds"], "lilqueue_job_duration_seconds_bucket") == {
        ("0.5", odd): 1, ("+Inf", odd): 1}
    for family in families.values():
        assert family.documentation, f"{family.name} has a HELP line"


@pytest.mark.wsgi_only
def test_metrics_app_answers_get_over_http_with_the_exposition_type_and_no_store(queue, known):
    with running(MetricsApp(queue)) as base:
        answer = request(base, "GET", "/")
        post = request(base, "POST", "/", b"")
    assert answer.status == 200
    assert answer.headers["Content-Type"] == CONTENT_TYPE == "text/plain; version=0.0.4; charset=utf-8"
    assert answer.headers["Cache-Control"] == "no-store"
    assert int(answer.headers["Content-Length"]) == len(answer.body)
    families = {f.name: f for f in text_string_to_metric_families(answer.body.decode())}
    assert values(families["lilqueue_jobs"])[("succeeded", "add")] == 2
    assert post.status == 405 and post.headers["Allow"] == "GET, HEAD"


@pytest.mark.wsgi_only
def test_metrics_app_answers_head_with_the_headers_and_no_body(queue):
    # Called directly: an HTTP client never reads a body after HEAD, whatever the server sends.
    environ = {"REQUEST_METHOD": "HEAD", "QUERY_STRING": ""}
    wsgiref.util.setup_testing_defaults(environ)
    started = []
    answer = wsgiref.validate.validator(MetricsApp(queue))(environ, lambda *args: started.append(args))
    body = b"".join(answer)
    answer.close()
    status, headers = started[0]
    assert (status, body, dict(headers)["Content-Type"]) == ("200 OK", b"", CONTENT_TYPE)
    assert int(dict(headers)["Content-Length"]) == len(metrics(queue))


@pytest.mark.wsgi_only
def test_metrics_app_answers_503_when_the_database_cannot_be_read():
    def locked():
        raise sqlite3.OperationalError("database is locked")

    fake = SimpleNamespace(stats=locked, tasks={}, heartbeat_timeout=30.0,
                           store=SimpleNamespace(scope=contextlib.nullcontext))
    with running(MetricsApp(fake)) as base:
        answer = request(base, "GET", "/")
    assert answer.status == 503 and answer.headers["Retry-After"]
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert json.loads(answer.body)["status"] == 503


@pytest.mark.wsgi_only
def test_metrics_app_answers_503_when_the_job_table_is_gone(queue, db_path):
    queue.start("add", [1, 2])
    with running(MetricsApp(queue)) as base:
        assert request(base, "GET", "/").status == 200
        engines.sql(db_path, "alter table lilqueue_job rename to lilqueue_job_gone")  # every read now fails
        answer = request(base, "GET", "/")
    assert answer.status == 503 and answer.headers["Retry-After"]
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert json.loads(answer.body)["status"] == 503
