"""Django's tasks API, from Django itself (``django.tasks``, Django 6.0 and later) or from the
``django-tasks`` backport (``django_tasks``, Django 4.2 to 5.2): the same classes under two
module names. Everything lilqueue's backend uses of it is named here, once.

    from .tasks_api import Task, TaskResult, TaskResultStatus
"""

from __future__ import annotations

import importlib

try:
    api = importlib.import_module(SOURCE := "django.tasks")
except ImportError:
    api = importlib.import_module(SOURCE := "django_tasks")
_base = importlib.import_module(f"{SOURCE}.base")
_backends = importlib.import_module(f"{SOURCE}.backends.base")
_exceptions = importlib.import_module(f"{SOURCE}.exceptions")
_signals = importlib.import_module(f"{SOURCE}.signals")

BaseTaskBackend = _backends.BaseTaskBackend
Task = _base.Task
TaskContext = _base.TaskContext
TaskError = _base.TaskError
TaskResult = _base.TaskResult
TaskResultStatus = _base.TaskResultStatus
REFRESHED = _base.TASK_REFRESH_ATTRS  # what TaskResult.refresh() reads again
normalize_json = _base.normalize_json  # django.utils.json's in Django 6, django_tasks.utils' in the backport
TaskResultDoesNotExist = _exceptions.TaskResultDoesNotExist
# ``InvalidTask`` in Django 6 and newer backports; ``InvalidTaskError`` up to django-tasks 0.12.
InvalidTask = getattr(_exceptions, "InvalidTask", None) or _exceptions.InvalidTaskError
task_backends = api.task_backends
task_enqueued = _signals.task_enqueued
task_started = _signals.task_started
task_finished = _signals.task_finished
