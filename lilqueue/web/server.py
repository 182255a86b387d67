"""A threaded WSGI server on the standard library, for ``python -m lilqueue serve`` and tests.

One daemon thread per connection, so long-polls and event streams never block other
requests (Bottle's default ``run()`` is single-threaded: never use it for this).

    server = make_server(queue.middleware(), "127.0.0.1", 8000)
    server.serve_forever()
"""

from __future__ import annotations

import logging
import socketserver
import threading
from collections.abc import Callable
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

logger = logging.getLogger("lilqueue.web")

THREAD_STACK = 1024 * 1024  # 1 MiB per connection thread instead of the usual 8 MiB
SOCKET_TIMEOUT = 20.0


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

    def handle(self) -> None:
        try:
            super().handle()
        except TimeoutError:
            logger.debug("%s timed out after %g s of silence", self.address_string(), self.timeout)

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("%s %s", self.address_string(), format % args)


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
