"""Fixtures shared by the whole suite: a fresh database per test (a SQLite file, and a schema in
PostgreSQL: each test that uses one runs on both engines), a queue on it, and real worker
processes (``python -m lilqueue worker tests.tasks:queue``).

A test that holds only on SQLite (its file, its pragmas, its locks) is marked ``sqlite_only``.
Without PostgreSQL, its tests are skipped, except under ``CI=true``, where they fail.

A test that takes ``face`` (through a fixture built on ``http_support.serving``) runs against
both HTTP faces, the WSGI middleware and the ASGI app. A test of what only WSGI does (its
servers, holding by server kind, a WSGI host's environ) is marked ``wsgi_only``: it runs on
WSGI alone, whether or not it takes ``face``; what only ASGI does is in test_asgi.py. The ASGI
runs are on SQLite, except for a test marked ``waits`` (long-polls, event streams)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import engines, tasks

ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config):
    config.addinivalue_line("markers", "sqlite_only: the test checks what only SQLite does")
    config.addinivalue_line("markers", "wsgi_only: the test checks what only the WSGI face does")
    config.addinivalue_line("markers", "waits: the test waits on the watcher; its ASGI run is on every engine")


def pytest_generate_tests(metafunc):
    marked = metafunc.definition.get_closest_marker
    on = ["sqlite"] if marked("sqlite_only") else list(engines.ENGINES)
    faces = ["wsgi"] if marked("wsgi_only") else ["wsgi", "asgi"]
    if "engine" in metafunc.fixturenames and "face" in metafunc.fixturenames:
        # Both faces run one core above the engine; under a face, an engine changes only how
        # waiters are woken. So the ASGI face meets every engine in the tests that wait, and
        # SQLite alone elsewhere (the suite's time: each ASGI run costs ~0.25 s).
        pairs = [(engine, face) for engine in on for face in faces
                 if face == "wsgi" or engine == "sqlite" or marked("waits")]
        metafunc.parametrize(("engine", "face"), pairs, ids=[f"{engine}-{face}" for engine, face in pairs])
    elif "engine" in metafunc.fixturenames:
        metafunc.parametrize("engine", on)
    elif "face" in metafunc.fixturenames:
        metafunc.parametrize("face", faces)


@pytest.fixture(scope="session")
def postgres_missing() -> str | None:
    return engines.postgres_missing()


def _location(engine: str, tmp_path: Path, postgres_missing: str | None):
    if engine == "postgres" and postgres_missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required under CI=true: {postgres_missing}")
        pytest.skip(postgres_missing)
    location = engines.fresh(engine, tmp_path)
    with engines.pools_closed_after():
        yield location
    engines.drop(location)


@pytest.fixture
def db_path(engine: str, tmp_path: Path, postgres_missing):
    """The test's database: a file path, or a PostgreSQL URL with a schema of its own."""
    yield from _location(engine, tmp_path, postgres_missing)


@pytest.fixture
def pg_url(tmp_path: Path, postgres_missing):
    """A schema of its own in PostgreSQL, for a test of what only the PostgreSQL engine does."""
    yield from _location("postgres", tmp_path, postgres_missing)


@pytest.fixture
def queue(db_path: str):
    return tasks.build(db_path)


def worker_count(db_path: str) -> int:
    return engines.sql(db_path, "select count(*) from lilqueue_worker")[0][0]


class WorkerProcess:
    """A real worker process in its own process group, logging to a file."""

    def __init__(self, db_path: str, log_path: Path, args: list[str], env: dict[str, str],
                 target: str = "tests.tasks:queue") -> None:
        self.db_path = db_path
        self.log_path = log_path
        self._log = open(log_path, "ab")
        command = [sys.executable, "-m", "lilqueue", "worker", target, *args]
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
            if engines.sql(self.db_path, "select 1 from lilqueue_worker where pid = ?", (self.pid,)):
                return
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
        """Stop as an operator would, without waiting out the grace: a test's last job may be a
        long sleep. A second SIGTERM skips the grace; running jobs are handed back."""
        for timeout in (0.5, 10):
            if self.process.poll() is not None:
                break
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        self.kill_group()
        self._log.close()


def worker_starter(location: str, tmp_path: Path) -> Iterator:
    """A ``start(threads=2, *args, wait=True, target=...)`` for real worker processes on
    ``location``; every process it started is stopped when the generator ends."""
    started: list[WorkerProcess] = []

    def start(threads: int = 2, *args: str, wait: bool = True, target: str = "tests.tasks:queue") -> WorkerProcess:
        tasks.build(location)  # create the tables before the worker counts rows
        env = dict(os.environ, LILQUEUE_TEST_DB=location, PYTHONUNBUFFERED="1")
        worker = WorkerProcess(location, tmp_path / f"worker-{len(started)}.log",
                               ["--threads", str(threads), *args], env, target)
        started.append(worker)
        if wait:
            worker.wait_ready()
        return worker

    yield start
    for worker in started:
        worker.close()


@pytest.fixture
def start_worker(db_path: str, tmp_path: Path):
    """Start real worker processes on the test's database: ``start_worker(threads=2)``; another
    queue than tests.tasks' with ``target="module:attribute"``."""
    yield from worker_starter(db_path, tmp_path)


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
