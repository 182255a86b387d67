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


class LilqueueConfig(AppConfig):
    name = "lilqueue.django"
    label = "lilqueue"
    verbose_name = "lilqueue"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)

        autodiscover_modules("tasks")  # with bad settings too: see conf.Misconfigured
        config = getattr(settings, "LILQUEUE", {})
        if not problems(config):
            threads = MIDDLEWARE.check("worker", config.get("WORKER", False))
            if threads:
                _embed(threads)


def _embed(threads: int) -> None:
    """A worker that starts with this process's first request of any kind (after gunicorn's
    fork, in runserver's serving child), not only with the first one under the jobs' path."""
    from ..web.embedded import Embedded
    from . import queue

    embedded = Embedded(queue, threads)

    def start(**signal: Any) -> None:
        embedded.ensure()

    request_started.connect(start, weak=False, dispatch_uid="lilqueue.django.embedded")
