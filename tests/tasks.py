"""Tasks the test suite runs on real workers.

A worker process loads them with ``python -m lilqueue worker tests.tasks:queue`` and finds
its database in ``LILQUEUE_TEST_DB``; a test builds its own queue on the same file with
``build(path)``. The functions are plain module-level functions so that isolated children
find them by reference.
"""

from __future__ import annotations

import os
import time
from datetime import date
from typing import Literal, TypedDict

import lilqueue
from tests import engines


def add(a, b):
    return a + b


def noop():
    return None


def unregistered(*args, **kwargs):
    """Never registered: a test of the whitelist fails if this ever runs (it leaves a file)."""
    engines.append_line(".unregistered", "ran")


def steps(n, delay=0.01):
    """Report progress n times and warn on every third step."""
    job = lilqueue.current_job()
    for i in range(1, n + 1):
        job.progress(i, total=n, message=f"step {i}")
        if i % 3 == 0:
            job.log("warning", f"cannot import line {i}")
        time.sleep(delay)
    return {"imported": n}


def fail(message="boom"):
    raise ValueError(message)


def fail_at(current, total):
    """Reports ``current`` of ``total``, then fails: a finished job whose progress stays there."""
    lilqueue.current_job().progress(current, total=total, message=f"line {current}")
    raise ValueError(f"line {current} is broken")


def sleepy(seconds):
    """Sleeps in small slices, checking for cancellation (a cooperative task)."""
    job = lilqueue.current_job()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job.check()
        time.sleep(0.01)
    return "slept"


def spin(seconds):
    """Busy for ``seconds`` without ever checking (only a process kill stops it)."""
    lilqueue.current_job().progress(0, total=1, message="spinning")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pass
    return "spun"


def flaky(failures):
    """Fails on its first ``failures`` attempts."""
    job = lilqueue.current_job()
    if job.attempt <= failures:
        raise RuntimeError(f"attempt {job.attempt} fails")
    return job.attempt


def hang(seconds):
    """Sleeps without checking: a thread task that ignores cancel and shutdown."""
    time.sleep(seconds)
    return "woke"


def hot_loop(n):
    job = lilqueue.current_job()
    for i in range(n):
        job.progress(i + 1, total=n)
    return n


# name -> (function, options)
TASKS = {
    "add": (add, {}),
    "noop": (noop, {}),
    "steps": (steps, {}),
    "fail": (fail, {}),
    "fail_at": (fail_at, {}),
    "sleepy": (sleepy, {}),
    "sleepy_retry": (sleepy, {"retries": 1}),
    "spin": (spin, {"isolate": True}),
    "flaky": (flaky, {"retries": 2, "retry_delay": 0.05}),
    "hang": (hang, {}),
    "timed": (hang, {"timeout": 0.5}),
    "hot_loop": (hot_loop, {}),
}


def build(path, **options) -> lilqueue.Queue:
    options.setdefault("heartbeat_timeout", 2.0)
    queue = lilqueue.Queue(path, **options)
    for name, (func, task_options) in TASKS.items():
        queue.task(name=name, **task_options)(func)
    return queue


def __getattr__(name):
    if name == "queue":
        global queue
        queue = build(os.environ["LILQUEUE_TEST_DB"])
        return queue
    raise AttributeError(name)


# Tasks of the reliability suite (tests/reliability). Each execution appends a line to
# ``<database>.runs`` with O_APPEND, outside SQLite, so a test can count how often each job
# really ran, even across killed workers and isolated children.

def record_run(event):
    job = lilqueue.current_job()
    engines.append_line(".runs", f"{job.id} {job.attempt} {event} {os.getpid()}")


def recorded(seconds):
    """Records its start and end, sleeping cooperatively in between."""
    record_run("start")
    sleepy(seconds)
    record_run("end")
    return lilqueue.current_job().attempt


def show_pid(seconds):
    """Records its start and puts its process id in the progress message (for kill tests);
    sleeps ``seconds`` on the first attempt and briefly on a retry."""
    record_run("start")
    job = lilqueue.current_job()
    job.progress(0, total=1, message=f"pid {os.getpid()}")
    sleepy(seconds if job.attempt == 1 else 0.05)
    record_run("end")
    return os.getpid()


TASKS.update({
    "recorded": (recorded, {}),
    "recorded_retry": (recorded, {"retries": 1}),
    "show_pid": (show_pid, {"isolate": True}),
    "show_pid_retry": (show_pid, {"isolate": True, "retries": 1}),
})


# Tasks that ask to run again (tests/test_retry.py): each attempt logs when it began.

def asks_retry(delay, times):
    """Raises Retry(delay) on its first ``times`` attempts, then returns its attempt number."""
    job = lilqueue.current_job()
    job.log("info", f"attempt {job.attempt} began at {time.time():.6f}")
    if job.attempt <= times:
        raise lilqueue.Retry(delay=delay)
    return job.attempt


def asks_retry_from(message):
    """Asks for a retry, raised from the error that made it necessary."""
    lilqueue.current_job().log("info", f"attempt {lilqueue.current_job().attempt} began at {time.time():.6f}")
    try:
        raise ConnectionError(message)
    except ConnectionError as exc:
        raise lilqueue.Retry(delay=0.05) from exc


TASKS.update({
    "asks_retry": (asks_retry, {"retries": 3}),
    "asks_retry_from": (asks_retry_from, {"retries": 1}),
    "backs_off": (fail, {"retries": 3, "retry_delay": 0.2, "retry_backoff": True, "retry_backoff_max": 0.5}),
})


# A task with limits (tests/test_limits.py): each run records when it held its slot.

def slotted(seconds):
    job = lilqueue.current_job()
    began = time.time()
    time.sleep(seconds)
    engines.append_line(".slots", f"{job.id} {began:.6f} {time.time():.6f}")
    return job.attempt


TASKS.update({
    "slotted": (slotted, {"concurrency": 2}),
    "bounded": (noop, {"max_pending": 3}),
})


# Tasks of the core suite (tests/test_worker.py): ways a task can end badly.

def exits(code):
    """Raises SystemExit, which must end the job, not the worker thread."""
    raise SystemExit(code)


def crash(code):
    """Ends its (isolated) process at once, with no outcome sent back."""
    os._exit(code)


def unserializable():
    return {1, 2}


TASKS.update({
    "exits": (exits, {}),
    "crash": (crash, {"isolate": True}),
    "unserializable": (unserializable, {}),
})


def clock(n, delay=0.25):
    """Report progress n times with the wall-clock time of each call as the message, so a
    client can measure the time from progress() to its screen."""
    job = lilqueue.current_job()
    for i in range(1, n + 1):
        job.progress(i, total=n, message=repr(time.time()))
        time.sleep(delay)
    return n


TASKS["clock"] = (clock, {})


def deaf_then_fail(seconds):
    """Sleeps without checking for cancellation, then fails (a task that never hears a cancel)."""
    time.sleep(seconds)
    raise RuntimeError("failed after sleeping")


TASKS["deaf_then_fail_retry"] = (deaf_then_fail, {"retries": 2})


def progress_when_locked(flag):
    """Waits for the test to lock the database (it creates ``flag``), then reports progress and
    says what that call met: lilqueue.StorageError after the busy timeout, or nothing."""
    while not os.path.exists(flag):
        time.sleep(0.01)
    began = time.monotonic()
    try:
        lilqueue.current_job().progress(1, total=2)
    except lilqueue.StorageError as exc:
        return {"error": type(exc).__name__, "detail": exc.detail, "seconds": time.monotonic() - began}
    return {"error": None, "seconds": time.monotonic() - began}


TASKS["progress_when_locked"] = (progress_when_locked, {})
TASKS["progress_when_locked_isolated"] = (progress_when_locked, {"isolate": True})


# A task with annotations (tests/test_argtypes.py): start() checks the JSON values against them.

class Line(TypedDict):
    sku: str
    quantity: int


def import_rows(count: int = 50, ratio: float = 1.0, label: str | None = None,
                mode: Literal["fast", "safe"] = "fast", lines: list[Line] | None = None, since: date | None = None):
    """Returns what it was given, as the worker got it."""
    return {"count": count, "ratio": ratio, "label": label, "mode": mode, "lines": lines, "since": since}


TASKS["import_rows"] = (import_rows, {})


# Steps of pipelines and children of batches (tests/test_flows.py).

def relay(value, seconds=0.0):
    """Records its start and end, sleeps cooperatively (with progress), returns value + 1."""
    record_run("start")
    job = lilqueue.current_job()
    job.log("info", f"relay {value}")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job.progress(seconds - (deadline - time.monotonic()), total=seconds)
        time.sleep(0.01)
    record_run("end")
    return value + 1


def total(results):
    """A batch's then-task: the sum of its children's results."""
    lilqueue.current_job().log("info", f"{len(results)} results")
    return sum(results)


TASKS.update({
    "relay": (relay, {}),
    "relay_retry": (relay, {"retries": 1}),
    "total": (total, {}),
})
