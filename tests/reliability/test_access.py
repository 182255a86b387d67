"""Access control over real HTTP with the ``identify``/``authorize`` hooks of the middleware
(user from an ``X-User`` header) and a real worker: one user can neither see, long-poll,
stream, read the status page of, nor cancel another user's job, cannot start a task the hook
refuses, and cannot find jobs by guessing ids."""

from __future__ import annotations

import http.client
import secrets
import time
from urllib.parse import urlsplit

import pytest

from lilqueue.job import ID_PATTERN
from tests.http_support import post_json, request, running
from tests.reliability.support import rows

REFUSED_TASK = "fail"


def identify(environ: dict) -> str | None:
    return environ.get("HTTP_X_USER")


def authorize(environ: dict, action: str, target) -> bool:
    user = environ.get("HTTP_X_USER")
    if not user:
        return False
    if action == "start":
        return target != REFUSED_TASK
    return target.owner == user


@pytest.fixture
def base(queue):
    """The queue's middleware with the hooks, on a real threaded server."""
    with running(queue.middleware(identify=identify, authorize=authorize)) as url:
        yield url


def first_event(base: str, path: str, user: str) -> bytes:
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("GET", path, headers={"X-User": user})
        answer = conn.getresponse()
        return answer.status, answer.read(200) if answer.status == 200 else answer.read()
    finally:
        conn.close()


def test_a_user_cannot_see_watch_stream_or_cancel_another_users_job_nor_start_a_refused_task(
        queue, db_path, base, start_worker, figures):
    start_worker(2)
    alice, bob = {"X-User": "alice"}, {"X-User": "bob"}
    started = post_json(base, "/jobs/", {"task": "sleepy", "args": [5], "key": "import-1"}, **alice)
    assert started.status == 202
    job_id = started.json()["id"]
    assert rows(db_path, "select owner from lilqueue_job where id = ?", (job_id,)) == [("alice",)]

    denied = 0
    for headers in (bob, {}):
        for path in (f"/jobs/{job_id}", f"/jobs/{job_id}/status"):
            answer = request(base, "GET", path, headers=headers)
            assert answer.status in (403, 404) and job_id not in answer.body.decode(), (path, answer)
            denied += 1
        began = time.monotonic()
        answer = request(base, "GET", f"/jobs/{job_id}?since=0&wait=3", headers=headers)
        assert answer.status in (403, 404) and time.monotonic() - began < 1.5  # refused at once, not after waiting
        status, body = first_event(base, f"/jobs/{job_id}/events", headers.get("X-User", ""))
        assert status in (403, 404) and job_id.encode() not in body
        answer = post_json(base, f"/jobs/{job_id}/cancel", {}, **headers)
        assert answer.status in (403, 404)
        denied += 3
    assert queue.get(job_id).cancel_requested is False and queue.get(job_id).state != "canceled"

    # The same key from another user does not hand out alice's job.
    answer = post_json(base, "/jobs/", {"task": "sleepy", "args": [5], "key": "import-1"}, **bob)
    assert answer.status in (403, 409) and job_id not in answer.body.decode()
    denied += 1

    before = rows(db_path, "select count(*) from lilqueue_job")[0][0]
    for headers in (alice, bob, {}):
        answer = post_json(base, "/jobs/", {"task": REFUSED_TASK, "args": ["x"]}, **headers)
        assert answer.status == 403, answer
        denied += 1
    answer = post_json(base, "/jobs/", {"task": "add", "args": [1, 2]})
    assert answer.status == 403
    assert rows(db_path, "select count(*) from lilqueue_job")[0][0] == before, "a refused start wrote a row"
    listed = [t["name"] for t in request(base, "GET", "/jobs/tasks", headers=bob).json()["tasks"]]
    assert REFUSED_TASK not in listed and "add" in listed

    # The owner can do all of it.
    assert request(base, "GET", f"/jobs/{job_id}", headers=alice).status == 200
    version = request(base, "GET", f"/jobs/{job_id}", headers=alice).json()["version"]
    assert request(base, "GET", f"/jobs/{job_id}?since={version}&wait=0.2", headers=alice).status == 200
    status, body = first_event(base, f"/jobs/{job_id}/events", "alice")
    assert status == 200 and job_id.encode() in body
    assert post_json(base, f"/jobs/{job_id}/cancel", {}, **alice).status in (200, 202)
    assert queue.wait(job_id, timeout=15).state == "canceled"
    figures.update(requests_denied=denied, leaks=0, refused_starts_written=0)


def test_job_ids_are_random_and_guessing_neighbours_finds_nothing(queue, base, figures):
    ids = [post_json(base, "/jobs/", {"task": "add", "args": [i, 1]}, **{"X-User": "alice"}).json()["id"]
           for i in range(200)]
    ids += [job.id for job in queue.start_many("add", [[i, 1] for i in range(800)])]
    assert len(set(ids)) == len(ids) == 1000
    assert all(ID_PATTERN.fullmatch(i) for i in ids)
    differing = [sum(a != b for a, b in zip(x, y, strict=True)) for x, y in zip(ids, ids[1:], strict=False)]
    assert sum(differing) / len(differing) > 19  # random: 22 * 63/64 = 21.7 characters differ on average
    assert len({i[0] for i in ids}) > 50 and len({i[-2] for i in ids}) > 50

    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    known = set(ids)
    guesses = hits = 0
    for job_id in ids[:100]:
        position = secrets.randbelow(21)
        for neighbour in (job_id[:position] + alphabet[(alphabet.index(job_id[position]) + 1) % 64]
                          + job_id[position + 1:], job_id[:-1] + alphabet[(alphabet.index(job_id[-1]) + 1) % 64]):
            guesses += 1
            answer = request(base, "GET", f"/jobs/{neighbour}", headers={"X-User": "alice"})
            hits += answer.status != 404 or neighbour in known
    assert hits == 0
    figures.update(ids_checked=len(ids), mean_chars_differing=round(sum(differing) / len(differing), 2),
                   neighbour_guesses=guesses, guesses_found=hits)
