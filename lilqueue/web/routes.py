"""The endpoints behind ``queue.middleware()``, routed by a private Bottle instance.

Every handler answers JSON (or problem JSON); a guard around each one turns lilqueue's errors
into problems through the table in ``problems.py`` and logs anything unexpected to the
``lilqueue.web`` logger. Input is checked before the database is touched: ids against their
format, bodies against a size limit, a content type and a shape.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import bottle

from ..errors import JobNotFound, UnknownTask, WaitersFull
from ..flows import startable
from ..job import Job
from ..states import QUEUED
from . import conditional, inputs, openapi, statuspage
from .holding import RETRY_UNHELD
from .inputs import JSON_TYPE, SINCE_PATTERN, check_id, check_same_origin, poll_params, read_json, start_fields
from .longpoll import poll
from .problems import PROBLEM_TYPE, Problem, bad_request, forbidden, job_not_found, not_found, problem_for

if TYPE_CHECKING:
    from .middleware import Middleware

logger = logging.getLogger("lilqueue.web")

STATIC = {"lilqueue.js": "text/javascript; charset=utf-8"}
STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_MAX_AGE = 3600  # seconds


class _App(bottle.Bottle):
    """Bottle's own answers (no route, wrong method) as problem JSON, not its HTML page."""

    def default_error_handler(self, res: bottle.HTTPError) -> bytes:
        if res.status_code == 405:
            problem = Problem(405, "method-not-allowed", "Method not allowed",
                              f"This resource answers {res.headers.get('Allow', '')}.")
        elif res.status_code == 404:
            problem = not_found()
        else:
            if res.traceback:
                logger.error("unexpected error in the lilqueue middleware:\n%s", res.traceback)
            problem = Problem(res.status_code, "error", res.status_line[4:] or "Error",
                              "The request could not be answered.")
        bottle.response.content_type = PROBLEM_TYPE
        return problem.body()


class Routes:
    def __init__(self, middleware: Middleware) -> None:
        self.mw = middleware
        self.queue = middleware.queue
        self.app = _App()
        self.app.install(self._guard)
        route = self.app.route
        route("/", "POST", self.start)
        route("/tasks", "GET", self.tasks)
        route("/health", "GET", self.health)
        route("/openapi.json", "GET", self.openapi)
        route("/static/<name>", "GET", self.static)
        route("/<job_id>", "GET", self.get)
        route("/<job_id>/cancel", "POST", self.cancel)
        route("/<job_id>/events", "GET", self.events)
        route("/<job_id>/status", "GET", self.status)

    def start(self) -> bottle.HTTPResponse:
        environ = bottle.request.environ
        check_same_origin(environ, self.mw.cors_origins)
        body = read_json(environ, self.mw.max_body)
        task, args, kwargs, key, delay = start_fields(body)
        registered = startable(self.queue).get(task) if isinstance(task, str) else None
        if registered is None:
            raise UnknownTask(task)
        if not self._allowed(environ, "start", registered.name):
            raise forbidden("You may not start this task.")
        owner = self.mw.identify(environ) if self.mw.identify else None
        job = self.queue.start(registered, args, kwargs, key=key, owner=owner, delay=delay)
        if job.owner != owner and not self._allowed(environ, "view", job):
            raise Problem(409, "key-in-use", "Key in use", "Another job holds this key.")
        url = self._url(environ, job.id)
        return _json(self._job_dict(environ, job), 202, Location=url, ETag=conditional.etag(job))

    def get(self, job_id: str) -> bottle.HTTPResponse:
        environ = bottle.request.environ
        check_id(job_id)
        since, wait = poll_params(environ.get("QUERY_STRING", ""), self.mw.max_wait)
        job = self._viewable(environ, job_id, known=self.mw.watcher.latest(job_id) if wait else None)
        held = True
        if wait:
            job, held = poll(self.mw, environ, job, since, wait)
        tag = conditional.etag(job)
        if conditional.lists(environ.get("HTTP_IF_NONE_MATCH"), tag):
            headers = {"ETag": tag} if held else {"ETag": tag, "Retry-After": str(RETRY_UNHELD)}
            return bottle.HTTPResponse(status=304, headers=headers)
        return _json(self._job_dict(environ, job), ETag=tag) if held else self._unheld(environ, job)

    def cancel(self, job_id: str) -> bottle.HTTPResponse:
        environ = bottle.request.environ
        check_id(job_id)
        check_same_origin(environ, self.mw.cors_origins)
        body = read_json(environ, self.mw.max_body, empty_ok=True)
        if body is not None and not isinstance(body, dict):
            raise bad_request("The body must be empty or a JSON object.")
        job = self._viewable(environ, job_id, action="cancel")
        # A finished job answers 409 whatever If-Match says (RFC 9110 §13.2.1).
        version = None if job.finished else conditional.matched_version(environ.get("HTTP_IF_MATCH"), job)
        job = self.queue.cancel(job.id, version=version)
        return _json(self._job_dict(environ, job), 202, ETag=conditional.etag(job))

    def events(self, job_id: str) -> bottle.HTTPResponse:
        environ = bottle.request.environ
        check_id(job_id)
        since, _ = poll_params(environ.get("QUERY_STRING", ""), self.mw.max_wait)
        last_id = environ.get("HTTP_LAST_EVENT_ID")
        if last_id is not None:
            if not SINCE_PATTERN.fullmatch(last_id.strip()):
                raise bad_request("Last-Event-ID must be a job version (a whole number).")
            since = int(last_id)
        job = self._viewable(environ, job_id)
        if since is not None and job.finished and job.version <= since:
            return bottle.HTTPResponse(status=204)  # tells EventSource to stop reconnecting
        headers = {"Content-Type": "text/event-stream; charset=utf-8", "X-Accel-Buffering": "no"}
        limit = self.mw.holding.limit(environ)
        if self.mw.watcher.waiting >= limit:
            # Not held: the current state and a time to come back. Any answer but 200 would
            # make EventSource give up for good.
            retry = 5000 if limit >= self.mw.watcher.max_waiters else 1000 * RETRY_UNHELD
            return bottle.HTTPResponse(self._brief(environ, job, since, retry), 200, headers)
        return bottle.HTTPResponse(self._stream(environ, job, since, limit), 200, headers)

    def status(self, job_id: str) -> bottle.HTTPResponse:
        environ = bottle.request.environ
        check_id(job_id)
        next_url = inputs.next_param(environ.get("QUERY_STRING", ""))
        job = self._viewable(environ, job_id)
        page = statuspage.render(job, next_url=next_url, no_worker=self._no_worker(job))
        return bottle.HTTPResponse(page.encode(), 200, {
            "Content-Type": "text/html; charset=utf-8", "Referrer-Policy": "no-referrer",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:"})

    def tasks(self) -> bottle.HTTPResponse:
        environ = bottle.request.environ
        listed = [t.describe() for name, t in sorted(startable(self.queue).items())
                  if self._allowed(environ, "start", name)]
        return _json({"tasks": listed})

    def health(self) -> bottle.HTTPResponse:
        counts = self.queue.store.counts()
        beat = self.queue.store.freshest_heartbeat()
        age = None if beat is None else round(max(time.time() - beat, 0.0), 3)
        members = {"queued": counts["queued"], "running": counts["running"], "heartbeat_age": age}
        if age is None or age > self.queue.heartbeat_timeout:
            raise Problem(503, "no-worker", "No worker", "No worker has sent a heartbeat recently.", **members)
        return _json({"status": "ok", **members})

    def openapi(self) -> bottle.HTTPResponse:
        return _json(openapi.document(bottle.request.environ.get("SCRIPT_NAME", ""), self.queue))

    def static(self, name: str) -> bottle.HTTPResponse:
        if name not in STATIC:
            raise not_found()
        try:
            data = (STATIC_DIR / name).read_bytes()
        except OSError:
            raise not_found(f"{name} is not installed.") from None
        # Cached, and revalidated with its ETag once stale: an upgrade reaches browsers within
        # STATIC_MAX_AGE, and an unchanged file is answered 304 without a body.
        etag = f'"{hashlib.sha256(data).hexdigest()[:20]}"'
        headers = {"ETag": etag, "Cache-Control": f"public, max-age={STATIC_MAX_AGE}"}
        if conditional.lists(bottle.request.environ.get("HTTP_IF_NONE_MATCH"), etag):
            return bottle.HTTPResponse(status=304, headers=headers)
        return bottle.HTTPResponse(data, 200, {"Content-Type": STATIC[name], **headers})

    def _guard(self, callback: Callable) -> Callable:
        """Bottle plugin: problems for every error, and no connection left open per thread."""

        @functools.wraps(callback)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                with self.queue.store.scope():
                    return callback(*args, **kwargs)
            except Problem as problem:
                return _problem(problem)
            except Exception as exc:
                problem = problem_for(exc)
                if problem is None:
                    request = bottle.request
                    logger.exception("error answering %s %s", request.method, request.path)
                    problem = Problem(500, "internal-error", "Internal error",
                                      "The request could not be answered; the server's log has the details.")
                elif problem.status >= 500:
                    logger.warning("answering %d: %s", problem.status, exc)
                return _problem(problem)

        return guarded

    def _viewable(self, environ: dict, job_id: str, action: str = "view", known: Job | None = None) -> Job:
        try:
            job = known or self.queue.get(job_id)
        except JobNotFound:
            raise job_not_found() from None
        if not self._allowed(environ, action, job):
            raise job_not_found()  # someone else's job: do not tell that it exists
        return job

    def _allowed(self, environ: dict, action: str, target: str | Job) -> bool:
        return self.mw.authorize is None or bool(self.mw.authorize(environ, action, target))

    def _unheld(self, environ: dict, job: Job) -> bottle.HTTPResponse:
        """A long-poll this server cannot afford to hold: the job now, and when to ask again."""
        return _json(self._job_dict(environ, job), **{"Retry-After": str(RETRY_UNHELD), "ETag": conditional.etag(job)})

    def _brief(self, environ: dict, job: Job, since: int | None, retry_ms: int) -> Iterator[bytes]:
        """An event stream that is not held: a reconnection delay, the job if newer, the end."""
        yield f"retry: {retry_ms}\n\n".encode()
        if since is None or job.version > since:
            yield _event(job, self._job_dict(environ, job))

    def _stream(self, environ: dict, job: Job, since: int | None, limit: int) -> Iterator[bytes]:
        deadline = time.monotonic() + self.mw.stream_lifetime
        yield b"retry: 2000\n\n"
        try:
            if since is None or job.version > since:
                yield _event(job, self._job_dict(environ, job))
                since = job.version
            while not job.finished:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                try:
                    newer = self.mw.watcher.wait(job, since, min(self.mw.heartbeat, left), limit=limit)
                except (WaitersFull, JobNotFound):
                    return
                if newer is None:
                    yield b": heartbeat\n\n"
                    continue
                job, since = newer, newer.version
                yield _event(job, self._job_dict(environ, job))
        except Exception:
            logger.exception("error while streaming events of job %s", job.id)

    def _job_dict(self, environ: dict, job: Job) -> dict[str, Any]:
        return dict(job.to_dict(), url=self._url(environ, job.id), no_worker=self._no_worker(job))

    def _no_worker(self, job: Job) -> bool:
        return job.state == QUEUED and not self.mw.presence.alive()

    def _url(self, environ: dict, job_id: str) -> str:
        return f"{environ.get('SCRIPT_NAME', '')}/{job_id}"


def _json(data: Any, status: int = 200, **headers: str) -> bottle.HTTPResponse:
    return bottle.HTTPResponse(json.dumps(data).encode(), status, {"Content-Type": JSON_TYPE, **headers})


def _problem(problem: Problem) -> bottle.HTTPResponse:
    return bottle.HTTPResponse(problem.body(), problem.status, {"Content-Type": PROBLEM_TYPE, **problem.headers})


def _event(job: Job, data: dict[str, Any]) -> bytes:
    return f"id: {job.version}\ndata: {json.dumps(data)}\n\n".encode()
