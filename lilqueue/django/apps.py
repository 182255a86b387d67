"""The Django app: on start-up, import the ``tasks`` module of every installed app, so that the
web process, ``manage.py lilqueue worker`` and the worker's child processes know the same tasks."""

from __future__ import annotations

from django.apps import AppConfig
from django.conf import settings
from django.utils.module_loading import autodiscover_modules

from .conf import problems


class LilqueueConfig(AppConfig):
    name = "lilqueue.django"
    label = "lilqueue"
    verbose_name = "lilqueue"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)

        # With bad settings the tasks modules would fail on the queue; leave them for
        # ``manage.py check`` (and runserver's checks) to report as system-check errors.
        if not problems(getattr(settings, "LILQUEUE", {})):
            autodiscover_modules("tasks")
