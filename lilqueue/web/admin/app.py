"""``Admin``: the operators' dashboard, a part of the HTTP core (``core.py``) mounted under
``{prefix}/admin`` (the request's ``root`` ends there; its ``path`` is the rest).

    admin = Admin(queue, options, watcher, hook=lambda environ: environ.get("REMOTE_USER") == "ops")
    answer = admin.handle(request)    # a Response, or a Later for the long-polls

Every request first asks ``hook(native)`` (the environ or the ASGI scope); a no is 403 (a small
HTML page for a browser, problem JSON otherwise), and so is a hook that fails. Then:

    GET  /                     overview: counts, depth, workers, throughput, recent failures
    GET  /jobs?state=&task=…   the job list: filters, newest first, "Older" by keyset (before=<id>)
    GET  /jobs/<id>            a job, with its full traceback
    GET  /jobs/<id>.json       the same, long-polled on its version (since=V&wait=S)
    GET  /changes              {"mark": M}, long-polled until any job changed after M (since=M&wait=S)
    POST /jobs/<id>/retry|cancel|delete, POST /bulk    actions (see actions.py)
    GET  /static/admin.js|admin.css

Pages carry a strict Content-Security-Policy (no inline script or style, no framing). Errors
are problems mapped by the web layer's one table; anything unexpected is logged to
``lilqueue.admin`` and answered 500 without a traceback.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import ConfigurationError, JobNotFound
from ...job import Job
from ...states import FAILED
from .. import staticfiles
from ..holding import RETRY_UNHELD
from ..http import Later, Request, Response, Wait
from ..inputs import MARK, check_id, poll_params
from ..longpoll import poll, poll_change
from ..problems import PROBLEM_TYPE, Problem, answering, forbidden, job_not_found, not_found
from . import actions, jobpage, pages
from .filters import parse
from .layout import Site, error_page, flash

if TYPE_CHECKING:
    from ...queue import Queue
    from ..options import WebOptions
    from ..watcher import Watcher

logger = logging.getLogger("lilqueue.admin")

Hook = Callable[[dict], bool]
STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC = ("admin.js", "admin.css")
STATIC_MAX_AGE = 86400  # the pages link each file with its version: a new one is a new URL
PAGE_SIZE = 50
RECENT_FAILURES = 10
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
HTML_HEADERS = [
    ("Content-Type", "text/html; charset=utf-8"), ("Content-Security-Policy", CSP),
    ("X-Frame-Options", "DENY"),
    # Not no-referrer: that makes a browser send "Origin: null" with a form POST, which the
    # same-origin check cannot tell from a cross-site one where no Sec-Fetch-Site is sent.
    ("Referrer-Policy", "same-origin"),
]
ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("GET", re.compile(r"/"), "overview"),
    ("GET", re.compile(r"/jobs"), "job_list"),
    ("GET", re.compile(r"/jobs/([^/.]+)"), "job_page"),
    ("GET", re.compile(r"/jobs/([^/.]+)\.json"), "job_json"),
    ("GET", re.compile(r"/changes"), "changes"),
    ("POST", re.compile(r"/jobs/([^/.]+)/(retry|cancel|delete)"), "act"),
    ("POST", re.compile(r"/bulk"), "bulk"),
    ("GET", re.compile(r"/static/([^/]+)"), "static"),
]


class Admin:
    """The dashboard of ``queue``, for whoever ``hook(native)`` says is an operator."""

    def __init__(self, queue: Queue, options: WebOptions, watcher: Watcher, hook: Hook) -> None:
        if not callable(hook):
            raise ConfigurationError(f"the admin hook must be callable (environ -> bool), not {hook!r}")
        self.queue = queue
        self.options = options
        self.watcher = watcher
        self.hook = hook
        self.files = {name: staticfiles.asset(STATIC_DIR / name, options.max_wait) for name in STATIC}
        self.versions = {name: asset.version for name, asset in self.files.items()}  # of the bytes served

    def handle(self, request: Request) -> Response | Later:
        wants_json = _wants_json(request)
        try:
            with self.queue.store.scope():
                answer = self._answer(request)
        except Exception as exc:
            return self._failed(request, exc, wants_json)
        if isinstance(answer, Later):
            return Later(self._finished(request, answer.steps, wants_json))
        return answer.sealed()

    def _finished(self, request: Request, steps: Generator[Wait, Any, Response],
                  wants_json: bool) -> Generator[Wait, Any, Response]:
        try:
            answer = yield from steps
        except Exception as exc:
            return self._failed(request, exc, wants_json)
        return answer.sealed()

    def _failed(self, request: Request, exc: Exception, wants_json: bool) -> Response:
        problem = answering(exc, logger, f"{request.method} {request.root}{request.path}")
        return self._problem(request, problem, wants_json).sealed()

    def _answer(self, request: Request) -> Response | Later:
        if not self._allowed(request):
            raise forbidden("Only operators may use the job dashboard.")
        method = request.method
        allowed = []
        for route_method, pattern, name in ROUTES:
            match = pattern.fullmatch(request.path)
            if match is None:
                continue
            if route_method == method or (route_method == "GET" and method == "HEAD"):
                return getattr(self, name)(request, *match.groups())
            allowed.append(route_method)
        if allowed:
            raise Problem(405, "method-not-allowed", "Method not allowed", f"This resource answers {allowed[0]}.",
                          headers={"Allow": "GET, HEAD" if allowed[0] == "GET" else allowed[0]})
        raise not_found()

    def _allowed(self, request: Request) -> bool:
        try:
            return bool(request.call(self.hook))
        except Exception:
            logger.exception("the admin hook failed; refusing the request")
            return False

    def _site(self, request: Request) -> Site:
        return Site(request.root.rstrip("/"), self.versions, self.queue.heartbeat_timeout)

    def overview(self, request: Request) -> Response:
        site = self._site(request)
        stats = self.queue.stats()
        failures = self.queue.jobs(state=FAILED, limit=RECENT_FAILURES)
        return _html(pages.overview(site, stats, failures, tasks=self.queue.tasks))

    def job_list(self, request: Request) -> Response:
        site = self._site(request)
        query = request.query
        filters = parse(query)
        notice = ""
        if filters.id:
            try:
                check_id(filters.id)
                return _redirect(site.url(f"/jobs/{self.queue.get(filters.id).id}"))
            except (Problem, JobNotFound):
                notice = f"No job has the id {filters.id!r}."
        found = filters.jobs(self.queue, PAGE_SIZE + 1)
        html = pages.job_list(site, filters, found[:PAGE_SIZE], more=len(found) > PAGE_SIZE,
                              stats=self.queue.stats(), tasks=self.queue.tasks, notice=notice,
                              flash=self._flash(request, "/jobs", filters.query()))
        return _html(html)

    def job_page(self, request: Request, job_id: str) -> Response:
        site = self._site(request)
        job = self._job(job_id)
        return _html(jobpage.page(site, job, flash=self._flash(request, f"/jobs/{job.id}")))

    def job_json(self, request: Request, job_id: str) -> Response:
        """The job page's long-poll: answers once the version passes ``since``, or after ``wait``."""
        site = self._site(request)
        job = self._job(job_id)
        since, wait = poll_params(request.query, self.options.max_wait)
        if not wait:
            return Response.json(jobpage.live(site, job))
        return Later(self._job_polled(request, site, job, since, wait))

    def _job_polled(self, request: Request, site: Site, job: Job, since: int | None,
                    wait: float) -> Generator[Wait, Any, Response]:
        job, held = yield from poll(self.watcher, request.hold, job, since, wait)
        return Response.json(jobpage.live(site, job), **({} if held else {"Retry-After": str(RETRY_UNHELD)}))

    def changes(self, request: Request) -> Response:
        """The overview's and the list's long-poll: the page reloads its data when the mark moves."""
        since, wait = poll_params(request.query, self.options.max_wait, MARK)
        return Later(self._changed(since, wait, request.hold))

    def _changed(self, since: str | None, wait: float, hold: int) -> Generator[Wait, Any, Response]:
        mark, held = yield from poll_change(self.watcher, hold, since, wait)
        return Response.json({"mark": mark}, **({} if held else {"Retry-After": str(RETRY_UNHELD)}))

    def static(self, request: Request, name: str) -> Response:
        if name not in STATIC:
            raise not_found()
        return self.files[name].answer(request, STATIC_MAX_AGE)

    def act(self, request: Request, job_id: str, action: str) -> Response:
        check_id(job_id)
        return _redirect(actions.act(self.queue, self.options, request, self._site(request).url(""), job_id, action))

    def bulk(self, request: Request) -> Response:
        return _redirect(actions.bulk(self.queue, self.options, request, self._site(request).url("")))

    def _job(self, job_id: str) -> Job:
        check_id(job_id)
        try:
            return self.queue.get(job_id)
        except JobNotFound:
            raise job_not_found() from None

    def _flash(self, request: Request, path: str, query: str = "") -> str:
        site = self._site(request)
        return flash(site, request.query, site.url(path, query))

    def _problem(self, request: Request, problem: Problem, wants_json: bool) -> Response:
        headers = list(problem.headers.items())
        if wants_json:
            return Response(problem.status, [("Content-Type", PROBLEM_TYPE), *headers], problem.body())
        # A refused request sees no link into the dashboard; other errors keep the frame.
        site = None if problem.status == 403 else self._site(request)
        page = error_page(site, problem.status, problem.title, problem.detail)
        return Response(problem.status, [*HTML_HEADERS, *headers], page.encode())

    def __repr__(self) -> str:
        return f"<Admin for {self.queue!r}>"


def _wants_json(request: Request) -> bool:
    """JSON for scripts (``.json`` paths, no ``text/html`` in Accept), HTML for browsers."""
    return request.path.endswith(".json") or "text/html" not in request.header("accept")


def _html(page: str) -> Response:
    return Response(200, HTML_HEADERS, page.encode())


def _redirect(location: str) -> Response:
    return Response(303, [("Location", location)])

