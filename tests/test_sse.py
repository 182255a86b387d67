"""Server-sent events: ``GET {prefix}/{id}/events`` over real HTTP."""

from __future__ import annotations

import http.client
import json
import time
from urllib.parse import urlsplit

import pytest

from tests.http_support import post_json, request, serving

pytestmark = pytest.mark.waits


@pytest.fixture
def serve_middleware(queue, face):
    with serving(queue, face) as start:
        yield start


class EventStream:
    """A minimal SSE reader over http.client: ``next()`` gives the next event or comment."""

    def __init__(self, base: str, path: str, headers: dict[str, str] | None = None, timeout: float = 20) -> None:
        parts = urlsplit(base)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        self.conn.request("GET", path, headers=headers or {})
        self.response = self.conn.getresponse()

    def next(self) -> dict | None:
        """``{"id": .., "data": ..}`` for an event, ``{"comment": ..}``, ``{"retry": ..}``; None at the end."""
        fields: dict = {}
        while True:
            line = self.response.readline()
            if not line:
                return None
            line = line.decode().rstrip("\n")
            if not line:
                if fields:
                    return fields
                continue
            name, _, value = line.partition(":")
            fields["comment" if name == "" else name] = value.strip()

    def events(self) -> list[dict]:
        """Every job event until the server ends the stream."""
        found = []
        while (item := self.next()) is not None:
            if "data" in item:
                found.append(item)
        return found

    def close(self) -> None:
        self.conn.close()


def test_events_stream_every_change_until_the_job_finishes(serve_middleware, start_worker):
    base = serve_middleware()
    start_worker()
    job = post_json(base, "/jobs/", {"task": "steps", "args": [5], "kwargs": {"delay": 0.3}}).json()
    stream = EventStream(base, f"/jobs/{job['id']}/events")
    assert stream.response.status == 200
    headers = stream.response.headers
    assert headers["Content-Type"].startswith("text/event-stream")
    assert headers["X-Accel-Buffering"] == "no" and headers["Cache-Control"] == "no-store"
    events = stream.events()
    stream.close()
    ids = [int(e["id"]) for e in events]
    jobs = [json.loads(e["data"]) for e in events]
    assert ids == sorted(set(ids)) and ids == [j["version"] for j in jobs]
    currents = [j["progress"]["current"] for j in jobs if j["progress"]["current"] is not None]
    assert currents == sorted(currents) and len(set(currents)) >= 4
    assert jobs[-1]["state"] == "succeeded" and jobs[-1]["result"] == {"imported": 5}
    assert jobs[-1]["url"] == f"/jobs/{job['id']}"


def test_last_event_id_resumes_after_the_version_seen(serve_middleware, start_worker):
    base = serve_middleware()
    start_worker()
    job = post_json(base, "/jobs/", {"task": "steps", "args": [4], "kwargs": {"delay": 0.2}}).json()
    while job["version"] < 3:
        job = request(base, "GET", f"/jobs/{job['id']}?since={job['version']}&wait=5").json()
    stream = EventStream(base, f"/jobs/{job['id']}/events", {"Last-Event-ID": str(job["version"])})
    events = stream.events()
    stream.close()
    assert events and all(int(e["id"]) > job["version"] for e in events)
    assert json.loads(events[-1]["data"])["state"] == "succeeded"
    again = EventStream(base, f"/jobs/{job['id']}/events", {"Last-Event-ID": events[-1]["id"]})
    assert again.response.status == 204  # finished and seen: EventSource stops reconnecting
    again.close()


def test_a_quiet_stream_sends_heartbeats_and_ends_after_its_lifetime(serve_middleware, queue):
    base = serve_middleware(heartbeat=0.2, stream_lifetime=1.0)
    job = queue.start("sleepy", [5])
    began = time.monotonic()
    stream = EventStream(base, f"/jobs/{job.id}/events")
    items = []
    while (item := stream.next()) is not None:
        items.append(item)
    stream.close()
    assert 0.9 < time.monotonic() - began < 5
    assert items[0] == {"retry": "2000"}
    assert json.loads(items[1]["data"])["state"] == "queued"
    assert sum(1 for i in items if i.get("comment") == "heartbeat") >= 3


def test_a_stream_sees_a_cancel_at_once(serve_middleware, queue):
    base = serve_middleware()
    job = queue.start("sleepy", [5])
    stream = EventStream(base, f"/jobs/{job.id}/events")
    assert json.loads(_first_event(stream)["data"])["state"] == "queued"
    canceled_at = time.monotonic()
    queue.cancel(job.id)
    event = _first_event(stream)
    assert time.monotonic() - canceled_at < 1
    assert json.loads(event["data"])["state"] == "canceled"
    assert stream.next() is None
    stream.close()


def test_events_for_an_unknown_or_malformed_id_or_a_bad_last_event_id_are_problems(serve_middleware, queue):
    base = serve_middleware()
    for path, headers, status in (("/jobs/" + "A" * 22 + "/events", {}, 404), ("/jobs/nope/events", {}, 404),
                                  (f"/jobs/{queue.start('noop').id}/events", {"Last-Event-ID": "x"}, 400)):
        answer = request(base, "GET", path, headers=headers)
        assert answer.status == status
        assert answer.headers["Content-Type"] == "application/problem+json"


def _first_event(stream: EventStream) -> dict:
    while (item := stream.next()) is not None:
        if "data" in item:
            return item
    raise AssertionError("the stream ended without an event")
