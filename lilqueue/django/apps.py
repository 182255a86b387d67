"""The Django app: on start-up, import the ``tasks`` module of every installed app, so that the
web process, ``manage.py lilqueue worker`` and the worker's child processes know the same tasks;
with ``LILQUEUE["WORKER"]``, run a worker inside each process that serves requests."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.signals import request_started
from django.utils.module_loading import autodiscover_modules

from ..settings import MIDDLEWARE
from .conf import problems

BACKEND_PATHS = ("lilqueue.django.Backend", "lilqueue.django.backend.Backend")


class LilqueueConfig(AppConfig):
    name = "lilqueue.django"
    label = "lilqueue"
    verbose_name = "lilqueue"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)

        autodiscover_modules("tasks")  # with bad settings too: see conf.Misconfigured
        config = getattr(settings, "LILQUEUE", {})
        if not problems(config):
            _open_task_backends()
            threads = MIDDLEWARE.check("worker", config.get("WORKER", False))
            if threads:
                _embed(threads)


def _open_task_backends() -> None:
    """Create each of Django's task backends that is lilqueue's: creating one registers the
    carrier of Django's tasks on its queue, so a worker runs them even when none of the modules
    it imported defines a Django task."""
    aliases = [alias for alias, options in getattr(settings, "TASKS", {}).items()
               if options.get("BACKEND") in BACKEND_PATHS]
    if aliases:
        from .tasks_api import task_backends

        for alias in aliases:
            task_backends[alias]


def _embed(threads: int) -> None:
    """A worker that starts with this process's first request of any kind (after gunicorn's
    fork, in runserver's serving child), not only with the first one under the jobs' path, or
    with its first enqueue (``Queue._started`` wakes it, see ``web/embedded.py``)."""
    from ..web.embedded import Embedded
    from . import queue

    embedded = Embedded(queue, threads)

    def start(**signal: Any) -> None:
        embedded.ensure()

    request_started.connect(start, weak=False, dispatch_uid="lilqueue.django.embedded")
