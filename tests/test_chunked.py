"""Request bodies sent with ``Transfer-Encoding: chunked`` (no Content-Length): read to their
end on servers that decode them and on servers that pass the framing on raw (wsgiref, which
lilqueue decodes itself), still bounded by ``max_body``; malformed framing is a 400, and a
server that withholds the body (Django's runserver) gets a 411."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
import werkzeug.serving
from django.core.servers.basehttp import WSGIRequestHandler, WSGIServer

from tests.http_support import Response, running, waitress_serving
from tests.test_holding import one_at_a_time

pytestmark = pytest.mark.wsgi_only  # WSGI servers' framing; the ASGI face's is in test_asgi.py


def werkzeug_threaded(app: Callable) -> contextlib.AbstractContextManager[str]:
    return running(app, werkzeug.serving.make_server("127.0.0.1", 0, app, threaded=True))


def django_runserver(app: Callable) -> contextlib.AbstractContextManager[str]:
    """The server behind ``manage.py runserver``, in this process."""
    server = WSGIServer(("127.0.0.1", 0), WSGIRequestHandler, ipv6=False)
    server.set_app(app)
    return running(app, server)


# wsgiref (one_at_a_time) passes the framing on raw: lilqueue decodes it
SERVERS = {"lilqueue serve": running, "werkzeug": werkzeug_threaded, "waitress": waitress_serving,
           "wsgiref": one_at_a_time}


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
    # past max_body but within the four times of it that are read and dropped: a longer body is
    # cut off by the server, and the client's last chunk may then meet a reset instead of the 413
    body = json.dumps({"task": "add", "args": [1, "y" * 2500]}).encode()
    with SERVERS[server](queue.middleware(max_body=1000)) as base:
        answer = post_chunked(base, "/jobs/", pieces_of(body, 512))
    assert answer.status == 413 and answer.json()["type"].endswith("body-too-large"), answer
    assert queue.store.counts()["queued"] == 0


def test_an_empty_chunked_cancel_body_is_accepted(queue):
    job = queue.start("sleepy", [5])
    with running(queue.middleware()) as base:
        answer = post_chunked(base, f"/jobs/{job.id}/cancel", [])
    assert answer.status == 202 and answer.json()["state"] == "canceled"


def raw_post(base: str, body: bytes, path: str = "/jobs/") -> tuple[int, dict]:
    """A chunked POST written byte for byte, then the end of what the client sends."""
    with socket.create_connection(("127.0.0.1", urlsplit(base).port), timeout=20) as conn:
        conn.sendall(f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n".encode()
                     + b"Transfer-Encoding: chunked\r\n\r\n" + body)
        conn.shutdown(socket.SHUT_WR)  # a body shorter than its framing says ends here, not in a wait
        answer = http.client.HTTPResponse(conn)
        answer.begin()
        assert answer.getheader("Content-Type") == "application/problem+json" or answer.status == 202
        return answer.status, json.loads(answer.read())


def framed(pieces: list[bytes], trailer: bytes = b"") -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n" + trailer + b"\r\n"


def test_raw_framing_with_extensions_and_trailers_is_decoded(queue):
    body = json.dumps({"task": "add", "args": [20, 22]}).encode()
    pieces = pieces_of(body, 5)
    framing = b"".join(b"%X;note=x\r\n%s\r\n" % (len(piece), piece) for piece in pieces)
    with one_at_a_time(queue.middleware()) as base:
        status, job = raw_post(base, framing + b"0\r\nX-Checksum: 1\r\n\r\n")
    assert status == 202, job
    assert queue.get(job["id"]).args == [20, 22]


@pytest.mark.parametrize(("case", "body"), [
    ("a size that is not hexadecimal", b"zz\r\n{}\r\n0\r\n\r\n"),
    ("a size with a sign", b"+2\r\n{}\r\n0\r\n\r\n"),
    ("a size line ended by LF alone", b"2\n{}\r\n0\r\n\r\n"),
    ("a chunk not followed by CRLF", b"2\r\n{}XX0\r\n\r\n"),
    ("a chunk shorter than its size", b"10\r\n{}\r\n"),
    ("no last chunk", framed([b"{}"])[:-5]),
    ("a size line longer than 4 KiB", b"1;" + b"x" * 5000 + b"\r\n{\r\n0\r\n\r\n"),
    ("trailers that never end", b"2\r\n{}\r\n0\r\nX-A: 1\r\n"),
])
def test_malformed_raw_framing_is_a_400_problem_and_nothing_is_written(queue, case, body):
    with one_at_a_time(queue.middleware()) as base:
        status, problem = raw_post(base, body)
    assert status == 400 and "chunked body is malformed" in problem["detail"], (case, problem)
    assert queue.store.counts()["queued"] == 0


def test_a_server_that_withholds_a_chunked_body_gets_411_not_a_misread(queue):
    """Django's runserver hands the app an empty stream when no Content-Length came."""
    body = json.dumps({"task": "add", "args": [2, 3]}).encode()
    with django_runserver(queue.middleware()) as base:
        status, problem = raw_post(base, framed(pieces_of(body)))  # in one write: it answers without reading
    assert status == 411 and problem["type"].endswith("length-required"), problem
    assert queue.store.counts()["queued"] == 0
