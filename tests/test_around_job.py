"""``Queue(around_job=...)``: the hook a worker enters around every job, in its threads and in an
isolated job's child (``lilqueue.django`` closes stale connections with it)."""

from __future__ import annotations

import contextlib
import os
import threading

import pytest

import lilqueue
from lilqueue import testing

SCOPES: list[str] = []  # what the hook saw, in this process
_lock = threading.Lock()


@contextlib.contextmanager
def record():
    with _lock:
        SCOPES.append("enter")
    try:
        yield
    finally:
        with _lock:
            SCOPES.append("exit")


@contextlib.contextmanager
def refuse():
    raise ConnectionError("the database is down")
    yield  # pragma: no cover


def in_scope() -> bool:
    return SCOPES[-1:] == ["enter"]


def child_pid_in_scope() -> list:
    """In an isolated job's child: the hook, imported by name there, was entered first."""
    return [os.getpid(), SCOPES]


@pytest.fixture
def hooked(db_path):
    SCOPES.clear()
    queue = lilqueue.Queue(db_path, around_job=record)
    queue.task(in_scope)
    queue.task(isolate=True)(child_pid_in_scope)
    return queue


def test_every_job_runs_inside_the_hook(hooked):
    with testing.worker(hooked, threads=1):
        jobs = [hooked.wait(hooked.start("in_scope").id, timeout=10) for _ in range(3)]
    assert [job.result for job in jobs] == [True] * 3
    assert SCOPES == ["enter", "exit"] * 3


@pytest.mark.sqlite_only
def test_an_isolated_job_enters_the_hook_in_its_own_child(hooked):
    with testing.worker(hooked, threads=1):
        job = hooked.wait(hooked.start("child_pid_in_scope").id, timeout=20)
    pid, scopes = job.result
    assert pid != os.getpid() and scopes == ["enter"]


def test_a_hook_that_fails_on_entry_fails_the_job_which_never_runs(db_path):
    queue = lilqueue.Queue(db_path, around_job=refuse)
    queue.task(in_scope)
    SCOPES.clear()
    with testing.worker(queue, threads=1):
        job = queue.wait(queue.start("in_scope").id, timeout=10)
    assert (job.state, job.error.type, job.error.message) == ("failed", "ConnectionError", "the database is down")


def test_a_hook_must_be_a_module_level_function():
    with pytest.raises(lilqueue.ConfigurationError, match="around_job must be a module-level function"):
        lilqueue.Queue(":memory:", around_job=lambda: contextlib.nullcontext())
