"""The reliability suite (issue 5): faults, soak, hostile input and access, on real processes.

Every test that uses a database runs on both engines, ``[sqlite]`` and ``[postgres]`` (see
tests/conftest.py); ``sqlite_only`` marks what only SQLite's file does. test_postgres_concurrency.py
holds the proofs under concurrency that only PostgreSQL needs (writers side by side).

Short form (CI): ``python -m pytest tests/reliability``.
Long form: ``LILQUEUE_LONG=1 python -m pytest tests/reliability`` (or ``--long``): a 10-minute soak
and larger fault counts. Each test records the figures it measured; they are printed at the end
of the run and, with ``LILQUEUE_FIGURES=path``, appended to that file as JSON lines.
"""

from __future__ import annotations

import json
import os

import pytest

FIGURES: list[dict] = []


def pytest_addoption(parser):
    parser.addoption("--long", action="store_true", default=False,
                     help="run the long form of the reliability suite (10-minute soak, more faults)")


@pytest.fixture(scope="session")
def long_form(request) -> bool:
    return bool(request.config.getoption("--long")) or os.environ.get("LILQUEUE_LONG") == "1"


@pytest.fixture
def figures(request):
    """A dict the test fills with what it measured; kept for the summary."""
    measured: dict = {}
    yield measured
    if measured:
        FIGURES.append({"test": request.node.name, **measured})


def pytest_terminal_summary(terminalreporter):
    if not FIGURES:
        return
    terminalreporter.section("reliability figures")
    for entry in FIGURES:
        terminalreporter.write_line(json.dumps(entry, sort_keys=False))
    path = os.environ.get("LILQUEUE_FIGURES")
    if path:
        with open(path, "a") as out:
            for entry in FIGURES:
                out.write(json.dumps(entry) + "\n")


@pytest.fixture
def start_server(db_path, tmp_path):
    """Start ``python -m lilqueue serve tests.tasks:queue`` on the test's database."""
    from tests import tasks
    from tests.reliability.support import ServerProcess

    started: list[ServerProcess] = []

    def start(log_level: str = "info") -> ServerProcess:
        tasks.build(db_path)
        server = ServerProcess(db_path, tmp_path / f"server-{len(started)}.log", log_level)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()
