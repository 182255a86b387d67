"""Real HTTP for tests: run a WSGI app on lilqueue's threaded server (or an ASGI app on uvicorn)
on 127.0.0.1 and talk to it with http.client.

    with running(queue.middleware()) as base:      # base = "http://127.0.0.1:PORT"
        status, headers, body = request(base, "GET", "/jobs/tasks")
    with asgi_running(queue.asgi()) as base:
        ...

``serving(queue, face)`` makes a fixture of either (see its docstring); ``header(native, name)``
reads a request header in a hook, whichever face called it.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import uvicorn
import waitress.server
from a2wsgi import WSGIMiddleware

from lilqueue.web.server import make_server


@contextlib.contextmanager
def running(app: Callable, server: Any = None) -> Iterator[str]:
    """Serve ``app`` on a free port in a background thread; yields the base URL. ``server``:
    another socketserver-style server already bound to ``app`` (wsgiref's, werkzeug's)
    instead of lilqueue's threaded one."""
    server = server or make_server(app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
        close = getattr(app, "close", None)
        if close is not None:
            close()


@contextlib.contextmanager
def asgi_running(app: Callable, lifespan: str = "on", root_path: str = "") -> Iterator[str]:
    """Serve the ASGI ``app`` on uvicorn (one event loop, as ``uvicorn app:app`` runs it) in a
    background thread; yields the base URL once it listens."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, lifespan=lifespan, root_path=root_path, log_level="warning",
                            timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        close = getattr(app, "close", None)
        if close is not None:
            close()


@contextlib.contextmanager
def waitress_serving(app: Callable, threads: int = 4) -> Iterator[str]:
    """``app`` on waitress with a pool of ``threads`` (4 is waitress-serve's default)."""
    # A socket map of its own: waitress's default one is shared by every server in the process,
    # and a closed server's channels there would be served by the next one.
    # poll(), not select(): a long test session may hold more than 1,024 file descriptors.
    server = waitress.server.create_server(app, map={}, host="127.0.0.1", port=0, threads=threads,
                                           asyncore_use_poll=True)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        server.close()
        thread.join(5)
        app.close()


@contextlib.contextmanager
def serving(queue: Any, face: str = "wsgi") -> Iterator[Callable[..., str]]:
    """For a fixture: yields ``start(app=None, **options) -> base URL`` that serves
    ``queue.middleware(app, **options)`` (``face="wsgi"``, on lilqueue's threaded server) or
    ``queue.asgi(app, **options)`` (``face="asgi"``, on uvicorn) until the block ends;
    ``start.faces`` lists the objects served (for their ``watcher``). A host ``app`` is a WSGI
    app; the ASGI face gets it through a2wsgi, as a FastAPI app would mount it.

        @pytest.fixture
        def serve_middleware(queue, face):     # face: "wsgi" and "asgi", from conftest.py
            with serving(queue, face) as start:
                yield start
    """
    if face not in ("wsgi", "asgi"):
        raise ValueError(f"face must be 'wsgi' or 'asgi', not {face!r}")
    stack = contextlib.ExitStack()

    def start(app: Any = None, **options: Any) -> str:
        if face == "wsgi":
            served = queue.middleware(app, **options)
            start.faces.append(served)
            return stack.enter_context(running(served))
        served = queue.asgi(None if app is None else WSGIMiddleware(app), **options)
        start.faces.append(served)
        return stack.enter_context(asgi_running(served))

    start.faces = []
    with stack:
        yield start


def header(native: dict, name: str) -> str | None:
    """The request header ``name`` as a hook sees it: in a WSGI environ (``HTTP_X_USER``) or
    an ASGI scope (``(b"x-user", b"...")`` pairs); None when the request has none."""
    if native.get("type") in ("http", "websocket"):
        wanted = name.lower().encode("latin-1")
        values = [value.decode("latin-1") for key, value in native.get("headers", ()) if key == wanted]
        return ", ".join(values) if values else None
    key = name.upper().replace("-", "_")
    return native.get(key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}")


class Response:
    def __init__(self, status: int, headers: http.client.HTTPMessage, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.body[:200]!r}>"


def request(base: str, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
            timeout: float = 30.0) -> Response:
    """One HTTP request; a dict/list ``body`` is sent as JSON, bytes/str as they are."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    headers = dict(headers or {})
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    elif isinstance(body, str):
        body = body.encode()
    try:
        conn.request(method, path, body=body, headers=headers)
        answer = conn.getresponse()
        return Response(answer.status, answer.headers, answer.read())
    finally:
        conn.close()


def post_json(base: str, path: str, body: Any = None, **headers: str) -> Response:
    """A same-origin JSON POST, as the JS client sends it."""
    return request(base, "POST", path, {} if body is None else body, headers)
