"""``Admin``: the operators' dashboard, a WSGI app that a middleware mounts under
``{prefix}/admin`` (``SCRIPT_NAME`` ends there; ``PATH_INFO`` is the rest).

    admin = Admin(queue.middleware(), hook=lambda environ: environ.get("REMOTE_USER") == "ops")

Every request first asks ``hook(environ)``; a no is 403 (a small HTML page for a browser,
problem JSON otherwise), and so is a hook that fails. Then:

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

import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterable
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING

from ...errors import ConfigurationError, JobNotFound
from ...job import Job
from ...states import FAILED
from .. import conditional
from ..holding import RETRY_UNHELD
from ..inputs import JSON_TYPE, MARK, check_id, poll_params
from ..longpoll import poll, poll_change
from ..problems import PROBLEM_TYPE, Problem, forbidden, job_not_found, not_found, problem_for
from . import actions, jobpage, pages
from .filters import parse
from .layout import Site, error_page, flash

if TYPE_CHECKING:
    from ..middleware import Middleware

logger = logging.getLogger("lilqueue.admin")

Hook = Callable[[dict], bool]
STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC = {"admin.js": "text/javascript; charset=utf-8", "admin.css": "text/css; charset=utf-8"}
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


class Answer:
    """A response: status, body, headers (the common ones are added on the way out)."""

    def __init__(self, status: int, body: bytes = b"", headers: Iterable[tuple[str, str]] = ()) -> None:
        self.status = status
        self.body = body
        self.headers = list(headers)


class Admin:
    """The dashboard of ``middleware``'s queue, for whoever ``hook(environ)`` says is an operator."""

    def __init__(self, middleware: Middleware, hook: Hook) -> None:
        if not callable(hook):
            raise ConfigurationError(f"the admin hook must be callable (environ -> bool), not {hook!r}")
        self.mw = middleware
        self.queue = middleware.queue
        self.hook = hook
        self.files = {name: (STATIC_DIR / name).read_bytes() for name in STATIC}
        self.versions = {name: hashlib.sha256(data).hexdigest()[:16] for name, data in self.files.items()}

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        wants_json = _wants_json(environ)
        try:
            with self.queue.store.scope():
                answer = self._answer(environ)
        except Problem as problem:
            answer = self._problem(environ, problem, wants_json)
        except Exception as exc:
            problem = problem_for(exc)
            if problem is None:
                logger.exception("error answering %s %s%s", environ.get("REQUEST_METHOD"),
                                 environ.get("SCRIPT_NAME", ""), environ.get("PATH_INFO", ""))
                problem = Problem(500, "internal-error", "Internal error",
                                  "The request could not be answered; the server's log has the details.")
            answer = self._problem(environ, problem, wants_json)
        headers = [*answer.headers, ("Content-Length", str(len(answer.body))), ("X-Content-Type-Options", "nosniff")]
        if not any(name == "Cache-Control" for name, _ in headers):
            headers.append(("Cache-Control", "no-store"))
        start_response(f"{answer.status} {HTTPStatus(answer.status).phrase}", headers)
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [answer.body]

    def _answer(self, environ: dict) -> Answer:
        if not self._allowed(environ):
            raise forbidden("Only operators may use the job dashboard.")
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "") or "/"
        allowed = []
        for route_method, pattern, name in ROUTES:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            if route_method == method or (route_method == "GET" and method == "HEAD"):
                return getattr(self, name)(environ, *match.groups())
            allowed.append(route_method)
        if allowed:
            raise Problem(405, "method-not-allowed", "Method not allowed", f"This resource answers {allowed[0]}.",
                          headers={"Allow": "GET, HEAD" if allowed[0] == "GET" else allowed[0]})
        raise not_found()

    def _allowed(self, environ: dict) -> bool:
        try:
            return bool(self.hook(environ))
        except Exception:
            logger.exception("the admin hook failed; refusing the request")
            return False

    def _site(self, environ: dict) -> Site:
        return Site(environ.get("SCRIPT_NAME", "").rstrip("/"), self.versions, self.queue.heartbeat_timeout)

    def overview(self, environ: dict) -> Answer:
        site = self._site(environ)
        stats = self.queue.stats()
        failures = self.queue.jobs(state=FAILED, limit=RECENT_FAILURES)
        return _html(pages.overview(site, stats, failures, tasks=self.queue.tasks))

    def job_list(self, environ: dict) -> Answer:
        site = self._site(environ)
        query = environ.get("QUERY_STRING", "")
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
                              flash=self._flash(environ, "/jobs", filters.query()))
        return _html(html)

    def job_page(self, environ: dict, job_id: str) -> Answer:
        site = self._site(environ)
        job = self._job(job_id)
        return _html(jobpage.page(site, job, flash=self._flash(environ, f"/jobs/{job.id}")))

    def job_json(self, environ: dict, job_id: str) -> Answer:
        """The job page's long-poll: answers once the version passes ``since``, or after ``wait``."""
        site = self._site(environ)
        job = self._job(job_id)
        since, wait = poll_params(environ.get("QUERY_STRING", ""), self.mw.max_wait)
        headers: list[tuple[str, str]] = []
        if wait:
            job, held = poll(self.mw, environ, job, since, wait)
            if not held:
                headers.append(("Retry-After", str(RETRY_UNHELD)))
        body = json.dumps(jobpage.live(site, job)).encode()
        return Answer(200, body, [("Content-Type", JSON_TYPE), *headers])

    def changes(self, environ: dict) -> Answer:
        """The overview's and the list's long-poll: the page reloads its data when the mark moves."""
        since, wait = poll_params(environ.get("QUERY_STRING", ""), self.mw.max_wait, MARK)
        mark, held = poll_change(self.mw, environ, since, wait)
        headers = [] if held else [("Retry-After", str(RETRY_UNHELD))]
        return Answer(200, json.dumps({"mark": mark}).encode(), [("Content-Type", JSON_TYPE), *headers])

    def static(self, environ: dict, name: str) -> Answer:
        if name not in STATIC:
            raise not_found()
        etag = f'"{self.versions[name]}"'
        headers = [("ETag", etag), ("Cache-Control", f"public, max-age={STATIC_MAX_AGE}")]
        if conditional.lists(environ.get("HTTP_IF_NONE_MATCH"), etag):
            return Answer(304, b"", headers)
        return Answer(200, self.files[name], [("Content-Type", STATIC[name]), *headers])

    def act(self, environ: dict, job_id: str, action: str) -> Answer:
        check_id(job_id)
        return _redirect(actions.act(self.mw, environ, self._site(environ).url(""), job_id, action))

    def bulk(self, environ: dict) -> Answer:
        return _redirect(actions.bulk(self.mw, environ, self._site(environ).url("")))

    def _job(self, job_id: str) -> Job:
        check_id(job_id)
        try:
            return self.queue.get(job_id)
        except JobNotFound:
            raise job_not_found() from None

    def _flash(self, environ: dict, path: str, query: str = "") -> str:
        site = self._site(environ)
        return flash(site, environ.get("QUERY_STRING", ""), site.url(path, query))

    def _problem(self, environ: dict, problem: Problem, wants_json: bool) -> Answer:
        headers = list(problem.headers.items())
        if wants_json:
            return Answer(problem.status, problem.body(), [("Content-Type", PROBLEM_TYPE), *headers])
        # A refused request sees no link into the dashboard; other errors keep the frame.
        site = None if problem.status == 403 else self._site(environ)
        page = error_page(site, problem.status, problem.title, problem.detail)
        return Answer(problem.status, page.encode(), [*HTML_HEADERS, *headers])

    def __repr__(self) -> str:
        return f"<Admin for {self.queue!r}>"


def _wants_json(environ: dict) -> bool:
    """JSON for scripts (``.json`` paths, no ``text/html`` in Accept), HTML for browsers."""
    return environ.get("PATH_INFO", "").endswith(".json") or "text/html" not in environ.get("HTTP_ACCEPT", "")


def _html(page: str) -> Answer:
    return Answer(200, page.encode(), HTML_HEADERS)


def _redirect(location: str) -> Answer:
    return Answer(303, b"", [("Location", location)])

