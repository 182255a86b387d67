"""The HTTP core both faces share: one per face object, made from a queue and its checked options.

    core = Core(queue, web_options(prefix="/jobs", wraps_app=False))
    answer = core.handle(request)          # a Response, or a Later that waits first (http.py)
    wait_or_response = core.resume(later, sent=newer_job)

It routes a request under the prefix to the public endpoints (``routes.py``), the dashboard
(``admin/``) or the metrics, adds the headers every answer carries (``no-store`` unless the
answer says otherwise, ``nosniff``, CORS for a trusted origin), answers CORS preflights, and turns
every error into a problem document through the one table in ``problems.py``; anything
unexpected is logged to ``lilqueue.web`` and answered 500 without a traceback. Each step runs in
a store scope, so no connection stays open while a request waits.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from . import metrics
from .admin import Admin
from .embedded import Embedded
from .http import Later, Request, Response, Wait
from .presence import Presence
from .problems import PROBLEM_TYPE, Problem, answering, forbidden, not_found
from .routes import Routes
from .watcher import Watcher

if TYPE_CHECKING:
    from ..queue import Queue
    from .options import WebOptions

logger = logging.getLogger("lilqueue.web")
PREFLIGHT = [("Access-Control-Allow-Methods", "GET, POST"),
             ("Access-Control-Allow-Headers", "Content-Type, Last-Event-ID, If-Match, If-None-Match"),
             ("Access-Control-Max-Age", "600")]


class Core:
    def __init__(self, queue: Queue, options: WebOptions) -> None:
        self.queue = queue
        self.options = options
        self.watcher = Watcher(queue, max_waiters=options.max_waiters)
        self.presence = Presence(queue)
        self.embedded = Embedded(queue, options.threads) if options.threads else None
        self.routes = Routes(queue, options, self.watcher, self.presence)
        self.admin = None if options.admin is None else Admin(queue, options, self.watcher, options.admin)

    def handle(self, request: Request) -> Response | Later:
        """The answer to a request whose ``path`` is relative to the prefix."""
        path = request.path
        if path == "/admin" or path.startswith("/admin/"):
            if self.admin is None:
                return problem_response(not_found())
            return self.admin.handle(request.with_mount("/admin"))
        if path == "/metrics":
            return self._metrics(request)
        cors = self._cors(request)
        if request.method == "OPTIONS" and cors:
            return Response(204, [*cors, *PREFLIGHT, ("Cache-Control", "no-store")])
        try:
            with self.queue.store.scope():
                answer = self.routes.answer(request)
        except Exception as exc:
            return _error_response(exc, request).sealed(*cors)
        if isinstance(answer, Later):
            return Later(self._finished(answer.steps, request, cors))
        return answer.sealed(*cors)

    def resume(self, steps: Generator, sent: Any = None, thrown: BaseException | None = None) -> Any:
        """One step of a Later's or a Stream's generator, in a store scope: what it yields next;
        StopIteration when it ended (its value: a Later's Response)."""
        with self.queue.store.scope():
            return steps.send(sent) if thrown is None else steps.throw(thrown)

    def close(self) -> None:
        """Stop the long-poll watcher thread (it restarts on the next wait) and this process's
        embedded worker."""
        self.watcher.close()
        if self.embedded is not None:
            self.embedded.stop()

    def _finished(self, steps: Generator[Wait, Any, Response], request: Request,
                  cors: list[tuple[str, str]]) -> Generator[Wait, Any, Response]:
        try:
            response = yield from steps
        except Exception as exc:
            response = _error_response(exc, request)
        return response.sealed(*cors)

    def _metrics(self, request: Request) -> Response:
        hook = self.options.metrics
        if hook is None:
            return problem_response(not_found())
        if not allowed(request, hook):
            return problem_response(forbidden("Only operators may read the metrics."))
        return metrics.answer(self.queue, request.method)

    def _cors(self, request: Request) -> list[tuple[str, str]]:
        origin = request.headers.get("origin")
        if not origin or origin not in self.options.cors_origins:
            return []
        return [("Access-Control-Allow-Origin", origin), ("Vary", "Origin"),
                ("Access-Control-Expose-Headers", "Location, Retry-After, ETag")]

    def __repr__(self) -> str:
        return f"<Core {self.options.prefix or '/'} for {self.queue!r}>"


def allowed(request: Request, hook: Any) -> bool:
    """Whether an access hook lets this request in; a broken hook lets nobody in, and says why
    in the log only."""
    try:
        return bool(request.call(hook))
    except Exception:
        logger.exception("the access hook %r failed; refusing the request", hook)
        return False


def problem_response(problem: Problem) -> Response:
    return Response(problem.status, [("Content-Type", PROBLEM_TYPE), *problem.headers.items(),
                                     ("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff")],
                    problem.body())


def _error_response(exc: Exception, request: Request) -> Response:
    problem = answering(exc, logger, f"{request.method} {request.root}{request.path}")
    return Response(problem.status, [("Content-Type", PROBLEM_TYPE), *problem.headers.items()], problem.body())
