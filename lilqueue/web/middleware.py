"""The WSGI middleware that gives a queue its HTTP face: start, watch (long-poll and SSE) and
cancel jobs from the browser.

    queue = lilqueue.Queue("app.db")

    # Flask: serve /jobs/... and hand everything else to the app, untouched
    app.wsgi_app = queue.middleware(app.wsgi_app)

    # standalone (python -m lilqueue serve, Bottle mount, DispatcherMiddleware, a2wsgi)
    application = queue.middleware()

    # one process is enough: a worker runs inside each process that serves the app
    app.wsgi_app = queue.middleware(app.wsgi_app, worker=True)

Requests under ``prefix`` are answered here (the prefix moves from ``PATH_INFO`` to
``SCRIPT_NAME``); every other request goes to ``app`` with its environ untouched, or gets a
404 problem when there is no ``app``. Routing is done by a private Bottle instance that is
never handed out; Bottle's globals are left alone. See docs/http.md for the endpoints.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import bottle

from ..errors import ConfigurationError
from ..settings import MIDDLEWARE
from .admin import Admin
from .embedded import Embedded
from .holding import Holding
from .metrics import MetricsApp
from .presence import Presence
from .problems import PROBLEM_TYPE, Problem, not_found
from .routes import Routes
from .watcher import Watcher

if TYPE_CHECKING:
    from ..job import Job
    from ..queue import Queue

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]
Identify = Callable[[dict], "str | None"]
Authorize = Callable[[dict, str, "str | Job"], bool]
Hook = Callable[[dict], bool]
logger = logging.getLogger("lilqueue.web")
PREFIX_PATTERN = re.compile(r"(/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)*")


class Middleware:
    """A plain WSGI callable serving a queue's endpoints under ``prefix``.

    ``identify(environ) -> str | None`` names the user; it is stored as the job's owner.
    ``authorize(environ, action, target) -> bool`` is asked with action ``"start"`` (target:
    the task name), ``"view"`` and ``"cancel"`` (target: the Job). Without it, anyone who can
    reach the endpoints may start any registered task and, knowing a job's id, watch and
    cancel it. ``max_waiters`` caps the requests waiting at once (long-poll and SSE); past it
    they get 429 with ``Retry-After``. ``hold`` says how many of them this process may hold
    (``"auto"``: by server kind, see ``holding.py``); the others are answered at once with the
    current job and ``Retry-After``. ``worker=True`` (or a number of threads) runs a worker
    inside every process that serves the middleware (see ``embedded.py``). ``admin``
    (``hook(environ) -> bool``, who is an operator) serves the dashboard at
    ``{prefix}/admin/``, and ``metrics`` (a hook too, by default ``admin``'s) the Prometheus
    figures at ``{prefix}/metrics``; without a hook both are 404, refused by it 403. ``max_wait`` caps a
    long-poll's ``wait`` (seconds); ``max_body`` caps a POST body (bytes); ``stream_lifetime``
    bounds one SSE stream;
    ``cors_origins`` lists origins (``"https://app.example"``) allowed to call cross-origin.
    """

    def __init__(self, queue: Queue, app: WSGIApp | None = None, prefix: str = "/jobs", *,
                 identify: Identify | None = None, authorize: Authorize | None = None,
                 max_waiters: int = MIDDLEWARE.max_waiters, max_wait: float = MIDDLEWARE.max_wait,
                 max_body: int = MIDDLEWARE.max_body, stream_lifetime: float = MIDDLEWARE.stream_lifetime,
                 heartbeat: float = MIDDLEWARE.heartbeat, cors_origins: Iterable[str] | None = None,
                 hold: str | int = MIDDLEWARE.hold, worker: bool | int = MIDDLEWARE.worker,
                 admin: Hook | None = None, metrics: Hook | None = None) -> None:
        if not isinstance(prefix, str) or not PREFIX_PATTERN.fullmatch(prefix.rstrip("/")):
            raise ConfigurationError(f"prefix must look like '/jobs' (or ''), not {prefix!r}")
        prefix = prefix.rstrip("/")
        if not prefix and app is not None:
            raise ConfigurationError("a middleware in front of an app needs a prefix such as '/jobs'")
        max_waiters = MIDDLEWARE.check("max_waiters", max_waiters)
        max_body = MIDDLEWARE.check("max_body", max_body)
        hold = MIDDLEWARE.check("hold", hold)
        threads = MIDDLEWARE.check("worker", worker)
        for name, hook in (("identify", identify), ("authorize", authorize), ("app", app), ("admin", admin),
                           ("metrics", metrics)):
            if hook is not None and not callable(hook):
                raise ConfigurationError(f"{name} must be callable, not {hook!r}")
        if isinstance(cors_origins, str):
            cors_origins = [cors_origins]
        self.queue = queue
        self.app = app
        self.prefix = prefix
        self.identify = identify
        self.authorize = authorize
        self.max_wait = MIDDLEWARE.check("max_wait", max_wait)
        self.max_body = max_body
        self.stream_lifetime = MIDDLEWARE.check("stream_lifetime", stream_lifetime)
        self.heartbeat = MIDDLEWARE.check("heartbeat", heartbeat)
        self.cors_origins = frozenset(o.rstrip("/") for o in cors_origins or ())
        self.watcher = Watcher(queue, max_waiters=max_waiters)
        self.holding = Holding(hold, max_waiters)
        self.presence = Presence(queue)
        self.embedded = Embedded(queue, threads) if threads else None
        self._routes = Routes(self)
        self._admin = None if admin is None else Admin(self, admin)
        metrics = metrics or admin
        self._metrics = None if metrics is None else Guarded(MetricsApp(queue), metrics,
                                                            "Only operators may read the metrics.")

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if self.embedded is not None:
            self.embedded.ensure()
        path = environ.get("PATH_INFO", "")
        if self.prefix and (path == self.prefix or path.startswith(self.prefix + "/")):
            script, rest = environ.get("SCRIPT_NAME", "") + self.prefix, path[len(self.prefix):]
        elif self.app is not None:
            return self.app(environ, start_response)
        elif not self.prefix or environ.get("SCRIPT_NAME", "").endswith(self.prefix):
            script, rest = environ.get("SCRIPT_NAME", ""), path  # mounted at the prefix by a host
        else:
            return answer(environ, start_response, not_found())
        environ = dict(environ, SCRIPT_NAME=script, PATH_INFO=rest or "/")
        try:
            rest.encode("latin-1").decode("utf-8")
        except UnicodeError:
            return answer(environ, start_response, not_found("The path is not valid UTF-8."))
        cors = self._cors_headers(environ)
        if environ.get("REQUEST_METHOD") == "OPTIONS" and cors:
            return self._preflight(start_response, cors)
        if rest == "/admin" or rest.startswith("/admin/"):
            if self._admin is None:
                return answer(environ, start_response, not_found())
            return self._admin(dict(environ, SCRIPT_NAME=script + "/admin", PATH_INFO=rest[6:] or "/"),
                               start_response)
        if rest == "/metrics":
            if self._metrics is None:
                return answer(environ, start_response, not_found())
            return self._metrics(environ, start_response)

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if not any(k.lower() == "cache-control" for k, _ in headers):
                headers = [*headers, ("Cache-Control", "no-store")]  # jobs change: never cache them
            headers = [*headers, ("X-Content-Type-Options", "nosniff"), *cors]
            return start_response(status, headers, exc_info)

        return self._dispatch(environ, start)

    def close(self) -> None:
        """Stop the long-poll watcher thread (it restarts on the next wait) and this process's
        embedded worker (it restarts on the next request)."""
        self.watcher.close()
        if self.embedded is not None:
            self.embedded.stop()

    def _dispatch(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        # Bottle binds its thread-local request to our environ; give a host Bottle app that
        # mounted us its own request back afterwards.
        try:
            outer = bottle.request.environ
        except RuntimeError:
            outer = None
        try:
            return self._routes.app(environ, start_response)
        finally:
            if outer is not None:
                bottle.request.bind(outer)

    def _cors_headers(self, environ: dict) -> list[tuple[str, str]]:
        origin = environ.get("HTTP_ORIGIN")
        if not origin or origin not in self.cors_origins:
            return []
        return [("Access-Control-Allow-Origin", origin), ("Vary", "Origin"),
                ("Access-Control-Expose-Headers", "Location, Retry-After, ETag")]

    def _preflight(self, start_response: Callable, cors: list[tuple[str, str]]) -> list[bytes]:
        start_response("204 No Content", [
            *cors, ("Access-Control-Allow-Methods", "GET, POST"),
            ("Access-Control-Allow-Headers", "Content-Type, Last-Event-ID, If-Match, If-None-Match"),
            ("Access-Control-Max-Age", "600"), ("Cache-Control", "no-store")])
        return []

    def __repr__(self) -> str:
        return f"<Middleware {self.prefix or '/'} for {self.queue!r}>"


class Guarded:
    """A WSGI app that only those ``hook(environ)`` lets in reach; the others get 403."""

    def __init__(self, app: WSGIApp, hook: Hook, refusal: str) -> None:
        self.app = app
        self.hook = hook
        self.refusal = refusal

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        try:
            allowed = bool(self.hook(environ))
        except Exception:  # a broken hook lets nobody in, and says why in the log only
            logger.exception("the access hook %r failed; refusing the request", self.hook)
            allowed = False
        if not allowed:
            return answer(environ, start_response, Problem(403, "forbidden", "Forbidden", self.refusal))
        return self.app(environ, start_response)


def answer(environ: dict, start_response: Callable, problem: Problem) -> list[bytes]:
    """A problem document as the whole answer."""
    body = problem.body()
    start_response(f"{problem.status} {_phrase(problem.status)}", [
        ("Content-Type", PROBLEM_TYPE), ("Content-Length", str(len(body))),
        ("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff")])
    return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]


def _phrase(status: int) -> str:
    return bottle.HTTP_CODES.get(status, "Error")
