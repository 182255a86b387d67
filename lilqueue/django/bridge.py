"""A Django request handed to a WSGI application, and its answer handed back as a Django
response: how ``lilqueue.django.urls`` serves the queue's middleware inside the URLconf.

    environ = to_environ(request, script_name="/jobs", path_info="/abc/status", max_body=65536)
    answer = call(app, environ)               # status, headers and the body (or its iterator)
    response = to_response(answer, sync_chunks)

On a WSGI server ``request.META`` is the server's environ; under ASGI Django builds ``META``
from the scope and the ``wsgi.*`` keys are added here (there the environ only carries the
request to the hooks and the body to the core: ``views.py`` serves it natively). The body always comes from
``request.body`` (already read by Django or not), unless it is declared larger than the
middleware accepts: then nothing is read and the middleware answers 413 from the header.
"""

from __future__ import annotations

import io
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

STREAMED = "text/event-stream"  # the one answer that must reach the client chunk by chunk
REQUEST_KEY = "lilqueue.django.request"  # the Django request, for the access hooks


def to_environ(request: HttpRequest, script_name: str, path_info: str, max_body: int) -> dict:
    environ = dict(request.META)
    try:
        declared = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    body = b"" if declared > max_body else request.body
    if declared <= max_body:
        environ["CONTENT_LENGTH"] = str(len(body))
    environ.setdefault("wsgi.version", (1, 0))
    environ.setdefault("wsgi.url_scheme", request.scheme)
    environ.setdefault("wsgi.errors", sys.stderr)
    environ.setdefault("wsgi.multiprocess", True)
    environ.setdefault("wsgi.run_once", False)
    environ.setdefault("wsgi.multithread", True)
    environ.update({"wsgi.input": io.BytesIO(body), "SCRIPT_NAME": script_name, "PATH_INFO": path_info,
                    REQUEST_KEY: request})
    environ.pop("wsgi.input_terminated", None)  # the body above is whole and its length declared
    return environ


@dataclass
class Answer:
    status: str
    headers: list[tuple[str, str]]
    body: bytes | Iterator[bytes]


def call(app: Callable, environ: dict) -> Answer:
    """Run the WSGI app; the body joined, except an event stream's, left to be iterated."""
    started: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable:
        started[:] = [status, headers]
        return lambda data: None  # the middleware never uses write()

    chunks: Iterable[bytes] = app(environ, start_response)
    iterator = iter(chunks)
    first = next(iterator, b"")  # start_response may be called on the first iteration
    status, headers = started
    if _content_type(headers).startswith(STREAMED):
        return Answer(status, headers, _Closing(first, iterator, chunks))
    try:
        return Answer(status, headers, first + b"".join(iterator))
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


def to_response(answer: Answer, stream: Callable[[Iterator[bytes]], Any] | None = None) -> HttpResponse:
    """The Django response for an answer; ``stream`` turns an event stream's iterator into
    what the server iterates (an async iterator under ASGI)."""
    code, _, reason = answer.status.partition(" ")
    if isinstance(answer.body, bytes):
        response: HttpResponse = HttpResponse(answer.body, status=int(code), reason=reason or None)
    else:
        body = answer.body if stream is None else stream(answer.body)
        response = StreamingHttpResponse(body, status=int(code), reason=reason or None)
    if not any(k.lower() == "content-type" for k, _ in answer.headers):
        del response["Content-Type"]  # a 204 or a 304 has none; Django would add text/html
    for name, value in answer.headers:
        response[name] = value
    return response


class _Closing(Iterator[bytes]):
    """The rest of a WSGI body; ``close()`` closes the app's iterable (Django calls it), after
    a chunk still being read (at most a heartbeat) if another thread closes it."""

    def __init__(self, first: bytes, iterator: Iterator[bytes], chunks: Iterable[bytes]) -> None:
        self._first: bytes | None = first
        self._iterator = iterator
        self._chunks = chunks
        self._turn = threading.Lock()

    def __next__(self) -> bytes:
        with self._turn:
            if self._first is not None:
                first, self._first = self._first, None
                return first
            return next(self._iterator)

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            with self._turn:
                close()


def _content_type(headers: list[tuple[str, str]]) -> str:
    return next((v for k, v in headers if k.lower() == "content-type"), "")
