"""The ASGI matrix: lilqueue's ASGI face (``queue.asgi``) in each framework, served by each real
ASGI server as a process on 127.0.0.1, with the embedded worker (``worker=True``) and no other.

Every server with FastAPI, every framework on uvicorn, and a few crossed pairs; one row runs on
PostgreSQL. In each row: a job started by the host's own async route runs with no request to
the face (the lifespan started the worker; a mounted face, which gets no lifespan, starts it on
its first request), jobs started over HTTP are followed to their end by long-poll and by event
stream, ``url`` and ``Location`` carry the mount, a running job is canceled, and SIGTERM with a
job running and its event stream open stops the server within seconds, the embedded worker
letting the job finish or handing it back.

One line of figures per row is printed (startup to the first answer, exit after SIGTERM).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lilqueue.states import FINISHED
from tests import engines, tasks
from tests.conftest import wait_for, worker_count
from tests.http_support import post_json, request
from tests.servers.harness import ServerProcess, free_port, need

BIN = Path(sys.executable).parent  # the console scripts of this interpreter's environment
# Seconds from SIGTERM to the server's exit. The job in flight takes 1 s, less than the embedded
# worker's grace, and its event stream ends with it: a server holds an open stream until it ends
# (hypercorn for --graceful-timeout, 3 s), and stops the worker only then (docs/deploy.md).
EXIT_WITHIN = 5.0

SERVERS = {
    "uvicorn": ((f"{BIN}/uvicorn", "--host", "127.0.0.1", "--port", "{port}", "{target}"), ("uvicorn",)),
    "hypercorn": ((f"{BIN}/hypercorn", "--bind", "127.0.0.1:{port}", "{target}"), ("hypercorn",)),
    "granian": ((f"{BIN}/granian", "--interface", "asgi", "--host", "127.0.0.1", "--port", "{port}", "{target}"),
                ("granian",)),
    "gunicorn-uvicorn": ((f"{BIN}/gunicorn", "-k", "uvicorn_worker.UvicornWorker", "--bind", "127.0.0.1:{port}",
                          "{target}"), ("gunicorn", "uvicorn_worker")),
}


@dataclass(frozen=True)
class Framework:
    target: str                  # module:attribute
    mount: str                   # where the face answers
    lifespan: bool               # the face gets the lifespan (wraps the app), so the worker runs at startup
    needs: tuple[str, ...]


FRAMEWORKS = {
    "fastapi": Framework("tests.servers.fastapi_asgi:app", "/jobs", True, ("fastapi",)),
    "fastapi-mount": Framework("tests.servers.fastapi_asgi:mounted", "/api/jobs", False, ("fastapi",)),
    "starlette-mount": Framework("tests.servers.starlette_app:app", "/api/jobs", False, ("starlette",)),
    "litestar-mount": Framework("tests.servers.litestar_app:app", "/api/jobs", False, ("litestar",)),
    "django": Framework("tests.servers.django_site.asgi:application", "/jobs", True, ("django",)),
}

ROWS = ([(server, "fastapi", "sqlite") for server in SERVERS]
        + [("uvicorn", name, "sqlite") for name in FRAMEWORKS if name != "fastapi"]
        + [("hypercorn", "django", "sqlite"), ("granian", "litestar-mount", "sqlite"),
           ("uvicorn", "fastapi", "postgres")])


@dataclass
class Served:
    name: str                    # the row's server
    base: str
    mount: str
    location: str
    server: ServerProcess
    started_in: float            # seconds from the process's start to the host's first answer


@pytest.fixture(params=ROWS, ids=["-".join(row) for row in ROWS])
def served(request, tmp_path: Path):
    server_name, framework_name, engine = request.param
    command, server_needs = SERVERS[server_name]
    framework = FRAMEWORKS[framework_name]
    need(*server_needs, *framework.needs)
    location = request.getfixturevalue("pg_url") if engine == "postgres" else str(tmp_path / "jobs.db")
    tasks.build(location)  # the tables, before the worker counts rows
    port = free_port()
    env = dict(os.environ, LILQUEUE_TEST_DB=location, PYTHONUNBUFFERED="1",
               DJANGO_SETTINGS_MODULE="tests.servers.django_site.settings")
    began = time.monotonic()
    server = ServerProcess([part.format(port=port, target=framework.target) for part in command], port,
                           tmp_path / "server.log", env)
    try:
        base = server.wait_ready("/hello")
        yield framework, Served(server_name, base, framework.mount, location, server, time.monotonic() - began)
    finally:
        server.stop()
        print(f"----- server.log\n{server.log_path.read_text(errors='replace')}")


def state(location: str, job_id: str) -> str:
    """A job's state read from its table, not through the face."""
    return engines.sql(location, "select state from lilqueue_job where id = ?", (job_id,))[0][0]


def start_over_http(served: Served, task: str, *args: Any, **kwargs: Any) -> dict:
    answer = post_json(served.base, f"{served.mount}/", {"task": task, "args": list(args), "kwargs": kwargs})
    assert answer.status == 202, answer
    job = answer.json()
    assert answer.headers["Location"] == job["url"] == f"{served.mount}/{job['id']}", (answer.headers, job)
    return job


def follow(served: Served, job: dict, until: set[str]) -> tuple[dict, list[str]]:
    """Long-poll a job until its state is in ``until``; the job then and every state seen."""
    seen = [job["state"]]
    deadline = time.monotonic() + 20
    while job["state"] not in until:
        assert time.monotonic() < deadline, f"{job['id']} still {job['state']}, seen {seen}"
        answer = request(served.base, "GET", f"{served.mount}/{job['id']}?since={job['version']}&wait=10",
                         timeout=15)
        assert answer.status == 200 and "Retry-After" not in answer.headers, answer
        job = answer.json()
        seen.append(job["state"])
    return job, seen


@contextlib.contextmanager
def events(served: Served, job_id: str) -> Iterator[http.client.HTTPResponse]:
    """A job's event stream, open: iterate it for its lines."""
    host, port = served.base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=20)
    try:
        conn.request("GET", f"{served.mount}/{job_id}/events")
        answer = conn.getresponse()
        assert answer.status == 200 and answer.headers["Content-Type"].startswith("text/event-stream"), answer.status
        yield answer
    finally:
        conn.close()


def data_lines(stream: http.client.HTTPResponse) -> list[str]:
    """The data lines of an event stream, read until the server ends it."""
    return [line[5:].decode().strip() for line in stream if line.startswith(b"data:")]


def test_each_asgi_server_and_framework_serves_jobs_and_stops_on_sigterm(served, capsys):
    framework, served = served

    # A job started by the host's async route runs with no request to the face: the lifespan
    # started the worker, or (a mount gets no lifespan) the start wakes it.
    assert worker_count(served.location) == (1 if framework.lifespan else 0)
    hosted = request(served.base, "POST", "/start?seconds=0.1")
    assert hosted.status in (200, 201), hosted
    hosted_id = hosted.json()["id"]
    wait_for(lambda: state(served.location, hosted_id) == "succeeded", timeout=10, what="the host's job ran")

    # Started over HTTP and followed to the end by long-poll, then by event stream.
    job, seen = follow(served, start_over_http(served, "steps", 4, delay=0.05), FINISHED)
    assert (job["state"], job["result"]) == ("succeeded", {"imported": 4}), job
    assert seen[0] == "queued" and len(seen) >= 3, seen
    with events(served, start_over_http(served, "steps", 4, delay=0.05)["id"]) as stream:
        data = data_lines(stream)
    assert len(data) >= 2 and '"state": "succeeded"' in data[-1], data

    # Canceled while it runs.
    job, _ = follow(served, start_over_http(served, "sleepy", 30), {"running"})
    canceled = post_json(served.base, f"{served.mount}/{job['id']}/cancel")
    assert canceled.status == 202, canceled
    assert follow(served, canceled.json(), FINISHED)[0]["state"] == "canceled"

    # SIGTERM with a job running and its event stream open.
    job, _ = follow(served, start_over_http(served, "sleepy", 1), {"running"})
    with events(served, job["id"]) as stream:
        reader = threading.Thread(target=data_lines, args=(stream,), daemon=True)
        reader.start()
        began = time.monotonic()
        served.server.process.send_signal(signal.SIGTERM)
        served.server.process.wait(EXIT_WITHIN * 3)
        exited_in = time.monotonic() - began
        reader.join(5)
    with capsys.disabled():
        print(f"\n{served.name:16} {framework.target:45} started in"
              f" {served.started_in:4.1f} s, exit {exited_in:4.2f} s after SIGTERM,"
              f" the job {state(served.location, job['id'])}")
    assert exited_in < EXIT_WITHIN, f"{exited_in:.1f} s to exit"
    assert state(served.location, job["id"]) in ("succeeded", "queued")
    # granian's workers are multiprocessing children, which leave without running atexit: there
    # a mount's worker (no lifespan) is stopped by multiprocessing's own finalizers
    assert worker_count(served.location) == 0, "the embedded worker stopped and unregistered"
