"""The WSGI face of a queue's HTTP core: start, watch (long-poll and SSE) and cancel jobs from
the browser.

    queue = lilqueue.Queue("app.db")

    # Flask: serve /jobs/... and hand everything else to the app, untouched
    app.wsgi_app = queue.middleware(app.wsgi_app)

    # standalone (python -m lilqueue serve, Bottle mount, DispatcherMiddleware, a2wsgi)
    application = queue.middleware()

    # one process is enough: a worker runs inside each process that serves the app
    app.wsgi_app = queue.middleware(app.wsgi_app, worker=True)

Requests under ``prefix`` are answered here (the prefix moves from ``PATH_INFO`` to
``SCRIPT_NAME``); every other request goes to ``app`` with its environ untouched, or gets a
404 problem when there is no ``app``. A request that waits (a long-poll, an event stream) holds
the server's thread while it waits, so how many may wait is judged per server (``holding.py``).
The options are described in ``options.py``; the endpoints in docs/http.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Iterator
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError, JobNotFound, WaitersFull
from .core import Core, problem_response
from .holding import Holding
from .http import Later, Request, Response, Stream, Wait
from .options import web_options
from .problems import not_found
from .wsgibody import read_body

if TYPE_CHECKING:
    from ..queue import Queue

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]
HEADERS_WITHOUT_PREFIX = {"CONTENT_TYPE": "content-type", "CONTENT_LENGTH": "content-length"}


class Middleware:
    """A plain WSGI callable serving a queue's endpoints under ``prefix`` (options: ``options.py``)."""

    def __init__(self, queue: Queue, app: WSGIApp | None = None, prefix: str = "/jobs", **options: Any) -> None:
        if app is not None and not callable(app):
            raise ConfigurationError(f"app must be callable, not {app!r}")
        self.options = web_options(prefix, wraps_app=app is not None, **options)
        self.queue = queue
        self.app = app
        self.prefix = self.options.prefix
        self.core = Core(queue, self.options)
        self.watcher = self.core.watcher
        self.embedded = self.core.embedded
        self.holding = Holding(self.options.hold, self.options.max_waiters)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if self.embedded is not None:
            self.embedded.ensure()
        path = environ.get("PATH_INFO", "")
        prefix = self.prefix
        if prefix and (path == prefix or path.startswith(prefix + "/")):
            script, rest = environ.get("SCRIPT_NAME", "") + prefix, path[len(prefix):]
        elif self.app is not None:
            return self.app(environ, start_response)
        elif not prefix or environ.get("SCRIPT_NAME", "").endswith(prefix):
            script, rest = environ.get("SCRIPT_NAME", ""), path  # mounted at the prefix by a host
        else:
            return _send(environ, start_response, problem_response(not_found()))
        environ = dict(environ, SCRIPT_NAME=script, PATH_INFO=rest or "/")
        try:
            text = rest.encode("latin-1").decode("utf-8")
        except UnicodeError:
            return _send(environ, start_response, problem_response(not_found("The path is not valid UTF-8.")))
        native = environ
        if rest == "/admin" or rest.startswith("/admin/"):  # the dashboard's hook sees where it is mounted
            native = dict(environ, SCRIPT_NAME=script + "/admin", PATH_INFO=rest[6:] or "/")
        request = Request(environ.get("REQUEST_METHOD", "GET"), text or "/", script, environ.get("QUERY_STRING", ""),
                          _headers(environ), environ.get("REMOTE_ADDR", ""), native, self.holding.limit(environ),
                          lambda max_body: read_body(environ, max_body), _resolve)
        answer = self.core.handle(request)
        if isinstance(answer, Later):
            answer = self._waited(answer)
        return _send(environ, start_response, answer, self._chunks)

    def close(self) -> None:
        """Stop the long-poll watcher thread (it restarts on the next wait) and this process's
        embedded worker (it restarts on the next request, not on a start: see ``embedded.py``)."""
        self.core.close()

    def _waited(self, later: Later) -> Response:
        sent = thrown = None
        while True:
            try:
                wait = self.core.resume(later.steps, sent, thrown)
            except StopIteration as done:
                return done.value
            sent, thrown = self._wait(wait)

    def _chunks(self, stream: Stream) -> Iterator[bytes]:
        sent = thrown = None
        try:
            while True:
                try:
                    item = self.core.resume(stream, sent, thrown)
                except StopIteration:
                    return
                sent = thrown = None
                if isinstance(item, bytes):
                    yield item
                else:
                    sent, thrown = self._wait(item)
        finally:
            stream.close()

    def _wait(self, wait: Wait) -> tuple[Any, BaseException | None]:
        try:
            return self.watcher.wait_for(wait), None
        except (WaitersFull, JobNotFound) as exc:
            return None, exc

    def __repr__(self) -> str:
        return f"<Middleware {self.prefix or '/'} for {self.queue!r}>"


def _headers(environ: dict) -> dict[str, str]:
    headers = {name: environ[key] for key, name in HEADERS_WITHOUT_PREFIX.items() if environ.get(key)}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers[key[5:].replace("_", "-").lower()] = value
    return headers


def _resolve(awaitable: Awaitable) -> Any:
    """An async hook's answer, on a WSGI server's thread (which runs no event loop)."""
    async def wait() -> Any:
        return await awaitable
    return asyncio.run(wait())


def _send(environ: dict, start_response: Callable, response: Response,
          chunks: Callable[[Stream], Iterator[bytes]] | None = None) -> Iterable[bytes]:
    status = f"{response.status} {_phrase(response.status)}"
    body = response.body
    head = environ.get("REQUEST_METHOD") == "HEAD"
    if isinstance(body, bytes):
        bodiless = response.status in (204, 304)  # no Content-Length: RFC 9110 §8.6
        length = [] if bodiless else [("Content-Length", str(len(body)))]
        start_response(status, [*response.headers, *length])
        return [] if head or bodiless else [body]
    start_response(status, response.headers)
    if head or chunks is None:
        body.close()
        return []
    return chunks(body)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
