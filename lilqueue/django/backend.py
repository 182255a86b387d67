"""``lilqueue.django.Backend``: Django's tasks API (``django.tasks``, or the ``django-tasks``
backport) on lilqueue, so that a Django task's progress, logs and cancel reach the browser.

    # settings.py
    TASKS = {"default": {"BACKEND": "lilqueue.django.Backend"}}

    # reports/tasks.py
    from django.tasks import task            # django_tasks before Django 6

    @task
    def build_report(year):
        lilqueue.current_job().progress(1, total=12, message="January")
        ...

    result = build_report.enqueue(2026)      # result.id is the lilqueue job's id: /jobs/<id>
    build_report.get_result(result.id).status

``OPTIONS``: ``ENQUEUE_ON_COMMIT`` (default True): inside ``transaction.atomic()`` the job is
recorded when the transaction commits, and not at all if it rolls back; False records it at
once. ``QUEUE``: the dotted path of the Queue (default ``lilqueue.django.queue``, the one
``settings.LILQUEUE`` describes). See docs/django-tasks.md.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterable
from typing import Any

from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from ..errors import InvalidArguments, JobNotFound
from ..job import ID_PATTERN, new_id
from ..queue import Queue
from ..states import QUEUED
from ..store import SqliteStore
from .addresses import address
from .carrier import CARRIER, register
from .conf import problems, raw
from .results import local_time, task_result
from .tasks_api import (
    REFRESHED,
    BaseTaskBackend,
    TaskResult,
    TaskResultDoesNotExist,
    TaskResultStatus,
    normalize_json,
    task_enqueued,
)

OPTIONS = {"ENQUEUE_ON_COMMIT": True, "QUEUE": "lilqueue.django.queue"}


class Backend(BaseTaskBackend):
    """Each ``enqueue`` records one lilqueue job, whose id is the ``TaskResult``'s id; a worker
    (``manage.py lilqueue worker``) runs it. Results are read from the job in any process."""

    supports_defer = True
    supports_priority = True
    supports_get_result = True
    supports_async_task = True  # Task.call runs a coroutine function to its end (asgiref's async_to_sync)

    def __init__(self, alias: str, params: dict) -> None:
        super().__init__(alias, params)
        where = f"TASKS[{alias!r}]['OPTIONS']"
        if not isinstance(self.options, dict):
            raise ImproperlyConfigured(f"{where} must be a dict, not {self.options!r}")
        unknown = sorted(str(key) for key in self.options if key not in OPTIONS)
        if unknown:
            raise ImproperlyConfigured(f"{where}: unknown option(s) {', '.join(unknown)}"
                                       f" (options: {', '.join(OPTIONS)})")
        self.enqueue_on_commit = self.options.get("ENQUEUE_ON_COMMIT", OPTIONS["ENQUEUE_ON_COMMIT"])
        if not isinstance(self.enqueue_on_commit, bool):
            raise ImproperlyConfigured(f"{where}['ENQUEUE_ON_COMMIT'] must be True or False,"
                                       f" not {self.enqueue_on_commit!r}")
        self._named = self.options.get("QUEUE", OPTIONS["QUEUE"])
        self._queue: Queue | None = None
        # Now, so that a worker knows the carrier before it takes a job; but not with LILQUEUE
        # settings that cannot build the queue: ``manage.py check`` creates every backend, and
        # must report those settings as its errors rather than crash on them.
        if not problems(raw()):
            self._queue = self.queue

    @property
    def queue(self) -> Queue:
        """The queue ``OPTIONS["QUEUE"]`` names, able to run Django's tasks."""
        if self._queue is None:
            named, where = self._named, f"TASKS[{self.alias!r}]['OPTIONS']['QUEUE']"
            try:
                found = import_string(named) if isinstance(named, str) else named
            except ImportError as exc:
                raise ImproperlyConfigured(f"{where}: cannot import {named!r}: {exc}") from None
            if not isinstance(found, Queue):
                raise ImproperlyConfigured(f"{where} must name a lilqueue.Queue, not {named!r}")
            register(found)
            self._queue = found
        return self._queue

    def enqueue(self, task: Any, args: Any, kwargs: Any) -> Any:
        """Record a job for ``task(*args, **kwargs)`` (on commit, see the module docstring) and
        return its result, READY, whose id is the job's."""
        self.validate_task(task)
        args, kwargs = normalize_json(list(args)), normalize_json(dict(kwargs))
        try:
            inspect.signature(task.func).bind(*([None] if task.takes_context else []), *args, **kwargs)
        except TypeError as exc:
            raise InvalidArguments(task.module_path, str(exc)) from None
        result = TaskResult(task=task, id=new_id(), status=TaskResultStatus.READY, enqueued_at=None,
                            started_at=None, finished_at=None, last_attempted_at=None, args=args, kwargs=kwargs,
                            backend=self.alias, errors=[], worker_ids=[])
        eta = task.run_after
        if eta is not None and timezone.is_naive(eta):
            eta = timezone.make_aware(eta)  # USE_TZ = False: a naive time is the site's local time

        def record() -> None:
            job = self.queue.start(CARRIER, [address(task, self.alias), *args], kwargs, eta=eta,
                                   priority=task.priority, job_id=result.id)
            object.__setattr__(result, "enqueued_at", local_time(job.created_at))
            if job.state != QUEUED:  # immediate mode (LILQUEUE's IMMEDIATE): it ran within the start
                ran = task_result(job, self.alias)
                for name in REFRESHED:
                    object.__setattr__(result, name, getattr(ran, name))
            task_enqueued.send(type(self), task_result=result)

        if self._now():
            record()
        else:
            transaction.on_commit(record)
        return result

    def _now(self) -> bool:
        """Record at once? Not inside a transaction when recording on commit; and never inside
        one on the very SQLite file lilqueue writes: SQLite has one writer, the transaction may
        hold it, and it would wait for lilqueue's write while lilqueue waited for it."""
        connection = transaction.get_connection(DEFAULT_DB_ALIAS)
        if not connection.in_atomic_block:
            return True
        return not self.enqueue_on_commit and not self._shares_file(connection)

    def _shares_file(self, connection: Any) -> bool:
        store = self.queue.store
        if connection.vendor != "sqlite" or not isinstance(store, SqliteStore):
            return False
        name = str(connection.settings_dict.get("NAME") or "")
        return bool(name) and _same_file(name, store.location)

    def get_result(self, result_id: str) -> Any:
        """The result of ``result_id`` as its job is now, read in this process from the queue's
        database; TaskResultDoesNotExist for an id no Django task's job has."""
        if not isinstance(result_id, str) or not ID_PATTERN.fullmatch(result_id):
            raise TaskResultDoesNotExist(result_id)
        try:
            job = self.queue.get(result_id)
        except JobNotFound:
            raise TaskResultDoesNotExist(result_id) from None
        if job.task != CARRIER:
            raise TaskResultDoesNotExist(result_id)
        return task_result(job, self.alias)

    def check(self, **kwargs: Any) -> Iterable[checks.CheckMessage]:
        yield from super().check(**kwargs)
        from django.apps import apps
        if not apps.is_installed("lilqueue.django"):
            yield checks.Error(f"TASKS[{self.alias!r}] uses lilqueue.django.Backend, but lilqueue.django is not"
                               " installed", hint='add "lilqueue.django" to INSTALLED_APPS',
                               id="lilqueue.E101")


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)
