"""A lilqueue job read as Django's ``TaskResult``: its status, times, errors, return value and
workers, from the job's row alone, in any process.

    result = task_result(queue.get(result_id), alias="default")

lilqueue state   Django status     lilqueue state   Django status
queued           READY             succeeded        SUCCESSFUL
running          RUNNING           failed           FAILED
                                   canceled         FAILED, its error a ``lilqueue.errors.Canceled``
"""

from __future__ import annotations

import builtins
import dataclasses
import re
import traceback
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from .. import errors as lilqueue_errors
from ..job import Job, JobError
from ..states import CANCELED, FAILED, QUEUED, RUNNING, SUCCEEDED
from .addresses import resolve
from .tasks_api import TaskError, TaskResult, TaskResultStatus

ATTEMPT_LINE = "attempt {attempt} on worker {worker}"  # the debug line each attempt logs first
_ATTEMPT = re.compile(r"attempt (\d+) on worker (\S+)")
UNRECORDED = "unknown"  # an attempt whose line was pushed out of the job's log (max_logs)
STATUS = {QUEUED: TaskResultStatus.READY, RUNNING: TaskResultStatus.RUNNING,
          SUCCEEDED: TaskResultStatus.SUCCESSFUL, FAILED: TaskResultStatus.FAILED, CANCELED: TaskResultStatus.FAILED}
CANCELED_PATH = f"{lilqueue_errors.Canceled.__module__}.{lilqueue_errors.Canceled.__qualname__}"


def task_result(job: Job, alias: str) -> Any:
    """``job`` (a job of the carrier) as a TaskResult of the backend ``alias``."""
    where = job.args[0]
    found: Any = resolve(where)
    backend = where.get("backend", alias)
    task = found.using(priority=job.priority, queue_name=where.get("queue"), backend=backend,
                       run_after=local_time(job.run_at))
    result = TaskResult(
        task=task, id=job.id, status=STATUS[job.state], enqueued_at=local_time(job.created_at),
        started_at=local_time(job.started_at), last_attempted_at=local_time(job.started_at),
        finished_at=local_time(job.finished_at), args=job.args[1:], kwargs=job.kwargs, backend=backend,
        errors=task_errors(job), worker_ids=worker_ids(job))
    if job.state == SUCCEEDED:
        object.__setattr__(result, "_return_value", job.result)
    return result


def finished_result(running: Any, value: Any = None, error: BaseException | None = None) -> Any:
    """``running`` as it ends, in the worker (for ``task_finished``): with ``value``, or failed
    with ``error``."""
    if error is None:
        done = dataclasses.replace(running, status=TaskResultStatus.SUCCESSFUL, finished_at=timezone.now())
        object.__setattr__(done, "_return_value", value)
        return done
    if isinstance(error, lilqueue_errors.Canceled):
        caught = _canceled()
    else:
        caught = TaskError(exception_class_path=_path(type(error)),
                           traceback="".join(traceback.format_exception(error)))
    return dataclasses.replace(running, status=TaskResultStatus.FAILED, finished_at=timezone.now(),
                               errors=[*running.errors, caught])


def task_errors(job: Job) -> list:
    """The job's error as Django's ``errors`` (lilqueue keeps the last attempt's only)."""
    if job.state == CANCELED:
        return [_canceled()]
    if job.error is None:
        return []
    text = job.error.traceback or f"{job.error.type}: {job.error.message}\n"
    return [TaskError(exception_class_path=class_path(job.error), traceback=text)]


def class_path(error: JobError) -> str:
    """The full ``module.QualName`` of the exception behind ``error`` (``builtins.ValueError``).
    A traceback names it so on its last exception line (builtins unqualified); errors lilqueue
    records without one (``UnknownTask``, ``WorkerLost``, a timeout) name a builtin or one of
    lilqueue's errors, and the rest fall back to ``LilqueueError``."""
    if error.traceback:
        shape = re.compile(rf"((?:[A-Za-z_]\w*\.)*{re.escape(error.type)})(?::\s|:?$)")
        for line in reversed(error.traceback.splitlines()):
            found = shape.match(line)
            if found:
                name = found.group(1)
                return name if "." in name else f"builtins.{name}"
    for module in (builtins, lilqueue_errors):
        value = getattr(module, error.type, None)
        if isinstance(value, type) and issubclass(value, BaseException):
            return f"{module.__name__}.{error.type}"
    return _path(lilqueue_errors.LilqueueError)


def worker_ids(job: Job) -> list[str]:
    """One worker id per attempt, read off the line each attempt logs first."""
    seen = {}
    for line in job.logs:
        found = _ATTEMPT.fullmatch(line.message) if line.level == "debug" else None
        if found:
            seen[int(found.group(1))] = found.group(2)
    return [seen.get(attempt, UNRECORDED) for attempt in range(1, job.attempts + 1)]


def _canceled() -> Any:
    return TaskError(exception_class_path=CANCELED_PATH, traceback=f"{CANCELED_PATH}: the job was canceled\n")


def _path(kind: type) -> str:
    return f"{kind.__module__}.{kind.__qualname__}"


def local_time(moment: datetime | None) -> datetime | None:
    """An aware UTC time as Django's settings want it: aware, or naive local without USE_TZ."""
    if moment is None or settings.USE_TZ:
        return moment
    return timezone.make_naive(moment)

