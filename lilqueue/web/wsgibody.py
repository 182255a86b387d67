"""Reading a WSGI request's body for the core (``Request.body``): by its ``Content-Length`` or,
when it came chunked, to its end, at most ``max_body`` bytes (else a 413 Problem).

    body = read_body(environ, max_body=65536)
"""

from __future__ import annotations

from typing import Any

from .chunked import read_chunked
from .inputs import too_large
from .problems import Problem, bad_request


def read_body(environ: dict, max_body: int) -> bytes:
    """The body, by its ``Content-Length`` or, when it came chunked, to its end: decoded by the
    server (which says so with ``wsgi.input_terminated``), or still framed, which
    ``chunked.read_chunked`` decodes; at most ``max_body`` bytes."""
    length = environ.get("CONTENT_LENGTH", "").strip()
    stream = environ["wsgi.input"]
    if not length:
        if environ.get("wsgi.input_terminated") or "asgi.scope" in environ:  # a2wsgi: an ASGI body
            return _read_to_end(stream, max_body)
        if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            try:
                return read_chunked(stream, max_body, too_large(max_body))
            except TimeoutError:
                raise _timed_out() from None
        return b""
    if not length.isdigit() or len(length) > 15:
        raise bad_request("Content-Length is not a number.")
    size = int(length)
    if size > max_body:
        _drain(stream, size, 4 * max_body)
        raise too_large(max_body)
    data = _read(stream, size) if size else b""
    if len(data) != size:
        raise bad_request("The body is shorter than its Content-Length.")
    return data


def _read_to_end(stream: Any, max_body: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = _read(stream, min(65536, max_body + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > max_body:
            _drain(stream, 4 * max_body, 4 * max_body)
            raise too_large(max_body)


def _read(stream: Any, size: int) -> bytes:
    try:
        return stream.read(size)
    except TimeoutError:
        raise _timed_out() from None


def _timed_out() -> Problem:
    """The server's socket timeout: the client stopped sending its body."""
    return Problem(408, "request-timeout", "Request timeout", "The body did not arrive in time.")


def _drain(stream: Any, size: int, limit: int) -> None:
    """Read (and drop) a too-large body up to ``limit`` so the client can read our answer."""
    left = min(size, limit)
    while left > 0:
        chunk = stream.read(min(left, 65536))
        if not chunk:
            return
        left -= len(chunk)
