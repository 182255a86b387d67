"""The dashboard's POST actions: retry, cancel or delete one job, or do one of those to every
job a filter matches (at most ``BULK_LIMIT`` per request).

Each action refuses cross-site requests with the API's own check, reads a form body bounded by
the face's ``max_body``, logs who did what to the ``lilqueue.admin`` logger at INFO, and
answers with the URL to send the browser to (303, POST-redirect-GET) carrying the outcome in
its query string (``layout.flash`` turns it into words).

    location = act(queue, options, request, base, job_id, "retry")  # {base}/jobs/<id>?retried=<new>
    location = bulk(queue, options, request, base)                 # {base}/jobs?state=failed&done=retry&n=3
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

from ...errors import InvalidArguments, JobFinished, JobNotFound, UnknownTask, WrongState
from ...job import Job
from ...states import CANCELED, FAILED, FINISHED, UNFINISHED
from ..http import Request
from ..inputs import check_same_origin
from ..problems import Problem, bad_request
from . import filters as filtering

if TYPE_CHECKING:
    from ...queue import Queue
    from ..options import WebOptions

logger = logging.getLogger("lilqueue.admin")

BULK_LIMIT = 1000  # jobs one bulk request acts on (a page of queue.jobs()); each its own transaction
FORM_TYPE = "application/x-www-form-urlencoded"
ELIGIBLE = {"retry": (FAILED, CANCELED), "cancel": UNFINISHED, "delete": FINISHED}
PAST = {"retry": "retried", "cancel": "canceled", "delete": "deleted"}
REFUSALS = (WrongState, JobFinished)  # the job is not in a state the action applies to
UNRUNNABLE = (UnknownTask, InvalidArguments)  # a retry of a task since removed, or changed


def act(queue: Queue, options: WebOptions, request: Request, base: str, job_id: str, action: str) -> str:
    """Do ``action`` to one job; returns where to send the browser."""
    check_same_origin(request, options.cors_origins)
    read_form(request, options.max_body)  # nothing to read in it, but bounded and of the right type
    page = f"{base}/jobs/{job_id}"
    who = operator(options, request)
    try:
        if action == "retry":
            new = queue.retry(job_id)
        elif action == "cancel":
            queue.cancel(job_id)
        else:
            queue.delete(job_id)
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


def bulk(queue: Queue, options: WebOptions, request: Request, base: str) -> str:
    """Do the form's ``action`` to the newest ``BULK_LIMIT`` jobs its filters match, among those
    in a state the action applies to; returns the list page that says how many were done."""
    check_same_origin(request, options.cors_origins)
    text = read_form(request, options.max_body)
    action = filtering.single(filtering.params(text), "action")
    if action not in ELIGIBLE:
        raise bad_request('"action" must be retry, cancel or delete.')
    chosen = filtering.parse(text)
    states = [s for s in ELIGIBLE[action] if not chosen.state or s == chosen.state]
    jobs: list[Job] = chosen.jobs(queue, BULK_LIMIT, states, paged=False) if states else []
    more = len(jobs) == BULK_LIMIT and bool(dataclasses.replace(chosen, before=jobs[-1].id).jobs(queue, 1, states))
    done: list[str] = []
    skipped = 0
    do = {"retry": queue.retry, "cancel": queue.cancel, "delete": queue.delete}[action]
    for job in jobs:
        try:
            do(job.id)
        except (*REFUSALS, *UNRUNNABLE, JobNotFound):  # changed since it was listed, or its task did
            skipped += 1
        else:
            done.append(job.id)
    who = operator(options, request)
    logger.info("%r %s %d jobs (%d skipped%s) matching %s", who, PAST[action], len(done), skipped,
                ", more match" if more else "", chosen.describe(),
                extra={"admin": who, "action": action, "job_ids": done, "done": len(done)})
    outcome = f"done={action}&n={len(done)}" + (f"&skipped={skipped}" if skipped else "") + ("&more=1" if more else "")
    query = chosen.query(before="")
    return f"{base}/jobs?{query + '&' if query else ''}{outcome}"


def read_form(request: Request, max_body: int) -> str:
    """The body of a form POST: ``application/x-www-form-urlencoded`` (an empty body may come
    with any type), at most ``max_body`` bytes, ASCII as that type always is."""
    body = request.body(max_body)
    if not body:
        return ""
    if request.header("content-type").partition(";")[0].strip().lower() != FORM_TYPE:
        raise Problem(415, "unsupported-media-type", "Unsupported media type",
                      f"Send the form as Content-Type: {FORM_TYPE}.")
    try:
        return body.decode("ascii")
    except UnicodeDecodeError:
        raise bad_request("A form body is percent-encoded ASCII.") from None


def operator(options: WebOptions, request: Request) -> str:
    """Who is acting, for the log: the face's ``identify`` if it names someone, else the
    client's address."""
    if options.identify is not None:
        try:
            name = request.call(options.identify)
        except Exception:
            logger.exception("the identify hook failed; logging the client's address instead")
            name = None
        if name:
            return str(name)
    return request.client or "unknown"
