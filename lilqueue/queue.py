"""``Queue``: the one object an app creates. It owns the SQLite file, the Huey instance on it,
the registry of tasks, and the operations on jobs."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from .errors import ConfigurationError, InvalidArguments, UnknownTask
from .job import KEY_LIMIT, Job, Progress, new_id
from .settings import QUEUE, WORKER
from .states import QUEUED
from .store import NewJob, Store, open_store
from .task import TASK_OPTIONS, Task, check_options

if TYPE_CHECKING:
    from .worker import Worker


class Queue:
    """Background jobs on one SQLite file.

        queue = lilqueue.Queue("app.db")

        @queue.task()
        def import_csv(path): ...

        job = import_csv.start("data.csv")

    ``heartbeat_timeout``: seconds after which a silent worker's running jobs are taken back.
    ``retention``: how long finished jobs are kept (seconds or a timedelta).
    ``max_logs``: log lines kept per job (the newest; older ones are counted as dropped).
    ``progress_interval``: at most one progress write per job per this many seconds.
    ``synchronous``: ``"full"`` (SQLite's default: a commit survives power loss) or
    ``"normal"`` (a commit survives a crash of the process, not of the machine; faster).
    """

    def __init__(self, path: str | os.PathLike = "lilqueue.db", *, name: str = "lilqueue",
                 heartbeat_timeout: float = QUEUE.heartbeat_timeout,
                 retention: float | timedelta = QUEUE.retention, max_logs: int = QUEUE.max_logs,
                 progress_interval: float = QUEUE.progress_interval, synchronous: str = QUEUE.synchronous,
                 busy_timeout: float = QUEUE.busy_timeout) -> None:
        if isinstance(retention, timedelta):
            retention = retention.total_seconds()
        self.path = os.fspath(path)
        self.name = name
        self.heartbeat_timeout = QUEUE.check("heartbeat_timeout", heartbeat_timeout)
        self.retention = QUEUE.check("retention", retention)
        self.max_logs = QUEUE.check("max_logs", max_logs)
        self.progress_interval = QUEUE.check("progress_interval", progress_interval)
        self.synchronous = QUEUE.check("synchronous", synchronous)
        self.busy_timeout = QUEUE.check("busy_timeout", busy_timeout)
        self.tasks: dict[str, Task] = {}
        self.store: Store = open_store(self.path, name=name, synchronous=self.synchronous,
                                       busy_timeout=self.busy_timeout, max_logs=self.max_logs,
                                       make_message=self._message, retries_of=self._retries_of)

    @property
    def huey(self) -> Any:
        """The Huey instance whose storage carries this queue's messages."""
        return self.store.huey

    @property
    def database(self) -> Any:
        """The peewee database (per-thread, pooled connections) holding the jobs."""
        return self.store.database

    @property
    def options(self) -> dict[str, Any]:
        """The keyword arguments that build this queue again (an isolated job's child does)."""
        return {"path": self.store.location, "name": self.name,
                **{option: getattr(self, option) for option in QUEUE}}

    def task(self, name: str | Callable | None = None, *, retries: int = 0, retry_delay: float = 0,
             timeout: float | None = None, isolate: bool = False, **unknown: Any) -> Any:
        """Register a function as a task; only registered tasks can be started.

        Use as ``@queue.task``, ``@queue.task()`` or ``@queue.task(name="import", retries=2)``.
        ``timeout`` (seconds) and ``isolate=True`` run each job in a child process that a
        cancel or the timeout can stop even if the task never checks.
        """
        if unknown:
            raise ConfigurationError(f"unknown task option(s): {', '.join(sorted(unknown))}"
                                     f" (options: {', '.join(TASK_OPTIONS)})")
        if callable(name):
            return self.task()(name)

        def decorate(func: Callable) -> Task:
            task_name = check_options(name, func, retries, retry_delay, timeout, isolate)
            if task_name in self.tasks:
                raise ConfigurationError(f"a task named {task_name!r} is already registered")
            task = Task(self, func, task_name, retries=retries, retry_delay=retry_delay,
                        timeout=timeout, isolate=isolate)
            self.tasks[task_name] = task
            return task

        return decorate

    def start(self, task: str | Task, args: Iterable[Any] = (), kwargs: dict[str, Any] | None = None,
              *, key: str | None = None, owner: str | None = None) -> Job:
        """Start a registered task by name; returns the job at once.

        With ``key``, a job with the same key that is still queued or running is returned
        instead of starting a second one. ``owner`` is stored with the job (the web layer
        records who started it).
        """
        new = self._new_job(task, args, kwargs, key, owner, time.time())
        existing = self.store.insert(new)
        return existing if existing is not None else new.job

    def start_many(self, task: str | Task, arguments: Iterable[Iterable[Any]]) -> list[Job]:
        """Start one job per argument list, all in one transaction."""
        now = time.time()
        new = [self._new_job(task, args, None, None, None, now) for args in arguments]
        if new:
            self.store.insert_many(new)
        return [n.job for n in new]

    def get(self, job_id: str) -> Job:
        """The job as it is now; raises JobNotFound for an unknown id."""
        return self.store.get(job_id)

    def cancel(self, job_id: str) -> Job:
        """Cancel a queued job (it never runs) or ask a running one to stop.

        Raises JobNotFound, or JobFinished if the job already ended."""
        return self.store.cancel(job_id, time.time())

    def wait(self, job_id: str, timeout: float | None = None, interval: float = 0.01) -> Job:
        """Block until the job is finished (or ``timeout`` passes) and return it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        job = self.get(job_id)
        while not job.finished and (deadline is None or time.monotonic() < deadline):
            time.sleep(interval)
            job = self.get(job_id)
        return job

    def worker(self, threads: int = WORKER.threads, grace: float = WORKER.grace,
               poll_interval: float = WORKER.poll_interval) -> Worker:
        """A worker for this queue; ``.run()`` blocks, ``.start()`` runs it in the background.
        ``poll_interval``: how often an idle worker looks for commits (pickup delay vs idle CPU)."""
        from .worker import Worker
        return Worker(self, threads=threads, grace=grace, poll_interval=poll_interval)

    def middleware(self, app: Any = None, prefix: str = "/jobs", **options: Any) -> Any:
        """A WSGI callable serving this queue's HTTP endpoints under ``prefix``; other
        requests go to ``app`` untouched. Options: see ``lilqueue.web.Middleware``.

            app.wsgi_app = queue.middleware(app.wsgi_app)   # Flask
        """
        from .web import Middleware
        return Middleware(self, app, prefix, **options)

    def lookup(self, task: str | Task) -> Task:
        """The registered task for a name (or a Task of this queue); raises UnknownTask."""
        if isinstance(task, Task):
            if self.tasks.get(task.name) is not task:
                raise UnknownTask(task.name)
            return task
        found = self.tasks.get(task) if isinstance(task, str) else None
        if found is None:
            raise UnknownTask(task)
        return found

    def _new_job(self, task: str | Task, args: Iterable[Any], kwargs: dict[str, Any] | None,
                 key: str | None, owner: str | None, now: float) -> NewJob:
        registered = self.lookup(task)
        try:
            if isinstance(args, (str, bytes, dict)):
                raise TypeError
            args = list(args)
        except TypeError:
            raise InvalidArguments(registered.name, "args must be a list of positional arguments") from None
        if kwargs is None:
            kwargs = {}
        elif not isinstance(kwargs, dict):
            raise InvalidArguments(registered.name, "kwargs must be a dict")
        if key is not None and (not isinstance(key, str) or not 0 < len(key) <= KEY_LIMIT):
            raise InvalidArguments(registered.name, f"key must be a string of 1 to {KEY_LIMIT} characters")
        if key is not None and not _is_text(key):
            raise InvalidArguments(registered.name, "key must be valid Unicode text (no lone surrogates)")
        args_json, kwargs_json = registered.encode_arguments(args, kwargs)
        # As stored and as the worker will see them (tuples become lists), not the caller's objects.
        args, kwargs = json.loads(args_json), json.loads(kwargs_json)
        job_id = new_id()
        try:
            message = self.huey.serialize_task(self._message(job_id, registered.name, args, kwargs))
        except RecursionError:  # Huey pickles recursively: JSON nests deeper than pickle can go
            raise InvalidArguments(registered.name, "arguments are nested too deeply") from None
        job = Job(id=job_id, task=registered.name, state=QUEUED, version=1, args=args, kwargs=kwargs,
                  key=key, owner=owner, progress=Progress(), logs=(), logs_dropped=0, result=None,
                  error=None, attempts=0, cancel_requested=False,
                  created_at=datetime.fromtimestamp(now, UTC), started_at=None, finished_at=None)
        return NewJob(job, args_json, kwargs_json, message)

    def _message(self, job_id: str, task: str, args: list, kwargs: dict) -> Any:
        """The Huey task instance that carries a job to a worker; its id is the job's id."""
        return self.tasks[task].huey_task.task_class(tuple(args), kwargs, id=job_id)

    def _retries_of(self, task: str) -> int:
        registered = self.tasks.get(task)
        return registered.retries if registered else 0

    def __repr__(self) -> str:
        return f"<Queue {self.path!r} tasks={sorted(self.tasks)}>"


def _is_text(value: str) -> bool:
    """False for a str SQLite cannot store (a lone surrogate, e.g. from JSON's "\\ud800")."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
