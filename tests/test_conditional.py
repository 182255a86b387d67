"""Conditional requests: every answer carrying a job carries its ETag (from its version);
``If-Match`` on cancel answers 412 and changes nothing unless it names the job's current tag;
``If-None-Match`` on GET answers 304 when the client's copy is current. Over real HTTP, with a
real worker where a job must run."""

from __future__ import annotations

import pytest

import lilqueue
from tests import engines
from tests.conftest import wait_for
from tests.http_support import post_json, request, serving


@pytest.fixture
def base(queue, face):
    with serving(queue, face) as start:
        yield start()


def version_of(db_path: str, job_id: str) -> tuple[str, int]:
    return tuple(engines.sql(db_path, "select state, version from lilqueue_job where id = ?", (job_id,))[0])


def test_every_answer_with_a_job_carries_its_etag_and_the_etag_moves_with_the_version(base, queue):
    started = post_json(base, "/jobs/", {"task": "sleepy", "args": [30]})
    assert started.status == 202 and started.headers["ETag"] == '"v1"'
    read = request(base, "GET", f"/jobs/{started.json()['id']}")
    assert read.headers["ETag"] == '"v1"' and read.json()["version"] == 1
    canceled = post_json(base, f"/jobs/{started.json()['id']}/cancel")
    assert canceled.status == 202
    assert canceled.headers["ETag"] == f'"v{canceled.json()["version"]}"' != '"v1"'


def test_cancel_with_an_if_match_that_names_no_current_tag_is_412_and_changes_nothing(base, queue, db_path):
    job = queue.start("sleepy", [30])
    for header in ('"no-such-etag"', "no-such-etag", 'W/"v1"', '"v2", "v3"', '"v0"', ""):
        answer = post_json(base, f"/jobs/{job.id}/cancel", **{"If-Match": header})
        assert answer.status == 412, (header, answer)
        assert answer.headers["Content-Type"] == "application/problem+json"
        assert answer.json()["type"] == "urn:lilqueue:problem:precondition-failed"
        assert version_of(db_path, job.id) == ("queued", 1)


@pytest.mark.parametrize("header", ['"v1"', '"v9", "v1"', "*"])
def test_cancel_with_an_if_match_that_names_the_current_tag_cancels(base, queue, db_path, header):
    job = queue.start("sleepy", [30])
    answer = post_json(base, f"/jobs/{job.id}/cancel", **{"If-Match": header})
    assert answer.status == 202, answer
    assert version_of(db_path, job.id) == ("canceled", 2)


def test_a_running_job_that_moved_on_is_not_canceled_by_the_tag_read_before(base, queue, db_path, start_worker):
    start_worker()
    job = queue.start("steps", [400, 0.02])
    seen = wait_for(lambda: (j := queue.get(job.id)).state == "running" and j, what="the job running")
    wait_for(lambda: queue.get(job.id).version > seen.version, what="a progress write")
    stale = post_json(base, f"/jobs/{job.id}/cancel", **{"If-Match": f'"v{seen.version}"'})
    assert stale.status == 412
    assert not queue.get(job.id).cancel_requested
    # Progress may move the version between the read and the cancel: a 412 then; read again.
    for _ in range(50):
        current = request(base, "GET", f"/jobs/{job.id}").headers["ETag"]
        answer = post_json(base, f"/jobs/{job.id}/cancel", **{"If-Match": current})
        if answer.status == 202:
            break
        assert answer.status == 412
    assert answer.status == 202 and answer.json()["cancel_requested"]
    assert queue.wait(job.id, timeout=20).state == "canceled"


def test_a_finished_job_answers_409_to_cancel_whatever_if_match_says(base, queue):
    job = queue.cancel(queue.start("sleepy", [30]).id)
    answer = post_json(base, f"/jobs/{job.id}/cancel", **{"If-Match": '"no-such-etag"'})
    assert answer.status == 409


def test_get_with_the_current_tag_in_if_none_match_is_304_without_a_body(base, queue):
    job = queue.start("sleepy", [30])
    for header in ('"v1"', 'W/"v1"', '"v0", "v1"', "*"):
        answer = request(base, "GET", f"/jobs/{job.id}", headers={"If-None-Match": header})
        assert answer.status == 304, (header, answer)
        assert answer.body == b"" and answer.headers["ETag"] == '"v1"'
    queue.cancel(job.id)
    fresh = request(base, "GET", f"/jobs/{job.id}", headers={"If-None-Match": '"v1"'})
    assert fresh.status == 200 and fresh.json()["state"] == "canceled"
    assert request(base, "GET", f"/jobs/{job.id}", headers={"If-None-Match": "garbage"}).status == 200


def test_a_long_poll_with_if_none_match_answers_304_when_nothing_changed_in_the_wait(base, queue):
    job = queue.start("sleepy", [30])
    answer = request(base, "GET", f"/jobs/{job.id}?wait=0.3", headers={"If-None-Match": '"v1"'})
    assert answer.status == 304 and answer.headers["ETag"] == '"v1"'


def test_queue_cancel_at_a_version_the_job_left_raises_job_changed_and_changes_nothing(queue, db_path):
    job = queue.start("sleepy", [30])
    with pytest.raises(lilqueue.JobChanged) as raised:
        queue.cancel(job.id, version=7)
    assert (raised.value.job_id, raised.value.expected, raised.value.current) == (job.id, 7, 1)
    assert isinstance(raised.value, lilqueue.LilqueueError)
    assert version_of(db_path, job.id) == ("queued", 1)
    assert queue.cancel(job.id, version=1).state == "canceled"
    with pytest.raises(lilqueue.JobFinished):
        queue.cancel(job.id, version=1)
