"""A host app with the queue's face mounted under ``/jobs`` by Werkzeug's DispatcherMiddleware,
its worker inside (``worker=True``), for tests/test_embedded.py: ``gunicorn
tests.apps.mounted:app``, ``lilqueue worker tests.apps.mounted:queue``, or a script importing
it. The host's routes never reach the face. The database is ``LILQUEUE_TEST_DB``."""

from __future__ import annotations

import os

from flask import Flask
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from tests import tasks

queue = tasks.build(os.environ["LILQUEUE_TEST_DB"])
host = Flask(__name__)
app = DispatcherMiddleware(host, {"/jobs": queue.middleware(prefix="", worker=2)})


@queue.task()
def starts_add(a: int, b: int) -> str:
    """A job that starts a job: the id of the ``add`` it started."""
    return queue.start("add", [a, b]).id


@host.get("/hello")
def hello() -> str:
    return f"hello from {os.getpid()}"


@host.post("/add")
def add() -> str:
    """A host route starting a job: its id and the pid of the process that started it."""
    return f"{queue.start('add', [2, 3]).id} {os.getpid()}"
