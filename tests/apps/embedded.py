"""A Flask app whose middleware runs the worker inside the web process (``worker=True``),
for tests/test_embedded.py: ``gunicorn tests.apps.embedded:app``, ``flask --app
tests.apps.embedded run``. The database is ``LILQUEUE_TEST_DB``; ``EMBEDDED_THREADS`` sets
the worker's threads."""

from __future__ import annotations

import os
import time

from flask import Flask

from tests import tasks

queue = tasks.build(os.environ["LILQUEUE_TEST_DB"])
app = Flask(__name__)
app.wsgi_app = queue.middleware(app.wsgi_app, worker=int(os.environ.get("EMBEDDED_THREADS", "2")))


@app.get("/hello")
def hello() -> str:
    return f"hello from {os.getpid()}"


@app.get("/slow")
def slow() -> str:
    """Busy for a moment: concurrent requests then reach every gunicorn worker."""
    time.sleep(0.3)
    return f"hello from {os.getpid()}"
