"""lilqueue's own threaded server (``lilqueue serve``): a thread per connection, reused for the
next connection, never a cap on how many are served at once."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from lilqueue.web import server
from tests.conftest import wait_for
from tests.http_support import request, running


class Recording:
    """A WSGI app that answers after ``delay`` seconds and records which thread served it."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.threads: list[int] = []

    def __call__(self, environ: dict, start_response) -> list[bytes]:
        self.threads.append(threading.get_ident())
        time.sleep(self.delay)
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]


def serving_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == server.THREAD_NAME}


def test_connections_one_after_another_are_served_by_the_same_thread():
    app = Recording()
    with running(app) as base:
        for _ in range(30):
            assert request(base, "GET", "/").body == b"ok"
    assert len(app.threads) == 30
    assert len(set(app.threads)) <= 2  # a new thread only when the last one was still finishing


def test_connections_at_once_each_get_a_thread_and_closing_the_server_ends_them():
    app = Recording(delay=0.5)
    others = serving_threads()  # another test's server may still be closing
    with running(app) as base:
        began = time.monotonic()
        with ThreadPoolExecutor(40) as pool:
            answers = list(pool.map(lambda _: request(base, "GET", "/", timeout=30), range(40)))
        took = time.monotonic() - began
        assert [a.body for a in answers] == [b"ok"] * 40
        assert len(set(app.threads)) == 40 and took < 5  # side by side: no pool makes them queue
        assert len(serving_threads() - others) >= 40  # idle, waiting for the next connections
    wait_for(lambda: not serving_threads() - others, timeout=5, what="the idle threads ended")
