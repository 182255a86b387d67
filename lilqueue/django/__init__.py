"""lilqueue as a Django app: the queue built from ``settings.LILQUEUE``, the tasks of every app
found at start-up, ``manage.py lilqueue``, the HTTP endpoints in the URLconf and a backend for
Django's tasks API. See docs/django.md.

    # settings.py
    INSTALLED_APPS = [..., "lilqueue.django"]
    LILQUEUE = {"DATABASE": BASE_DIR / "jobs.sqlite3"}      # optional: see conf.py for the default

    # shop/tasks.py (imported in every process when Django starts)
    from lilqueue.django import queue

    @queue.task
    def recount(shop_id): ...

    # urls.py
    urlpatterns = [..., path("jobs/", include("lilqueue.django.urls"))]

    # a view: the job is the user's (only they may watch and cancel it); a template shows it live
    job = queue.start(recount, [shop.pk], owner=owner(request))    # {% load lilqueue %}{% lilqueue_card job %}

    python manage.py lilqueue worker          # the same verbs as python -m lilqueue

``queue`` is built on first use, so ``tasks.py`` may import it before the app registry is
ready; it is a ``lilqueue.Queue`` in every respect (``isinstance`` included).
"""

from __future__ import annotations

from typing import Any

from django.utils.functional import SimpleLazyObject

from .access import owner
from .conf import build_queue

queue: Any = SimpleLazyObject(build_queue)


def __getattr__(name: str) -> Any:
    if name == "Backend":  # imported on demand: it needs django.tasks or django_tasks
        from .backend import Backend
        return Backend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Backend", "owner", "queue"]
