"""The lilqueue task that carries the jobs of Django's tasks API to a worker.

A Django task's job is a job of the task ``lilqueue.django`` (lilqueue's reserved prefix: HTTP
neither starts nor lists it) whose first argument is the Django task's address
(``addresses.py``), the rest the Django task's own arguments:

    job.task == "lilqueue.django"
    job.args == [{"module": "reports.tasks", "name": "build_report", "queue": "default",
                  "backend": "default"}, 2026, "pdf"]

``register(queue)`` puts the carrier among the queue's tasks; the backend does it when Django
creates it, which ``apps.py`` makes happen at ``django.setup()`` in every process.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from ..context import current_job
from ..task import Task as LilqueueTask
from .addresses import resolve
from .results import ATTEMPT_LINE, finished_result
from .tasks_api import TaskContext, normalize_json, task_backends, task_finished, task_started

if TYPE_CHECKING:
    from ..queue import Queue

CARRIER = "lilqueue.django"
_registering = threading.Lock()


def register(queue: Queue) -> None:
    """Make ``queue`` able to run Django's tasks (once; later calls do nothing)."""
    with _registering:
        if CARRIER not in queue.tasks:
            # Not through @queue.task, which keeps names starting "lilqueue." for lilqueue's own.
            queue.tasks[CARRIER] = LilqueueTask(
                queue, carry, CARRIER, retries=0, retry_delay=0, retry_backoff=False, retry_backoff_max=600,
                timeout=None, isolate=False, priority=0, max_pending=None, concurrency=None)


def carry(where: dict, /, *args: Any, **kwargs: Any) -> Any:
    """Run the Django task at ``where`` as this lilqueue job (``current_job()`` works in it as
    in any lilqueue task). Its return value, JSON-normalized as Django's own backends do it, is
    the job's result; its exception fails the job."""
    job = current_job()
    job.log("debug", ATTEMPT_LINE.format(attempt=job.attempt, worker=job.worker))
    task = resolve(where)
    backend = task_backends[where.get("backend", task.backend)]
    running = backend.get_result(job.id)
    task_started.send(type(backend), task_result=running)
    try:
        if task.takes_context:
            value = task.call(TaskContext(task_result=running), *args, **kwargs)
        else:
            value = task.call(*args, **kwargs)
        value = normalize_json(value)
    except BaseException as exc:
        task_finished.send(type(backend), task_result=finished_result(running, error=exc))
        raise
    task_finished.send(type(backend), task_result=finished_result(running, value=value))
    return value
