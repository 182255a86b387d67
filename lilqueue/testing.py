"""Helpers for testing an app that starts jobs: no worker process to run, and nothing written
to the app's own job database.

    from lilqueue import testing

    def test_import_succeeds():
        with testing.immediate(queue):               # each start() runs the job before it returns
            job = import_rows.start(5)
        assert testing.result(job) == {"imported": 5}

    def test_the_view_with_a_real_worker(tmp_path):
        with testing.relocated(queue, tmp_path / "jobs.db"), testing.worker(queue):
            job = import_rows.start(5)
            assert testing.result(queue.wait(job.id, timeout=10)) == {"imported": 5}

See docs/testing.md for pytest fixtures built on these, and recipes for Flask, Django and FastAPI.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .states import SUCCEEDED

if TYPE_CHECKING:
    from .job import Job
    from .queue import Queue
    from .worker import Worker


@contextlib.contextmanager
def immediate(queue: Queue) -> Iterator[Queue]:
    """``queue`` in immediate mode for the block (``queue.immediate``); the mode it was in after."""
    was = queue.immediate
    queue.immediate = True
    try:
        yield queue
    finally:
        queue.immediate = was


@contextlib.contextmanager
def relocated(queue: Queue, location: str | os.PathLike) -> Iterator[Queue]:
    """``queue`` on the database at ``location`` for the block (a temporary file, a PostgreSQL
    URL with a schema of the test's own); back on its own database after."""
    was = queue.path
    queue.reopen(location)
    try:
        yield queue
    finally:
        queue.reopen(was)


@contextlib.contextmanager
def worker(queue: Queue, threads: int = 2, poll_interval: float = 0.01) -> Iterator[Worker]:
    """A real worker for ``queue`` in this process for the block: jobs run on its threads as in
    production (``queue.wait(job.id)`` follows one to its end). Jobs still running at the end
    are asked to stop, and handed back if they do not."""
    running = queue.worker(threads=threads, grace=0.0, poll_interval=poll_interval).start()
    try:
        yield running
    finally:
        running.stop()


def result(job: Job) -> Any:
    """The result of a job that succeeded; for any other state an AssertionError that says how
    it ended (and the task's traceback, which the job keeps for operators)."""
    if job.state == SUCCEEDED:
        return job.result
    why = f": {job.error.type}: {job.error.message}" if job.error else ""
    trace = f"\n{job.error.traceback}" if job.error and job.error.traceback else ""
    raise AssertionError(f"job {job.id} ({job.task}) is {job.state}{why}{trace}")
