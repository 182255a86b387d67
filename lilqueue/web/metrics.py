"""A queue's figures for Prometheus, in its text exposition format (version 0.0.4).

    from lilqueue.web.metrics import MetricsApp, metrics

    body = metrics(queue)      # bytes, from one queue.stats()
    app = MetricsApp(queue)    # WSGI: GET answers them (both faces serve them at /jobs/metrics)

    lilqueue_jobs{task,state}                 gauge      jobs in the table now
    lilqueue_workers                          gauge      workers whose heartbeat is fresh
    lilqueue_queue_oldest_seconds             gauge      age of the oldest queued job (0: none)
    lilqueue_failures_24h                     gauge      jobs that failed in the last 24 hours
    lilqueue_jobs_finished_total{task,state}  counter    finished jobs, pruned and purged ones too
    lilqueue_job_duration_seconds{task}       histogram  run time of finished jobs, the same

The counter and the histogram never go down when old jobs are deleted: their totals live in
``lilqueue_stat``, which triggers keep as jobs finish, so ``rate()`` and ``histogram_quantile()``
work.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, cast

from ..states import FINISHED, STATES
from .http import Response
from .problems import PROBLEM_TYPE, problem_for

if TYPE_CHECKING:
    from ..queue import Queue

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Sample = tuple[str, dict[str, str], float]  # (name suffix, labels, value)


def metrics(queue: Queue) -> bytes:
    """The exposition text of ``queue``'s figures; every state of every known task is there,
    at 0 when it has no jobs, so that a series does not vanish when a state empties."""
    stats = queue.stats()
    tasks = sorted(set(queue.tasks) | set(stats["counts"]) | set(stats["finished_totals"]))
    live = [worker for worker in stats["workers"] if worker["live"]]
    durations = []
    for task, histogram in sorted(stats["durations"].items()):
        durations += [("_bucket", {"task": task, "le": _le(bound)}, n) for bound, n in histogram["buckets"]]
        durations += [("_sum", {"task": task}, histogram["sum"]), ("_count", {"task": task}, histogram["count"])]
    lines: list[str] = []
    _family(lines, "lilqueue_jobs", "gauge", "Jobs in the job table now, by task and state.",
            [("", {"task": task, "state": state}, stats["counts"].get(task, {}).get(state, 0))
             for task in tasks for state in STATES])
    _family(lines, "lilqueue_workers", "gauge", "Workers whose heartbeat is within the queue's heartbeat_timeout.",
            [("", {}, len(live))])
    _family(lines, "lilqueue_queue_oldest_seconds", "gauge", "Age of the oldest queued job in seconds (0: none).",
            [("", {}, stats["oldest_queued_age"] or 0)])
    _family(lines, "lilqueue_failures_24h", "gauge", "Jobs that failed in the last 24 hours.",
            [("", {}, stats["failures_24h"])])
    _family(lines, "lilqueue_jobs_finished_total", "counter",
            "Jobs finished, by task and final state, including jobs since pruned or purged.",
            [("", {"task": task, "state": state}, stats["finished_totals"].get(task, {}).get(state, 0))
             for task in tasks for state in FINISHED])
    _family(lines, "lilqueue_job_duration_seconds", "histogram",
            "Run time of finished jobs (their last attempt), including jobs since pruned or purged.", durations)
    return "".join(lines).encode()


def answer(queue: Queue, method: str) -> Response:
    """GET (and HEAD) answered with ``metrics(queue)``, never cached; a database that cannot be
    read is a 503 problem, as the endpoints answer."""
    if method not in ("GET", "HEAD"):
        return Response(405, [("Content-Type", "text/plain; charset=utf-8"), ("Allow", "GET, HEAD")],
                        b"GET or HEAD only\n")
    try:
        with queue.store.scope():  # a server's request thread keeps no connection
            return Response(200, [("Content-Type", CONTENT_TYPE)], metrics(queue))
    except Exception as exc:
        problem = problem_for(exc)
        if problem is None:
            raise
        return Response(problem.status, [("Content-Type", PROBLEM_TYPE), *problem.headers.items()], problem.body())


class MetricsApp:
    """A WSGI callable that answers GET (and HEAD) with ``metrics(queue)``, never cached.

        app = MetricsApp(queue)   # mount it where the scraper looks, behind your access check
    """

    def __init__(self, queue: Queue) -> None:
        self.queue = queue

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        response = answer(self.queue, method)
        body = cast(bytes, response.body)  # metrics are never a stream
        start_response(f"{response.status} {HTTPStatus(response.status).phrase}",
                       [*response.headers, ("Content-Length", str(len(body))), ("Cache-Control", "no-store")])
        return [] if method == "HEAD" else [body]

    def __repr__(self) -> str:
        return f"<MetricsApp for {self.queue!r}>"


def _family(lines: list[str], name: str, kind: str, help: str, samples: list[Sample]) -> None:
    lines.append(f"# HELP {name} {_escape_help(help)}\n# TYPE {name} {kind}\n")
    for suffix, labels, value in samples:
        text = ",".join(f'{key}="{_escape_label(str(v))}"' for key, v in labels.items())
        lines.append(f"{name}{suffix}{{{text}}} {_number(value)}\n" if text else f"{name}{suffix} {_number(value)}\n")


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _le(bound: Any) -> str:
    """A bucket's upper bound as Prometheus' clients write it: ``0.5``, ``1.0``, ``+Inf``."""
    return "+Inf" if bound == "+Inf" else _number(float(bound))


def _number(value: float) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)
