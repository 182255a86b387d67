"""The public endpoints (docs/http.md), for both faces: each takes a ``Request`` and gives a
``Response``, or a ``Later`` when it waits for a job (``http.py``). Routing is Bottle's router.

Input is checked before the database is touched: ids against their format, bodies against a
size limit, a content type and a shape. Errors become problems in ``core.py``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import bottle

from ..errors import JobNotFound, UnknownTask, WaitersFull
from ..flows import startable
from ..states import QUEUED
from . import conditional, inputs, openapi, staticfiles, statuspage
from .holding import RETRY_UNHELD
from .http import Later, Request, Response, Stream, Wait, WaitJob
from .inputs import SINCE_PATTERN, check_id, check_same_origin, poll_params, read_json, start_fields
from .longpoll import poll
from .problems import Problem, bad_request, forbidden, job_not_found, not_found

if TYPE_CHECKING:
    from ..job import Job
    from ..queue import Queue
    from .options import WebOptions
    from .presence import Presence
    from .watcher import Watcher

logger = logging.getLogger("lilqueue.web")

STATIC = ("lilqueue.js",)
STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_MAX_AGE = 3600  # seconds
EVENTS_KEPT = 1024  # rendered events: every stream watching one job sends the same bytes
Handler = Callable[..., "Response | Later"]


class Routes:
    def __init__(self, queue: Queue, options: WebOptions, watcher: Watcher, presence: Presence) -> None:
        self.queue = queue
        self.options = options
        self.watcher = watcher
        self.presence = presence
        self._events: dict[tuple[str, int, str, bool], bytes] = {}
        self.router = bottle.Router()
        for rule, method, handler in (
                ("/", "POST", self.start), ("/tasks", "GET", self.tasks), ("/health", "GET", self.health),
                ("/openapi.json", "GET", self.openapi), ("/static/<name>", "GET", self.static),
                ("/<job_id>", "GET", self.get), ("/<job_id>/cancel", "POST", self.cancel),
                ("/<job_id>/events", "GET", self.events), ("/<job_id>/status", "GET", self.status)):
            self.router.add(rule, method, handler)

    def answer(self, request: Request) -> Response | Later:
        try:
            handler, args = self.router.match({"PATH_INFO": request.path, "REQUEST_METHOD": request.method})
        except bottle.HTTPError as error:
            if error.status_code == 405:
                allowed = error.headers.get("Allow", "")
                raise Problem(405, "method-not-allowed", "Method not allowed", f"This resource answers {allowed}.",
                              headers={"Allow": allowed}) from None
            raise not_found() from None
        return handler(request, **args)

    def start(self, request: Request) -> Response:
        check_same_origin(request, self.options.cors_origins)
        body = read_json(request, self.options.max_body)
        task, args, kwargs, key, delay = start_fields(body)
        registered = startable(self.queue).get(task) if isinstance(task, str) else None
        if registered is None:
            raise UnknownTask(task)
        if not self._allowed(request, "start", registered.name):
            raise forbidden("You may not start this task.")
        owner = request.call(self.options.identify) if self.options.identify else None
        job = self.queue.start(registered, args, kwargs, key=key, owner=owner, delay=delay)
        if job.owner != owner and not self._allowed(request, "view", job):
            raise Problem(409, "key-in-use", "Key in use", "Another job holds this key.")
        return Response.json(self._job_dict(request, job), 202, Location=self._url(request, job.id),
                             ETag=conditional.etag(job))

    def get(self, request: Request, job_id: str) -> Response | Later:
        check_id(job_id)
        since, wait = poll_params(request.query, self.options.max_wait)
        job = self._viewable(request, job_id, known=self.watcher.latest(job_id) if wait else None)
        if not wait:
            return self._answer_job(request, job, held=True)
        return Later(self._polled(request, job, since, wait))

    def _polled(self, request: Request, job: Job, since: int | None,
                wait: float) -> Generator[Wait, Any, Response]:
        job, held = yield from poll(self.watcher, request.hold, job, since, wait)
        return self._answer_job(request, job, held)

    def _answer_job(self, request: Request, job: Job, held: bool) -> Response:
        tag = conditional.etag(job)
        retry = {} if held else {"Retry-After": str(RETRY_UNHELD)}  # not held: come back then
        if conditional.lists(request.headers.get("if-none-match"), tag):
            return Response(304, [("ETag", tag), *retry.items()])
        return Response.json(self._job_dict(request, job), ETag=tag, **retry)

    def cancel(self, request: Request, job_id: str) -> Response:
        check_id(job_id)
        check_same_origin(request, self.options.cors_origins)
        body = read_json(request, self.options.max_body, empty_ok=True)
        if body is not None and not isinstance(body, dict):
            raise bad_request("The body must be empty or a JSON object.")
        job = self._viewable(request, job_id, action="cancel")
        # A finished job answers 409 whatever If-Match says (RFC 9110 §13.2.1).
        version = None if job.finished else conditional.matched_version(request.headers.get("if-match"), job)
        job = self.queue.cancel(job.id, version=version)
        return Response.json(self._job_dict(request, job), 202, ETag=conditional.etag(job))

    def events(self, request: Request, job_id: str) -> Response:
        check_id(job_id)
        since, _ = poll_params(request.query, self.options.max_wait)
        last_id = request.headers.get("last-event-id")
        if last_id is not None:
            if not SINCE_PATTERN.fullmatch(last_id.strip()):
                raise bad_request("Last-Event-ID must be a job version (a whole number).")
            since = int(last_id)
        job = self._viewable(request, job_id)
        if since is not None and job.finished and job.version <= since:
            return Response(204, [])  # tells EventSource to stop reconnecting
        headers = [("Content-Type", "text/event-stream; charset=utf-8"), ("X-Accel-Buffering", "no")]
        if self.watcher.waiting >= request.hold:
            # Not held: the current state and a time to come back. Any answer but 200 would
            # make EventSource give up for good.
            retry = 5000 if request.hold >= self.watcher.max_waiters else 1000 * RETRY_UNHELD
            return Response(200, headers, self._brief(request, job, since, retry))
        return Response(200, headers, self._stream(request, job, since))

    def status(self, request: Request, job_id: str) -> Response:
        check_id(job_id)
        next_url = inputs.next_param(request.query)
        job = self._viewable(request, job_id)
        page = statuspage.render(job, next_url=next_url, no_worker=self._no_worker(job))
        return Response(200, [
            ("Content-Type", "text/html; charset=utf-8"), ("Referrer-Policy", "no-referrer"),
            ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:")],
            page.encode())

    def tasks(self, request: Request) -> Response:
        listed = [t.describe() for name, t in sorted(startable(self.queue).items())
                  if self._allowed(request, "start", name)]
        return Response.json({"tasks": listed})

    def health(self, request: Request) -> Response:
        counts = self.queue.store.counts()
        beat = self.queue.store.freshest_heartbeat()
        age = None if beat is None else round(max(time.time() - beat, 0.0), 3)
        members = {"queued": counts["queued"], "running": counts["running"], "heartbeat_age": age}
        if age is None or age > self.queue.heartbeat_timeout:
            raise Problem(503, "no-worker", "No worker", "No worker has sent a heartbeat recently.", **members)
        return Response.json({"status": "ok", **members})

    def openapi(self, request: Request) -> Response:
        return Response.json(openapi.document(request.root, self.queue))

    def static(self, request: Request, name: str) -> Response:
        if name not in STATIC:
            raise not_found()
        try:
            script = staticfiles.asset(STATIC_DIR / name, self.options.max_wait)
        except OSError:
            raise not_found(f"{name} is not installed.") from None
        # Revalidated with its ETag once stale: an upgrade reaches browsers within STATIC_MAX_AGE.
        return script.answer(request, STATIC_MAX_AGE)

    def _viewable(self, request: Request, job_id: str, action: str = "view", known: Job | None = None) -> Job:
        try:
            job = known or self.queue.get(job_id)
        except JobNotFound:
            raise job_not_found() from None
        if not self._allowed(request, action, job):
            raise job_not_found()  # someone else's job: do not tell that it exists
        return job

    def _allowed(self, request: Request, action: str, target: str | Job) -> bool:
        authorize = self.options.authorize
        return authorize is None or bool(request.call(authorize, action, target))

    def _brief(self, request: Request, job: Job, since: int | None, retry_ms: int) -> Stream:
        """An event stream that is not held: a reconnection delay, the job if newer, the end."""
        yield f"retry: {retry_ms}\n\n".encode()
        if since is None or job.version > since:
            yield self._event(request, job)

    def _stream(self, request: Request, job: Job, since: int | None) -> Stream:
        deadline = time.monotonic() + self.options.stream_lifetime
        yield b"retry: 2000\n\n"
        try:
            if since is None or job.version > since:
                yield self._event(request, job)
                since = job.version
            while not job.finished:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                try:
                    newer = yield WaitJob(job, since, min(self.options.heartbeat, left), request.hold)
                except (WaitersFull, JobNotFound):
                    return
                if newer is None:
                    yield b": heartbeat\n\n"
                    continue
                job, since = newer, newer.version
                yield self._event(request, job)
        except Exception:
            logger.exception("error while streaming events of job %s", job.id)

    def _event(self, request: Request, job: Job) -> bytes:
        """The job as one server-sent event, rendered once for all the streams that watch it."""
        key = (job.id, job.version, request.root, self._no_worker(job))
        event = self._events.get(key)
        if event is None:
            if len(self._events) >= EVENTS_KEPT:
                self._events.clear()
            data = json.dumps(dict(job.to_dict(), url=self._url(request, job.id), no_worker=key[3]))
            event = self._events[key] = f"id: {job.version}\ndata: {data}\n\n".encode()
        return event

    def _job_dict(self, request: Request, job: Job) -> dict[str, Any]:
        return dict(job.to_dict(), url=self._url(request, job.id), no_worker=self._no_worker(job))

    def _no_worker(self, job: Job) -> bool:
        return job.state == QUEUED and not self.presence.alive()

    def _url(self, request: Request, job_id: str) -> str:
        return f"{request.root}/{job_id}"

