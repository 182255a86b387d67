"""What the worker does around each job of a Django site's queue, as Django does around each
request: stale or broken database connections are closed before and after, so a task never
gets one the database server dropped meanwhile and ``CONN_MAX_AGE`` holds in workers too.

    Queue(path, around_job=lilqueue.django.connections.around_job)   # lilqueue.django's queue has it
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import django
from django.apps import apps
from django.db import close_old_connections


@contextmanager
def around_job() -> Iterator[None]:
    if not apps.ready:  # a job's child process starts bare: its task module needs the app registry
        django.setup()
    close_old_connections()
    try:
        yield
    finally:
        close_old_connections()
