"""Reading a ``Transfer-Encoding: chunked`` request body that the server passed on still framed
(wsgiref, which serves a WSGI app the raw socket after the headers): RFC 9112 §7.1, read one
chunk at a time, never past the body's end, so the connection stays in step.

    body = read_chunked(environ["wsgi.input"], max_body=65536)

Bounded everywhere: a size line, the trailers, and the body (``max_body`` → 413). Framing that
does not follow the grammar is a 400; a stream that ends before the first size line is a server
that withheld the body (Django's ``runserver`` hands the app an empty stream), a 411.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

from .problems import Problem, bad_request

MAX_LINE = 4096     # bytes of a size line with its extensions, or of one trailer line
MAX_TRAILERS = 8192  # bytes of the trailer section
SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(;[^\r\n]*)?\r\n")


def read_chunked(stream: Any, max_body: int, too_large: Problem) -> bytes:
    """The decoded body; ``too_large`` is raised once it passes ``max_body`` bytes, after the
    rest was read and dropped (up to four times ``max_body``) so the client sees the answer."""
    chunks: list[bytes] = []
    size = 0
    first = True
    while True:
        line = stream.readline(MAX_LINE + 1)
        if first and not line:
            raise Problem(411, "length-required", "Length required",
                          "This server does not pass chunked bodies on; send a Content-Length.")
        first = False
        match = SIZE.fullmatch(line)
        if match is None:
            raise bad_request("The chunked body is malformed: a chunk size line is not hexadecimal digits.")
        length = int(match.group(1), 16)
        if length == 0:
            _trailers(stream)
            return b"".join(chunks)
        if size + length > max_body:
            _drop(stream, length, 4 * max_body - size)
            raise too_large
        data = stream.read(length)
        if len(data) != length or stream.read(2) != b"\r\n":
            raise bad_request("The chunked body is malformed: a chunk is shorter than its size says.")
        chunks.append(data)
        size += length


def _trailers(stream: Any) -> None:
    """Read the trailer section to its empty line (its fields are not used)."""
    read = 0
    while True:
        line = stream.readline(MAX_LINE + 1)
        if line == b"\r\n":
            return
        read += len(line)
        if not line.endswith(b"\r\n") or read > MAX_TRAILERS:
            raise bad_request("The chunked body is malformed: its trailer section does not end.")


def _drop(stream: Any, pending: int, budget: int) -> None:
    """Read and drop the rest of a body that is too large, while it stays within ``budget``
    bytes; past that the server closes the connection anyway."""
    while 0 < pending <= budget:
        budget -= pending
        while pending:
            data = stream.read(min(pending, 65536))
            if not data:
                return
            pending -= len(data)
        stream.read(2)
        match = SIZE.fullmatch(stream.readline(MAX_LINE + 1))
        if match is None:
            return
        pending = int(match.group(1), 16)
        if pending == 0:
            with contextlib.suppress(Problem):  # the answer is a 413 whatever the trailers hold
                _trailers(stream)
            return
