"""The dashboard's POST actions: retry, cancel or delete one job, or do one of those to every
job a filter matches (at most ``BULK_LIMIT`` per request).

Each action refuses cross-site requests with the API's own check, reads a form body bounded by
the middleware's ``max_body``, logs who did what to the ``lilqueue.admin`` logger at INFO, and
answers with the URL to send the browser to (303, POST-redirect-GET) carrying the outcome in
its query string (``layout.flash`` turns it into words).

    location = act(middleware, environ, job_id, "retry")    # /jobs/admin/jobs/<id>?retried=<new>
    location = bulk(middleware, environ)                     # /jobs/admin/jobs?state=failed&done=retry&n=3
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

from ...errors import InvalidArguments, JobFinished, JobNotFound, UnknownTask, WrongState
from ...job import Job
from ...states import CANCELED, FAILED, FINISHED, UNFINISHED
from ..inputs import check_same_origin, read_body
from ..problems import Problem, bad_request
from . import filters as filtering

if TYPE_CHECKING:
    from ..middleware import Middleware

logger = logging.getLogger("lilqueue.admin")

BULK_LIMIT = 1000  # jobs one bulk request acts on (a page of queue.jobs()); each its own transaction
FORM_TYPE = "application/x-www-form-urlencoded"
ELIGIBLE = {"retry": (FAILED, CANCELED), "cancel": UNFINISHED, "delete": FINISHED}
PAST = {"retry": "retried", "cancel": "canceled", "delete": "deleted"}
REFUSALS = (WrongState, JobFinished)  # the job is not in a state the action applies to
UNRUNNABLE = (UnknownTask, InvalidArguments)  # a retry of a task since removed, or changed


def act(mw: Middleware, environ: dict, base: str, job_id: str, action: str) -> str:
    """Do ``action`` to one job; returns where to send the browser."""
    check_same_origin(environ, mw.cors_origins)
    read_form(environ, mw.max_body)  # nothing to read in it, but bounded and of the right type
    page = f"{base}/jobs/{job_id}"
    who = operator(mw, environ)
    try:
        if action == "retry":
            new = mw.queue.retry(job_id)
        elif action == "cancel":
            mw.queue.cancel(job_id)
        else:
            mw.queue.delete(job_id)
    except (*REFUSALS, *UNRUNNABLE) as exc:
        logger.info("%r tried to %s job %s: %s", who, action, job_id, exc,
                    extra={"admin": who, "action": action, "job_ids": [job_id], "done": 0})
        if isinstance(exc, UNRUNNABLE):
            return f"{page}?refused=retry-task"
        held = action == "retry" and exc.state in ELIGIBLE["retry"]  # failed, but its key is taken
        return f"{page}?refused={'retry-key' if held else action}"
    if action == "retry":
        logger.info("%r retried job %s as job %s", who, job_id, new.id,
                    extra={"admin": who, "action": action, "job_ids": [job_id], "done": 1})
        return f"{page}?retried={new.id}"
    logger.info("%r %s job %s", who, PAST[action], job_id,
                extra={"admin": who, "action": action, "job_ids": [job_id], "done": 1})
    return f"{base}/jobs?done=delete&n=1" if action == "delete" else f"{page}?done=cancel"


def bulk(mw: Middleware, environ: dict, base: str) -> str:
    """Do the form's ``action`` to the newest ``BULK_LIMIT`` jobs its filters match, among those
    in a state the action applies to; returns the list page that says how many were done."""
    check_same_origin(environ, mw.cors_origins)
    text = read_form(environ, mw.max_body)
    action = filtering.single(filtering.params(text), "action")
    if action not in ELIGIBLE:
        raise bad_request('"action" must be retry, cancel or delete.')
    chosen = filtering.parse(text)
    states = [s for s in ELIGIBLE[action] if not chosen.state or s == chosen.state]
    jobs: list[Job] = chosen.jobs(mw.queue, BULK_LIMIT, states, paged=False) if states else []
    more = len(jobs) == BULK_LIMIT and bool(dataclasses.replace(chosen, before=jobs[-1].id).jobs(mw.queue, 1, states))
    done: list[str] = []
    skipped = 0
    do = {"retry": mw.queue.retry, "cancel": mw.queue.cancel, "delete": mw.queue.delete}[action]
    for job in jobs:
        try:
            do(job.id)
        except (*REFUSALS, *UNRUNNABLE, JobNotFound):  # changed since it was listed, or its task did
            skipped += 1
        else:
            done.append(job.id)
    who = operator(mw, environ)
    logger.info("%r %s %d jobs (%d skipped%s) matching %s", who, PAST[action], len(done), skipped,
                ", more match" if more else "", chosen.describe(),
                extra={"admin": who, "action": action, "job_ids": done, "done": len(done)})
    outcome = f"done={action}&n={len(done)}" + (f"&skipped={skipped}" if skipped else "") + ("&more=1" if more else "")
    query = chosen.query(before="")
    return f"{base}/jobs?{query + '&' if query else ''}{outcome}"


def read_form(environ: dict, max_body: int) -> str:
    """The body of a form POST: ``application/x-www-form-urlencoded`` (an empty body may come
    with any type), at most ``max_body`` bytes, ASCII as that type always is."""
    body = read_body(environ, max_body)
    if not body:
        return ""
    if environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower() != FORM_TYPE:
        raise Problem(415, "unsupported-media-type", "Unsupported media type",
                      f"Send the form as Content-Type: {FORM_TYPE}.")
    try:
        return body.decode("ascii")
    except UnicodeDecodeError:
        raise bad_request("A form body is percent-encoded ASCII.") from None


def operator(mw: Middleware, environ: dict) -> str:
    """Who is acting, for the log: the middleware's ``identify`` if it names someone, else the
    client's address."""
    if mw.identify is not None:
        try:
            name = mw.identify(environ)
        except Exception:
            logger.exception("the identify hook failed; logging the client's address instead")
            name = None
        if name:
            return str(name)
    return environ.get("REMOTE_ADDR") or "unknown"
