"""``queue.middleware(app, worker=True)``: one worker inside every process that serves the
app, started by its first request or its first start of a job (a face mounted under a path sees
no host request), gone (its jobs handed back) when the process stops. Real gunicorn, flask
(werkzeug's reloader), ``lilqueue serve``, worker and script processes on 127.0.0.1."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests import engines
from tests.conftest import ROOT, wait_for, worker_count
from tests.http_support import post_json, request, running


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """A web server process in its own session, logging to a file; ``base`` once it listens."""

    def __init__(self, command: list[str], db_path: str, log: Path, port: int | None = None, **env: str) -> None:
        self.log = log
        self._out = open(log, "ab")
        env = dict(os.environ, LILQUEUE_TEST_DB=db_path, PYTHONUNBUFFERED="1", **env)
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self._out, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        self.base = f"http://127.0.0.1:{port}" if port else ""
        try:
            if port:
                wait_for(self._listening, timeout=20, what=f"{command[0]} listening")
            else:  # lilqueue serve --port 0 prints where it listens
                found = wait_for(lambda: self._alive() and re.search(r"http://127\.0\.0\.1:\d+", self.output()),
                                 timeout=20, what="lilqueue serve printing its URL")
                self.base = found.group(0)
        except BaseException as exc:  # never leave a server behind that did not start
            self.kill()
            self._out.close()
            if isinstance(exc, AssertionError) and "server exited" not in str(exc):
                raise AssertionError(f"{exc}:\n{self.output()}") from None
            raise

    def _alive(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"server exited with {self.process.returncode}:\n{self.output()}")
        return True

    def _listening(self) -> bool:
        self._alive()
        try:
            return request(self.base, "GET", "/hello", timeout=2).status == 200
        except OSError:
            return False

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def output(self) -> str:
        if not self._out.closed:
            self._out.flush()
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
            raise AssertionError(f"server did not stop on SIGTERM:\n{self.output()}") from None
        finally:
            self._out.close()


@pytest.fixture
def servers(db_path, queue, tmp_path):
    started: list[Server] = []

    def start(*command: str, port: int | None = None, **env: str) -> Server:
        server = Server(list(command), db_path, tmp_path / f"server-{len(started)}.log", port, **env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill()
        server._out.close()


def worker_pids(db_path: str) -> set[int]:
    return {pid for (pid,) in engines.sql(db_path, "select pid from lilqueue_worker")}


def runs(db_path: str) -> list[list[str]]:
    path = Path(engines.side_file(db_path, ".runs"))
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


def test_the_first_request_starts_the_worker_and_close_stops_it(queue, db_path):
    middleware = queue.middleware(worker=1)
    assert worker_count(db_path) == 0  # nothing starts before a request
    with running(middleware) as base:
        job = post_json(base, "/jobs/", {"task": "add", "args": [2, 3]}).json()
        assert worker_pids(db_path) == {os.getpid()}
        wait_for(lambda: queue.get(job["id"]).state == "succeeded", what="the job run in this process")
        assert queue.get(job["id"]).result == 5
    assert worker_count(db_path) == 0  # the server's close stopped it


def call(app, path: str) -> int:
    """One request straight into the WSGI callable; returns the status code."""
    statuses = []
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "SCRIPT_NAME": "", "QUERY_STRING": "",
               "SERVER_NAME": "test", "SERVER_PORT": "80", "wsgi.input": None, "wsgi.url_scheme": "http"}
    b"".join(app(environ, lambda status, headers, exc_info=None: statuses.append(status)))
    return int(statuses[0].split()[0])


def test_a_process_forked_after_its_worker_started_starts_its_own(queue, db_path):
    middleware = queue.middleware(worker=1)
    assert call(middleware, "/jobs/tasks") == 200
    # Fork once the parent's worker sleeps: a fork while one of its threads is inside SQLite
    # (its startup's writes) copies SQLite's locked mutex into the child, which then hangs at
    # its first connection (docs/http.md says so). Servers fork before any worker starts.
    wait_for(lambda: os.getpid() in worker_pids(db_path), what="the parent's worker")
    time.sleep(0.3)
    began = time.monotonic()
    child = os.fork()
    if child == 0:  # the forked process: only this thread survived, the parent's worker did not
        code = 1
        try:
            call(middleware, "/jobs/tasks")
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and os.getpid() not in worker_pids(db_path):
                time.sleep(0.02)
            code = 0 if os.getpid() in worker_pids(db_path) else 1
            middleware.close()
        finally:
            os._exit(code)
    status = None
    while status is None and time.monotonic() - began < 20:
        done, code = os.waitpid(child, os.WNOHANG)
        if done:
            status = code
        else:
            time.sleep(0.05)
    if status is None:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
    middleware.close()
    assert status is not None, "the forked process hung"
    assert os.waitstatus_to_exitcode(status) == 0, "the forked process started no worker of its own"
    # ... on connections of its own: one inherited from the parent's pool waits out busy_timeout
    assert time.monotonic() - began < 5


@pytest.mark.parametrize("preload", [False, True], ids=["fork-then-import", "preload"])
def test_each_gunicorn_process_runs_one_worker_and_no_job_runs_twice(servers, queue, db_path, preload):
    port = free_port()
    server = servers(sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}",
                     *(["--preload"] if preload else []), "tests.apps.embedded:app", port=port)
    pids: set[int] = set()
    for _ in range(10):  # a sync worker serves one request at a time: two at once reach both
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda _: request(server.base, "GET", "/slow"), range(4)))
        pids |= {int(answer.body.split()[-1]) for answer in answers}
        if len(pids) == 2:
            break
    assert len(pids) == 2, "both gunicorn workers answered"
    wait_for(lambda: worker_pids(db_path) == pids, what=f"one lilqueue worker in each of {pids}")
    jobs = [queue.start("recorded", [0.02]) for _ in range(40)]
    wait_for(lambda: all(queue.get(job.id).state == "succeeded" for job in jobs), timeout=30, what="all jobs")
    starts = [line[0] for line in runs(db_path) if line[2] == "start"]
    assert sorted(starts) == sorted(job.id for job in jobs)  # each ran once
    long = queue.start("recorded", [60])
    wait_for(lambda: queue.get(long.id).state == "running", what="the long job running")
    began = time.monotonic()
    server.stop()
    assert time.monotonic() - began < 15
    assert queue.get(long.id).state == "queued", server.output()  # handed back, not lost
    assert worker_count(db_path) == 0


def test_a_process_without_a_sigterm_handler_hands_its_jobs_back_and_still_dies_of_the_signal(servers, queue,
                                                                                               db_path):
    server = servers(sys.executable, "-m", "lilqueue", "serve", "tests.tasks:queue", "--port", "0", "--worker", "1")
    job = queue.start("recorded", [60])
    wait_for(lambda: queue.get(job.id).state == "running", what="the job running in the web process")
    assert worker_pids(db_path) == {server.process.pid}
    assert server.stop() == -signal.SIGTERM
    assert queue.get(job.id).state == "queued", server.output()
    assert worker_count(db_path) == 0


def test_the_werkzeug_reloader_runs_the_worker_in_its_serving_child_only(servers, db_path):
    port = free_port()
    server = servers(sys.executable, "-m", "flask", "--app", "tests.apps.embedded", "run", "--reload",
                     "--port", str(port), port=port)
    child = int(request(server.base, "GET", "/hello").body.split()[-1])
    assert child != server.process.pid  # the reloader's parent serves nothing
    wait_for(lambda: worker_pids(db_path) == {child}, what="the worker in the serving child")
    time.sleep(0.5)
    assert worker_pids(db_path) == {child}


@pytest.mark.parametrize("workers", [["-w", "1"], ["--preload", "-w", "2"]], ids=["one", "preload-two"])
def test_a_job_a_host_route_starts_runs_without_any_request_to_the_mounted_face(servers, queue, db_path, workers):
    port = free_port()
    server = servers(sys.executable, "-m", "gunicorn", *workers, "-b", f"127.0.0.1:{port}",
                     "tests.apps.mounted:app", port=port)
    assert worker_count(db_path) == 0  # serving the host's /hello started none
    job_id, pid = request(server.base, "POST", "/add").body.decode().split()
    done = wait_for(lambda: (job := queue.get(job_id)).finished and job, timeout=5, what="the job run")
    assert (done.state, done.result) == ("succeeded", 5), server.output()
    assert worker_pids(db_path) == {int(pid)}  # in the process that started it, and there only


def test_a_process_that_only_imports_an_app_with_a_worker_starts_none(db_path, queue):
    env = dict(os.environ, LILQUEUE_TEST_DB=db_path)
    script = subprocess.Popen([sys.executable, "-c", "import time, tests.apps.mounted; print('imported', flush=True);"
                               " time.sleep(60)"], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert script.stdout.readline() == "imported\n"
        time.sleep(0.5)  # a worker registers within milliseconds of its start
        assert worker_count(db_path) == 0
    finally:
        script.kill()
        script.wait(10)
        script.stdout.close()


def test_a_script_that_starts_a_job_runs_it_in_its_own_worker_until_it_exits(db_path, queue):
    script = ("import os, tests.apps.mounted as app\n"
              "job = app.queue.start('add', [2, 3])\n"
              "print(app.queue.wait(job.id, timeout=10).state, os.getpid() in\n"
              "      {w['pid'] for w in app.queue.workers()})\n")
    env = dict(os.environ, LILQUEUE_TEST_DB=db_path)
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=30)
    assert out.stdout.split() == ["succeeded", "True"], out.stderr
    assert worker_count(db_path) == 0  # stopped at its exit


def starts_add(a: int, b: int) -> str:
    """The signature of tests.apps.mounted's task of this name, for the test's queue to start it."""
    raise NotImplementedError


def test_a_job_started_by_a_job_wakes_no_second_worker_in_a_worker_that_imported_the_app(start_worker, queue,
                                                                                          db_path):
    queue.task(name="starts_add")(starts_add)
    worker = start_worker(1, target="tests.apps.mounted:queue")
    parent = queue.start("starts_add", [2, 3])
    child = wait_for(lambda: queue.get(parent.id).result, what="the job that starts a job")
    assert queue.wait(child, timeout=5).state == "succeeded"
    assert worker_count(db_path) == 1, worker.output()  # the separate worker, none inside it


def test_a_start_in_immediate_mode_wakes_no_worker(queue, db_path):
    queue.immediate = True
    middleware = queue.middleware(worker=1)
    try:
        assert queue.start("add", [2, 3]).result == 5  # run within the start, by no worker
        assert middleware.embedded.worker is None
    finally:
        middleware.close()
        queue.immediate = False
    assert worker_count(db_path) == 0


def test_a_start_wakes_the_worker_but_not_after_close_while_a_request_still_does(queue, db_path):
    middleware = queue.middleware(worker=1)
    try:
        assert queue.wait(queue.start("add", [2, 3]).id, timeout=5).state == "succeeded"
        assert worker_pids(db_path) == {os.getpid()}
        middleware.close()
        late = queue.start("add", [2, 3])  # a start after a shutdown began must not undo it
        time.sleep(0.3)
        assert worker_count(db_path) == 0
        assert queue.get(late.id).state == "queued"
        assert call(middleware, "/jobs/tasks") == 200
        assert queue.wait(late.id, timeout=5).state == "succeeded"
    finally:
        middleware.close()
