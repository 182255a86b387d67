"""Django tasks for the backend's tests: values, errors, context, progress, cancel, the ORM."""

import asyncio
import time

from django.db import transaction

import lilqueue
from lilqueue.django import queue
from lilqueue.django.tasks_api import api

from ..shop.models import Note

task = api.task


class ReportError(Exception):
    """An exception that is not a builtin: its class path names this module."""


@task
def noop(*args, **kwargs):
    return None


@task()
def meaning_of_life() -> int:
    return 42


@task(priority=10)
def add(a, b):
    return a + b


@task()
def fail_value_error():
    raise ValueError("This task failed due to ValueError")


@task()
def fail_report_error():
    raise ReportError("no data for 1999")


@task()
def complex_exception():
    raise ValueError(ValueError("This task failed"))


@task()
def complex_return_value():
    return lambda: True  # neither JSON nor anything normalize_json takes


@task(takes_context=True)
def get_task_id(context):
    return context.task_result.id


@task(takes_context=True)
def describe_context(context, expected_attempt):
    result = context.task_result
    return {"attempt": context.attempt, "expected": expected_attempt, "status": result.status,
            "worker_ids": result.worker_ids, "id": result.id}


@task()
def report_progress(steps):
    job = lilqueue.current_job()
    for i in range(steps):
        job.log("info", f"step {i + 1}")
        job.progress(i + 1, total=steps, message=f"step {i + 1} of {steps}")
    return {"steps": steps, "job": job.id}


@task()
def until_canceled():
    job = lilqueue.current_job()
    while True:
        job.progress(0, message="waiting for cancel")
        time.sleep(0.01)


@task()
async def async_add(a, b):
    await asyncio.sleep(0)
    lilqueue.current_job().progress(1, total=1, message="async")
    return a + b


@task()
def save_note(text):
    with transaction.atomic():
        return Note.objects.create(text=text).pk


def not_a_task(path):
    """A plain function: the carrier must refuse it whatever a job row says."""
    open(path, "w").close()


@queue.task
def also_lilqueue(x):
    """A lilqueue task: HTTP may start it by its name."""
    return x
