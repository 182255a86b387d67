"""Fixtures shared by the whole suite: a fresh SQLite file per test, a queue on it, and real
worker processes (``python -m lilqueue worker tests.tasks:queue``)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import tasks

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "jobs.db")


@pytest.fixture
def queue(db_path: str):
    return tasks.build(db_path)


def worker_count(db_path: str) -> int:
    with sqlite3.connect(db_path) as conn:
        return conn.execute("select count(*) from lilqueue_worker").fetchone()[0]


class WorkerProcess:
    """A real worker process in its own process group, logging to a file."""

    def __init__(self, db_path: str, log_path: Path, args: list[str], env: dict[str, str]) -> None:
        self.db_path = db_path
        self.log_path = log_path
        self._log = open(log_path, "ab")
        command = [sys.executable, "-m", "lilqueue", "worker", "tests.tasks:queue", *args]
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self._log,
                                        stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, timeout: float = 15.0) -> None:
        """Wait until this worker has registered (its row carries its pid)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited with {self.process.returncode}:\n{self.output()}")
            try:
                with sqlite3.connect(self.db_path) as conn:
                    registered = conn.execute("select 1 from lilqueue_worker where pid = ?", (self.pid,)).fetchone()
                if registered:
                    return
            except sqlite3.OperationalError:
                pass
            time.sleep(0.02)
        raise AssertionError(f"worker not ready after {timeout} s:\n{self.output()}")

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def kill_group(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(10)

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout)

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                pass
        self.kill_group()
        self._log.close()


@pytest.fixture
def start_worker(db_path: str, tmp_path: Path):
    """Start real worker processes on the test's database: ``start_worker(threads=2)``."""
    started: list[WorkerProcess] = []

    def start(threads: int = 2, *args: str, wait: bool = True) -> WorkerProcess:
        tasks.build(db_path)  # create the tables before the worker counts rows
        env = dict(os.environ, LILQUEUE_TEST_DB=db_path, PYTHONUNBUFFERED="1")
        worker = WorkerProcess(db_path, tmp_path / f"worker-{len(started)}.log",
                               ["--threads", str(threads), *args], env)
        started.append(worker)
        if wait:
            worker.wait_ready()
        return worker

    yield start
    for worker in started:
        worker.close()


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.01, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout} s")
        time.sleep(interval)
