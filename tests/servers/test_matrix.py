"""The server matrix: lilqueue mounted in a host app, served by each real web server as a
process on 127.0.0.1, with one real worker (``python -m lilqueue worker``) on the same SQLite
file. Eight browsers watch eight jobs the way lilqueue.js does while the host's own route is
timed; the middleware must take only what the server can spare (lilqueue/web/holding.py).

Each job reports progress every 0.1 s for about 3 s, with ``time.time()`` as the message. The
worker starts a second after the watchers, so the jobs first sit queued with nothing to report:
a request held then stays held, and a server that holds more than it can spare starves its host.

One summary line per server is printed (host route p50/p99, progress latency p50 over held
answers, answers held/unheld); docs/deploy.md carries the figures.
"""

from __future__ import annotations

import http.client
import math
import os
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from lilqueue.settings import MIDDLEWARE
from lilqueue.states import FINISHED, SUCCEEDED
from tests import http_support
from tests.http_support import Response, post_json
from tests.servers.harness import ServerProcess, free_port, need

BIN = Path(sys.executable).parent  # the console scripts of this interpreter's environment
PY = sys.executable

ALL, ONE, NONE = "all", "one per process", "none"  # how many waiting requests a server holds

JOBS = 8
# The clock task: progress every 0.25 s for about 3.5 s. Each call comes after the 0.2 s
# progress interval, so each is written at once and the figure is the push, not the throttle
# (calls 0.1 s apart left every other one to the worker's trailing flush, 0.1 s later).
STEPS, DELAY = 14, 0.25
QUIET = 1.0                      # seconds the jobs sit queued before the worker starts
WAIT = MIDDLEWARE.max_wait       # the long-poll's wait, as lilqueue.js sends it
MIN_INTERVAL = 1.0               # lilqueue.js: the least pause when a poll was not held
PING_EVERY = 0.2                 # seconds between requests to the host's route
HOST_P99 = 0.5                   # seconds
PROGRESS_P50 = 0.05              # seconds from progress() to a held watcher
MIN_SAMPLES = 3                  # held answers needed to measure on a server that holds
SSE_BRIEF = 2.0                  # seconds an event stream that is not held may last
SSE_SILENCE = 10.0               # seconds of silence after which a stream is taken for stuck
DEADLINE = 30.0                  # seconds for the whole watch


@dataclass(frozen=True)
class Server:
    """One row of the matrix: how to start the server, and what it must do."""

    name: str
    command: tuple[str, ...]     # "{port}" is replaced
    holds: str                   # ALL, ONE or NONE
    chunked: bool                # decodes chunked request bodies
    needs: tuple[str, ...]
    host_path: str = "/hello"
    env: dict[str, str] = field(default_factory=dict)


FLASK = "tests.servers.flask_app:app"
SERVERS = [
    Server("gunicorn-sync", (f"{BIN}/gunicorn", "--bind", "127.0.0.1:{port}", FLASK),
           NONE, True, ("gunicorn", "flask")),
    Server("gunicorn-gthread", (f"{BIN}/gunicorn", "--threads", "4", "--bind", "127.0.0.1:{port}", FLASK),
           ONE, True, ("gunicorn", "flask")),
    Server("gunicorn-gevent", (f"{BIN}/gunicorn", "-k", "gevent", "--bind", "127.0.0.1:{port}", FLASK),
           ALL, True, ("gunicorn", "flask", "gevent")),
    Server("waitress", (f"{BIN}/waitress-serve", "--listen=127.0.0.1:{port}", FLASK),
           ONE, True, ("waitress", "flask")),
    Server("flask-run", (f"{BIN}/flask", "--app", "tests.servers.flask_app", "run", "--port", "{port}"),
           ALL, True, ("flask",)),
    Server("django-runserver", (PY, "-m", "django", "runserver", "127.0.0.1:{port}", "--noreload"),
           ALL, False, ("django",), env={"DJANGO_SETTINGS_MODULE": "tests.servers.django_site.settings"}),
    Server("uvicorn-a2wsgi", (f"{BIN}/uvicorn", "tests.servers.fastapi_app:app", "--port", "{port}"),
           ONE, True, ("uvicorn", "fastapi", "a2wsgi")),
    # No host app here: another of lilqueue's routes stands for "the rest of the site".
    Server("lilqueue-serve", (PY, "-m", "lilqueue", "serve", "tests.tasks:queue", "--port", "{port}"),
           ALL, True, (), host_path="/jobs/tasks"),
]


@pytest.fixture(params=SERVERS, ids=[s.name for s in SERVERS])
def served(request, queue, db_path: str, tmp_path: Path, start_worker) -> Iterator[tuple[Server, str]]:
    """The server of this row on the test's database (``queue`` made the tables), stopped
    before the test's worker; every log of the test is printed at teardown, which pytest shows
    when the test failed."""
    spec: Server = request.param
    need(*spec.needs)
    port = free_port()
    env = dict(os.environ, LILQUEUE_TEST_DB=db_path, PYTHONUNBUFFERED="1", **spec.env)
    server = ServerProcess([part.format(port=port) for part in spec.command], port, tmp_path / "server.log", env)
    try:
        yield spec, server.wait_ready(spec.host_path)
    finally:
        server.stop()
        for log in sorted(tmp_path.glob("*.log")):
            print(f"----- {log.name}\n{log.read_text(errors='replace')}")


@dataclass
class Answer:
    """One long-poll answer as a watcher saw it (times from time.time())."""

    sent: float
    received: float
    status: int
    retry_after: float | None
    job: dict[str, Any] | None

    @property
    def held(self) -> bool:
        """Answered without a Retry-After: the server held it, or the job had moved on already."""
        return self.status == 200 and self.retry_after is None

    def pushed(self) -> float | None:
        """Seconds from progress() in the task to this watcher, for an answer the server held
        until that progress came (it was reported after the request left); else None."""
        if not self.held or self.job["state"] != "running":
            return None
        try:
            reported = float(self.job["progress"]["message"])
        except (TypeError, ValueError):
            return None
        return self.received - reported if reported > self.sent else None


def watch(base: str, job: dict[str, Any], deadline: float) -> list[Answer]:
    """Follow a job as lilqueue.js's watch() does, until it finishes; every answer is kept."""
    answers: list[Answer] = []
    while job["state"] not in FINISHED and time.monotonic() < deadline:
        path = f"/jobs/{job['id']}?since={job['version']}&wait={WAIT}"
        sent = time.time()
        response = http_support.request(base, "GET", path, timeout=WAIT + 5)
        retry = response.headers.get("Retry-After")
        answer = Answer(sent, time.time(), response.status, float(retry) if retry else None,
                        response.json() if response.status == 200 else None)
        answers.append(answer)
        if answer.status in (429, 503):
            time.sleep(answer.retry_after or MIN_INTERVAL)
            continue
        if answer.status != 200:
            break  # lilqueue.js gives up on it; the test reports it
        changed, job = answer.job["version"] != job["version"], answer.job
        if job["state"] in FINISHED:
            break
        if answer.retry_after is not None:
            time.sleep(max(answer.retry_after, MIN_INTERVAL))  # not held: the server asks for a pause
        elif not changed and answer.received - sent < MIN_INTERVAL:
            time.sleep(MIN_INTERVAL)
    return answers


def ping(base: str, path: str, stop: threading.Event) -> list[tuple[float, int]]:
    """Request the host's route every PING_EVERY seconds until ``stop``: (seconds, status) each."""
    timings = []
    while not stop.is_set():
        began = time.monotonic()
        status = http_support.request(base, "GET", path, timeout=30).status
        took = time.monotonic() - began
        timings.append((took, status))
        stop.wait(max(0.0, PING_EVERY - took))
    return timings


@dataclass
class Stream:
    """What a reader of one event stream saw."""

    status: int
    content_type: str
    retry: list[int]
    events: list[str]          # the data lines
    seconds: float
    ended: bool                # the server ended it (not our read timeout)


def read_events(base: str, job_id: str, silence: float) -> Stream:
    """GET /jobs/{id}/events and read the stream to its end, or until ``silence`` seconds pass
    without a byte (the stream's heartbeat comes every 15 s)."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=silence)
    began = time.monotonic()
    try:
        conn.request("GET", f"/jobs/{job_id}/events")
        response = conn.getresponse()
        retry, events, ended = [], [], True
        try:
            for raw in response:
                line = raw.decode().rstrip("\r\n")
                if line.startswith("retry:"):
                    retry.append(int(line[6:]))
                elif line.startswith("data:"):
                    events.append(line[5:].strip())
        except TimeoutError:
            ended = False
        return Stream(response.status, response.headers.get("Content-Type", ""), retry, events,
                      time.monotonic() - began, ended)
    finally:
        conn.close()


def post_chunked(base: str, body: bytes) -> Response:
    """POST /jobs/ with Transfer-Encoding: chunked (two chunks) and no Content-Length, sent in
    one write with its headers: a server that refuses it (411) before reading the body may
    close at once, and a chunk written after that met a broken pipe."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in (body[:7], body[7:])) + b"0\r\n\r\n"
    try:
        conn.request("POST", "/jobs/", body=chunked,
                     headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
        answer = conn.getresponse()
        return Response(answer.status, answer.headers, answer.read())
    finally:
        conn.close()


def last_seen(answers: list[Answer]) -> str | int | None:
    """The state in a watcher's last answer, or that answer's status when it was an error."""
    if not answers:
        return None
    return answers[-1].job["state"] if answers[-1].job else answers[-1].status


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def summary(name: str, host: list[float], pushed: list[float], held: int, unheld: int) -> str:
    """One line of figures for docs/deploy.md."""
    progress = f"{percentile(pushed, 0.5) * 1000:.0f} ms (n={len(pushed)})" if pushed else "- (n=0)"
    return (f"{name:17} host p50 {percentile(host, 0.5) * 1000:4.0f} ms  p99 {percentile(host, 0.99) * 1000:5.0f} ms"
            f" | held progress p50 {progress:14} | answers held {held:3} unheld {unheld:3}")


def watch_eight_jobs(base: str, host_path: str, start_worker) -> tuple[list, list[list[Answer]], Stream]:
    """Start the jobs, then watch them with eight browsers, time the host's route, read one
    job's event stream, and start the worker after QUIET seconds; return what each saw."""
    jobs = []
    for _ in range(JOBS):
        started = post_json(base, "/jobs/", {"task": "clock", "args": [STEPS], "kwargs": {"delay": DELAY}})
        assert started.status == 202, started
        jobs.append(started.json())
    assert all(job["no_worker"] is True for job in jobs), "no worker runs yet"
    deadline = time.monotonic() + DEADLINE
    stop = threading.Event()
    with ThreadPoolExecutor(JOBS + 2) as pool:
        pinging = pool.submit(ping, base, host_path, stop)
        watching = [pool.submit(watch, base, job, deadline) for job in jobs]
        time.sleep(QUIET / 2)  # the watchers wait: a pool server's one hold is taken
        streaming = pool.submit(read_events, base, jobs[0]["id"], SSE_SILENCE)
        time.sleep(QUIET / 2)
        start_worker(threads=JOBS, wait=False)
        try:
            watched = [w.result() for w in watching]
        finally:
            stop.set()
        return pinging.result(), watched, streaming.result()


def test_each_server_keeps_the_host_responsive_while_eight_browsers_watch_jobs(served, start_worker, capsys):
    spec, base = served
    pings, watched, stream = watch_eight_jobs(base, spec.host_path, start_worker)
    chunked = post_chunked(base, b'{"task": "add", "args": [1, 2]}')

    host = [seconds for seconds, _ in pings]
    answers = [a for per_job in watched for a in per_job]
    unfinished = [a for a in answers if a.job is None or a.job["state"] not in FINISHED]  # all but the last
    pushed = [s for s in (a.pushed() for a in answers) if s is not None]
    unheld = sum(a.retry_after is not None for a in unfinished)
    with capsys.disabled():
        print("\n" + summary(spec.name, host, pushed, sum(a.held for a in unfinished), unheld))

    assert {status for _, status in pings} == {200}
    assert percentile(host, 0.99) <= HOST_P99, f"host route p99 {percentile(host, 0.99):.2f} s: {sorted(host)}"
    assert [last_seen(per_job) for per_job in watched] == [SUCCEEDED] * JOBS, "every watcher saw its job succeed"
    assert stream.status == 200 and stream.content_type.startswith("text/event-stream"), stream
    assert stream.retry and stream.events and stream.ended, stream
    if spec.holds == NONE:
        assert unheld == len(unfinished), f"{len(unfinished) - unheld} of {len(unfinished)} answers on unfinished" \
                                          " jobs came without Retry-After"
        assert max(a.received - a.sent for a in answers) <= HOST_P99, "a long-poll was held"
        assert min(stream.retry) >= 1000 and stream.seconds <= SSE_BRIEF, stream
    else:
        assert len(pushed) >= MIN_SAMPLES, f"only {len(pushed)} held answers brought progress"
        assert percentile(pushed, 0.5) <= PROGRESS_P50, sorted(pushed)
    if spec.holds == ALL:
        assert unheld == 0, f"{unheld} long-poll answers were not held"
        assert '"state": "succeeded"' in stream.events[-1], "the held event stream followed the job to its end"
    if spec.holds == ONE:
        assert unheld > 0, "a pool server held every long-poll"
    if spec.chunked:
        assert chunked.status == 202 and chunked.json()["task"] == "add", chunked
    else:  # never a 500: a problem that says what to send instead
        assert chunked.status == 411, chunked
        assert chunked.headers["Content-Type"] == "application/problem+json", chunked
        assert chunked.json()["status"] == 411
