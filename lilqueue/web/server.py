"""A threaded WSGI server on the standard library, for ``python -m lilqueue serve`` and tests.

One daemon thread per connection, so long-polls and event streams never block other
requests (Bottle's default ``run()`` is single-threaded: never use it for this). Chunked
request bodies are decoded (wsgiref passes them on raw).

    server = make_server(queue.middleware(), "127.0.0.1", 8000)
    server.serve_forever()
"""

from __future__ import annotations

import logging
import socketserver
import threading
from collections.abc import Callable
from typing import BinaryIO
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

logger = logging.getLogger("lilqueue.web")

THREAD_STACK = 1024 * 1024  # 1 MiB per connection thread instead of the usual 8 MiB
SOCKET_TIMEOUT = 20.0
MAX_LINE = 1024  # bytes of a chunk-size line


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024  # listen backlog: a burst of long-poll clients is not refused
    allow_reuse_address = True


class QuietHandler(WSGIRequestHandler):
    """Request lines go to the ``lilqueue.web`` logger at debug level, not to stderr."""

    # A client silent this long while sending its request (or not reading a stream) loses the
    # connection: a slow-loris client cannot hold a thread forever. Waits do not touch the socket.
    timeout = SOCKET_TIMEOUT

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.rfile = ChunkedInput(self.rfile)  # the WSGI handler built next reads from it
        return True

    def get_environ(self) -> dict:
        environ = super().get_environ()
        if isinstance(self.rfile, ChunkedInput):
            environ["wsgi.input_terminated"] = True
        return environ

    def handle(self) -> None:
        try:
            super().handle()
        except TimeoutError:
            logger.debug("%s timed out after %g s of silence", self.address_string(), self.timeout)

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("%s %s", self.address_string(), format % args)


class ChunkedInput:
    """A chunked request body (RFC 9112, section 7.1) read as its plain bytes. Bad framing
    ends the body there: what was read is then incomplete JSON, answered 400."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.left = 0       # bytes left in the current chunk
        self.done = False

    def read(self, size: int = -1) -> bytes:
        out: list[bytes] = []
        wanted = size if size is not None and size >= 0 else float("inf")
        while wanted > 0 and not self.done:
            if self.left == 0 and not self._next_chunk():
                break
            data = self.raw.read(int(min(self.left, wanted)))
            if not data:
                self.done = True
                break
            out.append(data)
            self.left -= len(data)
            wanted -= len(data)
            if self.left == 0:
                self.raw.readline(MAX_LINE)  # the CRLF after a chunk
        return b"".join(out)

    def readline(self, size: int = -1) -> bytes:
        line = bytearray()
        while not line.endswith(b"\n") and (size is None or size < 0 or len(line) < size):
            byte = self.read(1)
            if not byte:
                break
            line += byte
        return bytes(line)

    def close(self) -> None:  # the handler closes its rfile when the connection ends
        self.raw.close()

    def _next_chunk(self) -> bool:
        try:
            self.left = int(self.raw.readline(MAX_LINE).split(b";", 1)[0].strip(), 16)
        except ValueError:
            self.left = 0
        if self.left <= 0:  # the last chunk (or bad framing): skip the trailer fields
            while self.raw.readline(MAX_LINE).strip():
                pass
            self.done = True
        return not self.done


def make_server(app: Callable, host: str = "127.0.0.1", port: int = 8000) -> ThreadingWSGIServer:
    """A threaded server bound to ``host:port`` (port 0 picks a free port: see ``server_port``)."""
    server = ThreadingWSGIServer((host, port), QuietHandler)
    server.set_app(app)
    return server


def serve(app: Callable, host: str = "127.0.0.1", port: int = 8000,
          ready: Callable[[ThreadingWSGIServer], None] | None = None) -> None:
    """Serve ``app`` until interrupted; ``ready(server)`` is called once it listens."""
    threading.stack_size(THREAD_STACK)
    server = make_server(app, host, port)
    try:
        if ready is not None:
            ready(server)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
