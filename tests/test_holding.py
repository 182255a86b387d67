"""Holding only what the server can spare: a long-poll or event stream that the server cannot
afford to hold is answered at once (200 and ``Retry-After``, or a short stream with ``retry:``);
what serves a request is told apart by real servers on 127.0.0.1. Telling servers apart is
WSGI's (``wsgi_only``; the ASGI face holds every waiter up to ``max_waiters``); the ``hold``
option and the waiter cap are the contract of both faces."""

from __future__ import annotations

import contextlib
import threading
import time
import wsgiref.simple_server
from collections.abc import Callable

import pytest

from lilqueue.web.holding import GREEN, ONE_AT_A_TIME, POOL, POOL_HOLD, THREAD_PER_REQUEST, server_kind
from tests.conftest import wait_for
from tests.http_support import post_json, request, running, serving, waitress_serving
from tests.test_sse import EventStream


def one_at_a_time(app: Callable) -> contextlib.AbstractContextManager[str]:
    """wsgiref's own server: one request at a time, as gunicorn's sync worker serves."""
    return running(app, wsgiref.simple_server.make_server("127.0.0.1", 0, app, handler_class=_QuietHandler))


class _QuietHandler(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def host_app(environ: dict, start_response: Callable) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


def timed_poll(base: str, job, wait: float = 3) -> tuple[float, object]:
    began = time.monotonic()
    answer = request(base, "GET", f"/jobs/{job.id}?since={job.version}&wait={wait}")
    return time.monotonic() - began, answer


@pytest.mark.wsgi_only
def test_a_server_that_serves_one_request_at_a_time_gets_an_answer_at_once_with_retry_after(queue):
    job = queue.start("sleepy", [5])
    with one_at_a_time(queue.middleware(host_app)) as base:
        took, answer = timed_poll(base, job, wait=10)
        assert answer.status == 200 and answer.headers["Retry-After"] == "1", answer
        assert took < 1.0 and answer.json()["version"] == job.version
        assert request(base, "GET", "/hello").body == b"hello"


@pytest.mark.wsgi_only
def test_an_event_stream_that_cannot_be_held_is_a_short_200_stream_that_tells_when_to_come_back(queue):
    job = queue.start("sleepy", [5])
    with one_at_a_time(queue.middleware(host_app)) as base:
        began = time.monotonic()
        stream = EventStream(base, f"/jobs/{job.id}/events")
        assert stream.response.status == 200
        assert stream.response.headers["Content-Type"].startswith("text/event-stream")
        items = []
        while (item := stream.next()) is not None:
            items.append(item)
        stream.close()
        assert time.monotonic() - began < 2.0
        assert int(items[0]["retry"]) >= 1000 and [int(i["id"]) for i in items if "data" in i] == [job.version]


@pytest.mark.wsgi_only
def test_a_thread_pool_of_unknown_size_holds_one_and_answers_the_rest_at_once(queue):
    job = queue.start("sleepy", [5])
    middleware = queue.middleware(host_app)
    with waitress_serving(middleware) as base:
        held: list = []
        thread = threading.Thread(target=lambda: held.append(timed_poll(base, job, wait=2)))
        thread.start()
        wait_for(lambda: middleware.watcher.waiting == POOL_HOLD, what="the first long-poll held")
        took, answer = timed_poll(base, job, wait=10)
        assert answer.status == 200 and answer.headers["Retry-After"] == "1" and took < 1.0
        began = time.monotonic()
        assert request(base, "GET", "/hello").body == b"hello" and time.monotonic() - began < 0.5
        thread.join(10)
        took, answer = held[0]
        assert answer.status == 200 and "Retry-After" not in answer.headers and took >= 1.9


def test_the_hold_option_replaces_the_guess(queue, face):
    job = queue.start("sleepy", [5])
    with serving(queue, face) as start:
        never = start(hold=0)
        took, answer = timed_poll(never, job, wait=10)
        assert answer.headers["Retry-After"] == "1" and took < 1.0
        two = start(hold=2)
        middleware = start.faces[-1]
        threads = [threading.Thread(target=timed_poll, args=(two, job, 2)) for _ in range(2)]
        for thread in threads:
            thread.start()
        wait_for(lambda: middleware.watcher.waiting == 2, what="two long-polls held")
        took, answer = timed_poll(two, job, wait=10)
        assert answer.headers["Retry-After"] == "1" and took < 1.0
        for thread in threads:
            thread.join(10)


@pytest.mark.parametrize("hold", ["some", -1, 1.5, True])
def test_a_bad_hold_is_a_configuration_error(queue, hold, face):
    with pytest.raises(Exception, match="hold must be") as raised:
        (queue.middleware if face == "wsgi" else queue.asgi)(hold=hold)
    assert type(raised.value).__name__ == "ConfigurationError"


def test_past_the_waiter_cap_an_event_stream_is_told_to_come_back_later_not_refused(queue, face):
    job = queue.start("sleepy", [5])
    with serving(queue, face) as start:
        base = start(max_waiters=1)
        first = EventStream(base, f"/jobs/{job.id}/events")
        assert first.next()["retry"] == "2000"
        wait_for(lambda: start.faces[0].watcher.waiting == 1, what="the first stream waiting")
        second = EventStream(base, f"/jobs/{job.id}/events")
        assert second.response.status == 200
        items = []
        while (item := second.next()) is not None:
            items.append(item)
        assert int(items[0]["retry"]) >= 1000 and any("data" in i for i in items)
        first.close()
        second.close()


@pytest.mark.wsgi_only
def test_server_kind_reads_the_thread_and_the_environ():
    found = {}

    def look(name: str, environ: dict) -> None:
        found[name] = server_kind(environ)

    look("main", {"wsgi.multithread": True})
    look("single", {"wsgi.multithread": False})
    for name, thread_name in (("pool", "waitress-0"), ("per-request", "Thread-3 (process_request_thread)")):
        thread = threading.Thread(target=look, args=(name, {"wsgi.multithread": True}), name=thread_name)
        thread.start()
        thread.join()
    assert found == {"main": ONE_AT_A_TIME, "single": ONE_AT_A_TIME, "pool": POOL,
                     "per-request": THREAD_PER_REQUEST}
    assert GREEN not in found.values()  # nothing here patched threading


@pytest.mark.wsgi_only
def test_our_threaded_server_holds_every_waiter(queue):
    job = queue.start("sleepy", [5])
    middleware = queue.middleware()
    with running(middleware) as base:
        threads = [threading.Thread(target=timed_poll, args=(base, job, 1.5)) for _ in range(5)]
        for thread in threads:
            thread.start()
        wait_for(lambda: middleware.watcher.waiting == 5, what="five long-polls held")
        for thread in threads:
            thread.join(10)
        assert post_json(base, "/jobs/", {"task": "noop"}).status == 202
