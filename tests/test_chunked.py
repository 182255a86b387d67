"""Request bodies sent with ``Transfer-Encoding: chunked`` (no Content-Length): read to their
end on servers that decode them, still bounded by ``max_body``; refused with 411 where the
server passes the raw framing on."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
import werkzeug.serving

from tests.http_support import Response, running, waitress_serving
from tests.test_holding import one_at_a_time


def werkzeug_threaded(app: Callable) -> contextlib.AbstractContextManager[str]:
    return running(app, werkzeug.serving.make_server("127.0.0.1", 0, app, threaded=True))


SERVERS = {"lilqueue serve": running, "werkzeug": werkzeug_threaded, "waitress": waitress_serving}


def post_chunked(base: str, path: str, pieces: list[bytes]) -> Response:
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=20)
    try:
        conn.request("POST", path, body=iter(pieces), encode_chunked=True,
                     headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
        answer = conn.getresponse()
        return Response(answer.status, answer.headers, answer.read())
    finally:
        conn.close()


def pieces_of(data: bytes, size: int = 7) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("server", SERVERS)
def test_a_chunked_start_is_read_to_its_end(queue, server, capfd):
    body = json.dumps({"task": "add", "args": [2, 3], "key": "chunked-" + "x" * 100}).encode()
    with SERVERS[server](queue.middleware()) as base:
        answer = post_chunked(base, "/jobs/", pieces_of(body))
    assert answer.status == 202, answer
    assert "Traceback" not in capfd.readouterr().err  # nor after the answer, when the connection closes
    job = queue.get(answer.json()["id"])
    assert job.args == [2, 3] and job.key == "chunked-" + "x" * 100


@pytest.mark.parametrize("server", SERVERS)
def test_a_chunked_body_past_max_body_is_413_and_nothing_is_written(queue, server):
    body = json.dumps({"task": "add", "args": [1, "y" * 5000]}).encode()
    with SERVERS[server](queue.middleware(max_body=1000)) as base:
        answer = post_chunked(base, "/jobs/", pieces_of(body, 512))
    assert answer.status == 413 and answer.json()["type"].endswith("body-too-large"), answer
    assert queue.store.counts()["queued"] == 0


def test_an_empty_chunked_cancel_body_is_accepted(queue):
    job = queue.start("sleepy", [5])
    with running(queue.middleware()) as base:
        answer = post_chunked(base, f"/jobs/{job.id}/cancel", [])
    assert answer.status == 202 and answer.json()["state"] == "canceled"


def test_a_server_that_passes_chunked_bodies_on_raw_gets_411_not_a_misread(queue):
    body = json.dumps({"task": "add", "args": [2, 3]}).encode()
    framed = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces_of(body)) + b"0\r\n\r\n"
    with one_at_a_time(queue.middleware()) as base:
        port = urlsplit(base).port
        with socket.create_connection(("127.0.0.1", port), timeout=20) as conn:
            # the whole request in one write: the server answers without reading the body
            conn.sendall(b"POST /jobs/ HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n" + framed)
            answer = http.client.HTTPResponse(conn)
            answer.begin()
            problem = json.loads(answer.read())
    assert answer.status == 411 and answer.getheader("Content-Type") == "application/problem+json", problem
    assert problem["type"].endswith("length-required")
    assert queue.store.counts()["queued"] == 0
