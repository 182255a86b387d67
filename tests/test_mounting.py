"""The mounting examples in demo/ work as written: each host app is served on a real port, a job
started through its /jobs/ runs on a real worker (``python -m lilqueue worker demo.<example>:queue``)
and is long-polled to its result, and the host's own routes still answer, untouched."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path

import pytest

from tests.conftest import ROOT, wait_for, worker_count
from tests.django_support import demo_server
from tests.http_support import request, running


def need(module: str):
    """Import a framework the example needs: skip without it, fail under CI=true."""
    try:
        return importlib.import_module(module)
    except ImportError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"{module} is not installed")


def load(module: str, db_path: str, monkeypatch):
    """Import an example fresh, on the test's database: every module of the example's package is
    imported again (an example's module may import another of its package, whose queue must
    not be the one an earlier test opened on its own database)."""
    monkeypatch.setenv("DEMO_DB", db_path)
    package = ".".join(module.split(".")[:2])  # demo.mount_flask, ...
    for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        del sys.modules[name]
    return importlib.import_module(module)


@pytest.fixture
def example_worker(db_path: str, tmp_path: Path):
    """A real worker on an example's queue: ``example_worker("demo.mount_flask:queue")``."""
    started: list[tuple[subprocess.Popen, object]] = []

    def start(spec: str) -> subprocess.Popen:
        log = open(tmp_path / "worker.log", "ab")
        env = dict(os.environ, DEMO_DB=db_path, PYTHONUNBUFFERED="1")
        process = subprocess.Popen([sys.executable, "-m", "lilqueue", "worker", spec, "--threads", "1"],
                                   cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        started.append((process, log))
        wait_for(lambda: process.poll() is not None or worker_count(db_path) > 0, timeout=20, interval=0.05)
        assert process.poll() is None, (tmp_path / "worker.log").read_text()
        return process

    yield start
    for process, log in started:
        process.terminate()
        process.wait(15)
        log.close()


class Uvicorn:
    """An ASGI app on uvicorn, in a thread, on a socket we bound ourselves."""

    def __init__(self, app) -> None:
        uvicorn = need("uvicorn")

        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve(sockets=[self.socket])),
                                       daemon=True)
        self.thread.start()
        wait_for(lambda: self.server.started, timeout=10)

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.socket.close()


def http(method: str, url: str, body: dict | None = None) -> tuple[int, Message, bytes]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers, error.read()


def run_a_job(base: str) -> dict:
    """Start word_count through the mounted endpoints and long-poll it to its end."""
    status, headers, body = http("POST", f"{base}/jobs/", {"task": "word_count", "args": ["one two three"]})
    assert status == 202, body
    job = json.loads(body)
    assert headers["Location"].endswith(f"/jobs/{job['id']}")
    polls = 0
    while job["state"] not in ("succeeded", "failed", "canceled"):
        status, _, body = http("GET", f"{base}/jobs/{job['id']}?since={job['version']}&wait=10")
        assert status == 200, body
        job = json.loads(body)
        polls += 1
        assert polls < 20
    return job


def check_host_untouched(base: str, greeting: bytes) -> None:
    status, headers, body = http("GET", f"{base}/")
    assert status == 200 and greeting in body
    assert "problem" not in headers.get("Content-Type", "")
    status, headers, _ = http("GET", f"{base}/jobsearch")  # shares the prefix's letters, not its path
    assert status == 404 and "problem" not in headers.get("Content-Type", "")


def check_jobs_run(base: str, greeting: bytes) -> None:
    job = run_a_job(base)
    assert (job["state"], job["result"], job["task"]) == ("succeeded", 3, "word_count")
    status, headers, body = http("GET", f"{base}/jobs/static/lilqueue.js")
    assert status == 200 and b"export async function watch" in body
    check_host_untouched(base, greeting)


def test_a_flask_app_with_the_middleware_runs_jobs_and_keeps_its_own_routes(db_path, monkeypatch, example_worker):
    need("flask")
    example = load("demo.mount_flask", db_path, monkeypatch)
    example_worker("demo.mount_flask:queue")
    with running(example.app) as base:
        check_jobs_run(base, b"Hello from Flask")


def test_a_bottle_app_with_the_middleware_mounted_runs_jobs_and_keeps_its_own_routes(
        db_path, monkeypatch, example_worker):
    example = load("demo.mount_bottle", db_path, monkeypatch)
    example_worker("demo.mount_bottle:queue")
    with running(example.app) as base:
        check_jobs_run(base, b"Hello from Bottle")


def test_the_django_demo_runs_with_one_command_and_imports_books_in_a_job(tmp_path):
    """demo/django_project: migrate folded into runserver, the worker inside the web process."""
    need("django")
    server = demo_server(tmp_path)
    try:
        base = server.wait_ready("/")
        page = request(base, "GET", "/")
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.body).group(1).decode()
        cookie = page.headers["Set-Cookie"].split(";")[0]
        posted = request(base, "POST", "/", f"titles=Dune%0AEmma%0ADune&csrfmiddlewaretoken={token}",
                         {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
        job_id = posted.headers["Location"].rsplit("/", 1)[1]
        job = wait_for(lambda: (j := request(base, "GET", f"/jobs/{job_id}").json())["state"] == "succeeded" and j,
                       timeout=20, what="the import finished")
        assert (job["result"], [line["message"] for line in job["logs"]]) == ({"added": 2, "skipped": 1},
                                                                               ["already there: Dune"])
        assert b"<li>Dune</li><li>Emma</li>" in request(base, "GET", "/").body
    finally:
        server.stop()
    assert (tmp_path / "lilqueue.sqlite3").exists()  # beside Django's database, as lilqueue.django chooses


def test_a_fastapi_app_wrapped_by_the_asgi_face_runs_jobs_from_its_async_route_and_keeps_its_own_routes(
        db_path, monkeypatch, example_worker):
    for module in ("fastapi", "uvicorn"):
        need(module)
    example = load("demo.mount_fastapi", db_path, monkeypatch)
    example_worker("demo.mount_fastapi:queue")
    server = Uvicorn(example.app)
    try:
        check_jobs_run(server.url, b"from FastAPI")
        status, _, body = http("POST", f"{server.url}/count?text=one%20two")
        assert status == 200, body
        started = json.loads(body)
        assert started["url"] == f"/jobs/{started['id']}"
        job = wait_for(lambda: (j := json.loads(http("GET", server.url + started["url"])[2]))["state"] == "succeeded"
                       and j, timeout=20, what="the job started by the async route finished")
        assert job["result"] == 2
    finally:
        server.close()
