"""What only the ASGI face does (``queue.asgi``), on uvicorn over real HTTP: the lifespan and the
embedded worker, both mount conventions and ``root_path``, waiting as coroutines (no thread each),
disconnects, bodies past ``max_body``, async hooks. The contract both faces share is tested by
the web test files, run on each face."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from tests.conftest import wait_for
from tests.http_support import asgi_running, post_json, request


class Host:
    """A plain ASGI app with a lifespan of its own and one route that starts a job."""

    def __init__(self, queue) -> None:
        self.queue = queue
        self.events: list[str] = []
        self.started: list = []

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                self.events.append(message["type"])
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        if scope["path"] == "/start":
            self.started.append(await asyncio.to_thread(self.queue.start, "noop"))
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"host " + scope["path"].encode()})


async def django_like(scope, receive, send) -> None:
    """An app that speaks no lifespan, as Django's ASGIHandler does."""
    if scope["type"] != "http":
        raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"django"})


def test_a_wrapped_app_keeps_its_lifespan_and_the_worker_starts_at_startup(queue):
    host = Host(queue)
    face = queue.asgi(host, worker=1)
    with asgi_running(face) as base:
        assert host.events == ["lifespan.startup"]
        assert face.embedded.running  # before any request
        assert request(base, "GET", "/start").body == b"host /start"
        job = host.started[0]
        assert queue.wait(job.id, timeout=10).state == "succeeded"
    assert host.events == ["lifespan.startup", "lifespan.shutdown"]
    assert not face.embedded.running


def test_an_app_without_a_lifespan_is_sent_none_and_the_worker_still_starts(queue):
    face = queue.asgi(django_like, worker=1)
    with asgi_running(face) as base:
        assert face.embedded.running
        job = queue.start("noop")
        assert queue.wait(job.id, timeout=10).state == "succeeded"
        assert request(base, "GET", "/anything").body == b"django"


def test_a_mount_that_keeps_the_whole_path_gives_urls_under_its_root_path(queue):
    app = Starlette(routes=[Mount("/api/jobs", app=queue.asgi(prefix=""))])
    with asgi_running(app) as base:
        answer = post_json(base, "/api/jobs/", {"task": "noop"})
        job = answer.json()
        assert answer.status == 202 and answer.headers["Location"] == f"/api/jobs/{job['id']}"
        assert job["url"] == f"/api/jobs/{job['id']}"
        assert request(base, "GET", f"/api/jobs/{job['id']}").json()["id"] == job["id"]
        assert request(base, "GET", "/api/jobs/tasks").status == 200


async def stripping_router(scope, receive, send, *, inner):
    """A router that strips its mount from ``path`` and puts it in ``root_path`` (the older rule)."""
    root_path = scope.get("root_path", "")
    rest = scope["path"][len(root_path):] if scope["type"] == "http" else ""
    if rest.startswith("/mnt/"):
        scope = dict(scope, path=rest[4:], root_path=root_path + "/mnt")
    await inner(scope, receive, send)


def test_a_mount_that_strips_the_path_and_a_server_root_path_both_show_in_urls(queue):
    face = queue.asgi(prefix="/jobs")

    async def app(scope, receive, send):
        await stripping_router(scope, receive, send, inner=face)

    with asgi_running(app, lifespan="off", root_path="/site") as base:
        job = post_json(base, "/mnt/jobs/", {"task": "noop"}).json()
        assert job["url"] == f"/site/mnt/jobs/{job['id']}"


def test_every_waiting_request_is_held_without_a_thread_each(queue):
    face = queue.asgi()
    job = queue.start("sleepy", [30])
    answers: list = []

    def poll() -> None:
        answers.append(request(base, "GET", f"/jobs/{job.id}?since={job.version}&wait=20"))

    with asgi_running(face) as base:
        threads_before = threading.active_count()
        pollers = [threading.Thread(target=poll) for _ in range(40)]
        for poller in pollers:
            poller.start()
        wait_for(lambda: face.watcher.waiting == 40, timeout=10, what="40 held long-polls")
        # 40 client threads of this test; the server side added none per request
        assert threading.active_count() - threads_before < 40 + 12
        queue.cancel(job.id)
        for poller in pollers:
            poller.join(10)
    assert len(answers) == 40 and all(a.status == 200 and "Retry-After" not in a.headers for a in answers)
    assert {a.json()["version"] for a in answers} == {job.version + 1}


def test_a_client_that_disconnects_frees_its_waiter_at_once(queue):
    face = queue.asgi()
    job = queue.start("sleepy", [30])
    with asgi_running(face) as base:
        port = int(base.rsplit(":", 1)[1])
        for path in (f"/jobs/{job.id}/events", f"/jobs/{job.id}?since={job.version}&wait=25"):
            client = socket.create_connection(("127.0.0.1", port))
            client.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            wait_for(lambda: face.watcher.waiting == 1, timeout=5, what="a waiter")
            client.close()
            began = time.monotonic()
            wait_for(lambda: face.watcher.waiting == 0, timeout=5, what="the waiter gone")
            assert time.monotonic() - began < 2


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_past_max_body_is_413_without_a_reset(queue, chunked):
    with asgi_running(queue.asgi(max_body=1000)) as base:
        port = int(base.rsplit(":", 1)[1])
        client = socket.create_connection(("127.0.0.1", port), timeout=10)
        body = b"[" + b"1," * 1500 + b"1]"
        head = b"POST /jobs/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        if chunked:
            client.sendall(head + b"Transfer-Encoding: chunked\r\n\r\n%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")
        else:
            client.sendall(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = client.recv(65536)  # a reset would raise ConnectionResetError here
            if not chunk:
                break
            answer += chunk
        client.close()
    assert answer.startswith(b"HTTP/1.1 413 ") and b"body-too-large" in answer
    assert queue.jobs() == []


def test_hooks_may_be_async_and_receive_the_scope_mounted_at_the_prefix(queue):
    seen = []

    async def identify(scope):
        await asyncio.sleep(0)
        seen.append((scope["root_path"], scope["path"]))
        return dict(scope["headers"]).get(b"x-user", b"").decode() or None

    async def authorize(scope, action, target):
        return action == "start" or getattr(target, "owner", None) == await identify(scope)

    with asgi_running(queue.asgi(identify=identify, authorize=authorize)) as base:
        job = post_json(base, "/jobs/", {"task": "noop"}, **{"X-User": "ann"}).json()
        assert queue.get(job["id"]).owner == "ann"
        assert request(base, "GET", f"/jobs/{job['id']}", headers={"X-User": "ann"}).status == 200
        assert request(base, "GET", f"/jobs/{job['id']}", headers={"X-User": "bob"}).status == 404
    assert seen[0] == ("/jobs", "/jobs/") and seen[-1] == ("/jobs", f"/jobs/{job['id']}")


def test_a_request_outside_the_prefix_without_an_app_is_a_404_problem(queue):
    with asgi_running(queue.asgi()) as base:
        answer = request(base, "GET", "/elsewhere")
    assert answer.status == 404 and answer.headers["Content-Type"] == "application/problem+json"
