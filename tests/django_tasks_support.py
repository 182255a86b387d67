"""The test project's Django tasks as its users run them: a process that enqueues and reads
results (``probe``), and ``manage.py lilqueue worker`` processes, on lilqueue's database of the
test's engine and a Django database of the test's own.

    site = TasksSite(tmp_path, db_path)
    worker = site.worker()
    found = site.probe("out(describe(finished(tasks.add.enqueue(2, 3))))")
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests import tasks
from tests.conftest import ROOT, WorkerProcess
from tests.django_support import MANAGE

# Run first in every probe: Django set up, the tasks module, and helpers to wait and to describe.
PRELUDE = """
import json, time
import django
django.setup()
from tests.djangoproject.reports import tasks
from lilqueue.django import queue
from lilqueue.django.tasks_api import api, InvalidTask, TaskResultDoesNotExist

backend = api.task_backends["default"]

def finished(result, timeout=20):
    deadline = time.monotonic() + timeout
    while not result.is_finished:
        if time.monotonic() > deadline:
            raise SystemExit(f"{result.id} {result.task.name} still {result.status}")
        time.sleep(0.02)
        result.refresh()
    return result

def describe(result):
    try:
        value = result.return_value
    except ValueError as exc:
        value = f"raises ValueError: {exc}"
    return {"id": result.id, "status": str(result.status), "return_value": value, "task": result.task.module_path,
            "priority": result.task.priority, "queue_name": result.task.queue_name, "backend": result.backend,
            "run_after": result.task.run_after, "args": result.args, "kwargs": result.kwargs,
            "enqueued_at": result.enqueued_at, "started_at": result.started_at,
            "last_attempted_at": result.last_attempted_at, "finished_at": result.finished_at,
            "attempts": result.attempts, "worker_ids": result.worker_ids, "is_finished": result.is_finished,
            "errors": [{"path": e.exception_class_path, "traceback": e.traceback,
                        "class": e.exception_class.__qualname__} for e in result.errors]}

def out(value):
    print(json.dumps(value, default=lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v)))
"""

class TasksSite:
    def __init__(self, tmp_path: Path, lilqueue_db: str, django_db: Path | None = None, migrate: bool = False,
                 **env: str) -> None:
        self.tmp_path = tmp_path
        self.lilqueue_db = lilqueue_db
        self.env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.djangoproject.settings", PYTHONUNBUFFERED="1",
                        DJANGO_DB=str(django_db or tmp_path / "db.sqlite3"), LILQUEUE_TEST_DB=lilqueue_db, **env)
        tasks.build(lilqueue_db)  # the tables, before a worker's row is looked for
        self.workers: list[WorkerProcess] = []
        if migrate:
            done = subprocess.run([sys.executable, str(MANAGE), "migrate", "-v0"], cwd=ROOT, env=self.env,
                                  capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stderr

    def probe(self, code: str, **env: str) -> Any:
        """Run ``code`` after the prelude in a process of its own; what its last ``out()`` printed."""
        done = subprocess.run([sys.executable, "-c", PRELUDE + code], cwd=ROOT, env={**self.env, **env},
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"probe failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
        return json.loads(done.stdout.splitlines()[-1])

    def worker(self, threads: int = 2, *args: str) -> WorkerProcess:
        worker = DjangoWorker(self, threads, *args)
        self.workers.append(worker)
        worker.wait_ready()
        return worker

    def close(self) -> None:
        for worker in self.workers:
            worker.close()


class DjangoWorker(WorkerProcess):
    """A real ``manage.py lilqueue worker`` process."""

    def __init__(self, site: TasksSite, threads: int, *args: str) -> None:
        self.db_path = site.lilqueue_db
        self.log_path = site.tmp_path / f"worker-{len(site.workers)}.log"
        self._log = open(self.log_path, "ab")
        command = [sys.executable, str(MANAGE), "lilqueue", "worker", "--threads", str(threads), *args]
        self.process = subprocess.Popen(command, cwd=ROOT, env=site.env, stdout=self._log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
