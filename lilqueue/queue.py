"""``Queue``: the one object an app creates. It owns the database (a SQLite file, or PostgreSQL),
the Huey instance on it, the registry of tasks, and the operations on jobs."""

from __future__ import annotations

import inspect
import json
import os
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

from . import runat
from .cron import Cron
from .errors import ConfigurationError, InvalidArguments, UnknownTask
from .flows import Flows, Pipeline, check_name, refuse_pipeline
from .immediate import Immediate, teach
from .job import ID_PATTERN, KEY_LIMIT, Job, Progress, new_id
from .operators import Operators
from .settings import QUEUE, WORKER
from .states import QUEUED
from .store import NewJob, Rules, Store, open_store
from .task import TASK_OPTIONS, Task, check_options, check_priority

if TYPE_CHECKING:
    from .worker import Worker

class Queue(Operators, Flows):
    """Background jobs on one SQLite file, or on PostgreSQL once one machine is not enough.

        queue = lilqueue.Queue("app.db")
        queue = lilqueue.Queue("postgresql://app@db.internal:5432/app?schema=jobs")

        @queue.task()
        def import_csv(path): ...

        job = import_csv.start("data.csv")

    ``heartbeat_timeout``: seconds after which a silent worker's running jobs are taken back.
    ``retention``: how long finished jobs are kept (seconds or a timedelta).
    ``max_logs``: log lines kept per job (the newest; older ones are counted as dropped).
    ``progress_interval``: at most one progress write per job per this many seconds.
    ``synchronous``: ``"full"`` (SQLite's default: a commit survives power loss) or
    ``"normal"`` (a commit survives a crash of the process, not of the machine; faster). On
    PostgreSQL "normal" is ``synchronous_commit = off``.
    ``busy_timeout``: seconds a write waits for a lock (PostgreSQL: ``lock_timeout``).
    ``immediate``: start immediate mode at once (see the ``immediate`` property); the queue's
    own database is then not opened until immediate mode ends.
    ``around_job``: a module-level function returning a context manager that workers enter
    around each job (in the job's child process too, before the task's module is imported),
    as a web framework wraps each request: ``lilqueue.django`` closes stale database
    connections with it, and sets Django up in a child.
    """

    def __init__(self, path: str | os.PathLike = "lilqueue.db", *, name: str = "lilqueue",
                 heartbeat_timeout: float = QUEUE.heartbeat_timeout,
                 retention: float | timedelta = QUEUE.retention, max_logs: int = QUEUE.max_logs,
                 progress_interval: float = QUEUE.progress_interval, synchronous: str = QUEUE.synchronous,
                 busy_timeout: float = QUEUE.busy_timeout, immediate: bool = False,
                 around_job: Callable[[], AbstractContextManager] | None = None) -> None:
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
        if around_job is not None and (not callable(around_job) or "<" in getattr(around_job, "__qualname__", "<")):
            raise ConfigurationError("around_job must be a module-level function (a job's child process imports"
                                     f" it by name), not {around_job!r}")
        self.around_job = around_job
        self.tasks: dict[str, Task] = {}
        self.pipelines: dict[str, Pipeline] = {}  # registered by name (``queue.pipeline``)
        self._immediate: Immediate | None = None
        self._opening = threading.Lock()
        self._store: Store | None = None if immediate else self._open(self.path)
        self.immediate = immediate

    @property
    def store(self) -> Store:
        """Where the jobs are: the queue's database, or immediate mode's private one."""
        immediate = self._immediate
        if immediate is not None:
            return immediate.store
        if self._store is None:
            with self._opening:
                if self._store is None:
                    self._store = self._open(self.path)
        return self._store

    @property
    def immediate(self) -> bool:
        """True while ``start()`` runs each job in the calling thread before it returns (tests).

            queue.immediate = True
            job = import_rows.start(5)     # job.state == "succeeded", with its result and logs

        The jobs live in a private database (nothing is written to the queue's own); ``get``,
        ``jobs`` and the middleware see them. Exceptions of a task stay in its job, as with a
        worker; timeouts and isolation still hold; retries and delayed starts run at once;
        periodic tasks are not started. Setting it back to False returns to the queue's own
        database, and the private one is deleted with its jobs. See docs/testing.md."""
        return self._immediate is not None

    @immediate.setter
    def immediate(self, on: bool) -> None:
        if not isinstance(on, bool):
            raise ConfigurationError(f"immediate must be True or False, not {on!r}")
        if on and self._immediate is None:
            self._immediate = Immediate(self, lambda path: self._open(path, synchronous="normal"))
        elif not on and self._immediate is not None:
            immediate, self._immediate = self._immediate, None
            immediate.close()
            if self._store is not None:
                teach(self._store.huey, self.tasks.values())  # tasks registered meanwhile

    def reopen(self, location: str | os.PathLike) -> None:
        """Use the database at ``location`` from now on (a file path or a URL, as for ``Queue``):
        a test points the app's queue at a temporary one. Nothing is copied; the database used
        so far is left as it is, and workers already running stay on it."""
        store = self._open(os.fspath(location))
        with self._opening:
            self.path, self._store = os.fspath(location), store

    def _open(self, location: str, synchronous: str | None = None) -> Store:
        store = open_store(location, name=self.name, synchronous=synchronous or self.synchronous,
                           busy_timeout=self.busy_timeout, max_logs=self.max_logs,
                           make_message=self._message, rules_of=self._rules_of)
        teach(store.huey, self.tasks.values())
        return store

    @property
    def huey(self) -> Any:
        """The Huey instance whose storage carries this queue's messages."""
        return self.store.huey

    @property
    def database(self) -> Any:
        """The peewee database (per-thread, pooled connections) holding the jobs."""
        return self.store.database

    def task(self, name: str | Callable | None = None, *, retries: int = 0, retry_delay: float = 0,
             retry_backoff: bool = False, retry_backoff_max: float = 600, timeout: float | None = None,
             isolate: bool = False, priority: int = 0, max_pending: int | None = None,
             concurrency: int | None = None, **unknown: Any) -> Any:
        """Register a function as a task; only registered tasks can be started.

        Use as ``@queue.task``, ``@queue.task()`` or ``@queue.task(name="import", retries=2)``.
        ``retry_backoff=True`` doubles ``retry_delay`` (at least 1 s) after each failure, up to
        ``retry_backoff_max`` seconds, with jitter. ``timeout`` (seconds) and ``isolate=True``
        run each job in a child process that a cancel or the timeout can stop even if the task
        never checks.
        """
        if unknown:
            raise ConfigurationError(f"unknown task option(s): {', '.join(sorted(unknown))}"
                                     f" (options: {', '.join(TASK_OPTIONS)})")
        if callable(name):
            return self.task()(name)

        def decorate(func: Callable) -> Task:
            task_name = check_options(name, func, retries, retry_delay, retry_backoff, retry_backoff_max,
                                      timeout, isolate, priority, max_pending, concurrency)
            check_name(task_name, self)
            task = Task(self, func, task_name, retries=retries, retry_delay=retry_delay,
                        retry_backoff=retry_backoff, retry_backoff_max=retry_backoff_max,
                        timeout=timeout, isolate=isolate, priority=priority, max_pending=max_pending,
                        concurrency=concurrency)
            self.tasks[task_name] = task
            return task

        return decorate

    def periodic(self, cron: str, *, tz: str | tzinfo | None = None, **options: Any) -> Callable[[Callable], Task]:
        """Register a function of no arguments as a task that workers start once per minute
        matching ``cron`` (5 fields, ``"*/5 * * * *"``; in ``tz``, UTC by default), exactly
        once per slot however many workers run. ``options``: as for ``@queue.task``.

            @queue.periodic("0 3 * * *")
            def nightly_cleanup(): ...
        """
        schedule = Cron(cron, tz)

        def decorate(func: Callable) -> Task:
            try:
                inspect.signature(func).bind()
            except TypeError:
                raise ConfigurationError(f"periodic task {getattr(func, '__name__', func)!r} must take no"
                                         " arguments: a worker starts it with none") from None
            task = self.task(**options)(func)
            task.periodic = schedule
            return task

        return decorate

    def start_slot(self, task: Task, slot: datetime) -> Job | None:
        """Start a periodic task's job for ``slot`` (a matching minute) unless another worker
        did; the job, or None. Workers call this (see ``lilqueue.worker.schedule``)."""
        new = self._new_job(task, (), None, None, None, time.time())
        return new.job if self.store.start_slot(new, slot.timestamp()) else None

    def start(self, task: str | Task, args: Iterable[Any] = (), kwargs: dict[str, Any] | None = None,
              *, key: str | None = None, owner: str | None = None, delay: float | timedelta | None = None,
              eta: datetime | None = None, priority: int | None = None, job_id: str | None = None) -> Job:
        """Start a registered task by name; returns the job at once.

        With ``key``, a job with the same key that is still queued or running is returned
        instead of starting a second one. ``owner`` is stored with the job (the web layer
        records who started it). ``delay`` (seconds or a timedelta) or ``eta`` (an aware
        datetime): the job is queued now and its body does not run before then (``run_at``).
        ``priority``: a higher number runs first (default: the task's, else 0).
        ``job_id``: the new job's id, from ``lilqueue.job.new_id()``, for a caller that must
        hand the id out before the job is recorded (Django's tasks API, on commit); not for
        pipelines. An id already taken raises InvalidArguments.
        """
        registered = self.lookup(task)
        if isinstance(registered, Pipeline) and job_id is None:
            return self.start_pipeline(registered, args, kwargs, key=key, owner=owner, delay=delay, eta=eta,
                                       priority=priority)
        new = self._new_job(registered, args, kwargs, key, owner, time.time(), when=(delay, eta), priority=priority,
                            job_id=job_id)
        try:
            existing = self.store.insert(new)
        except self.store.conflict:
            if job_id is None:
                raise
            raise InvalidArguments(registered.name, f"job_id {job_id!r} is taken by another job") from None
        return self._started([existing if existing is not None else new.job])[0]

    def start_many(self, task: str | Task, arguments: Iterable[Iterable[Any]], *,
                   delay: float | timedelta | None = None, eta: datetime | None = None,
                   priority: int | None = None) -> list[Job]:
        """Start one job per argument list, all in one transaction (``delay``, ``eta`` and
        ``priority`` as for ``start``, the same for all)."""
        now = time.time()
        new = [self._new_job(task, args, None, None, None, now, when=(delay, eta), priority=priority)
               for args in arguments]
        if new:
            self.store.insert_many(new)
        return self._started([n.job for n in new])

    def get(self, job_id: str) -> Job:
        """The job as it is now; raises JobNotFound for an unknown id."""
        return self.store.get(job_id)

    def cancel(self, job_id: str, *, version: int | None = None) -> Job:
        """Cancel a queued job (it never runs) or ask a running one to stop.

        With ``version``, only if the job is still at that version (HTTP's ``If-Match``):
        raises JobChanged, changing nothing, when it has moved on. Raises JobNotFound, or
        JobFinished if the job already ended."""
        return self.store.cancel(job_id, time.time(), version)

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
        if self._immediate is not None:
            raise ConfigurationError("this queue is in immediate mode: start() runs each job, no worker is needed")
        from .worker import Worker
        return Worker(self, threads=threads, grace=grace, poll_interval=poll_interval)

    def middleware(self, app: Any = None, prefix: str = "/jobs", **options: Any) -> Any:
        """A WSGI callable serving this queue's HTTP endpoints under ``prefix``; other
        requests go to ``app`` untouched. Options: see ``lilqueue.web.Middleware``.

            app.wsgi_app = queue.middleware(app.wsgi_app)   # Flask
        """
        from .web import Middleware
        return Middleware(self, app, prefix, **options)

    def asgi(self, app: Any = None, prefix: str = "/jobs", **options: Any) -> Any:
        """The same endpoints as an ASGI app, on asyncio; other requests and the lifespan go to
        ``app``. Options as ``middleware``'s; see ``lilqueue.web.asgi``.

            app = queue.asgi(FastAPI(), worker=True)
        """
        from .web.asgi import AsgiFace
        return AsgiFace(self, app, prefix, **options)

    def lookup(self, task: str | Task | Pipeline) -> Task | Pipeline:
        """The registered task or pipeline for a name (or a Task or Pipeline of this queue);
        raises UnknownTask."""
        if isinstance(task, Task):
            if self.tasks.get(task.name) is not task:
                raise UnknownTask(task.name)
            return task
        if isinstance(task, Pipeline) and task.queue is self:
            return task
        found = (self.tasks.get(task) or self.pipelines.get(task)) if isinstance(task, str) else None
        if found is None:
            raise UnknownTask(task)
        return found

    def _started(self, jobs: list[Job]) -> list[Job]:
        """The jobs a start returns: as written, waking embedded workers, or in immediate mode run and read again."""
        from .web.embedded import wake  # web/embedded.py: a face mounted under a path sees no host request
        return wake(self, jobs) if self._immediate is None else self._immediate.ran(job.id for job in jobs)

    def _new_job(self, task: str | Task, args: Iterable[Any], kwargs: dict[str, Any] | None,
                 key: str | None, owner: str | None, now: float, retry_of: str | None = None,
                 when: tuple[Any, Any] = (None, None), priority: int | None = None,
                 parent: str | None = None, step: int | None = None, job_id: str | None = None) -> NewJob:
        registered = refuse_pipeline(self.lookup(task))
        if job_id is not None and (not isinstance(job_id, str) or not ID_PATTERN.fullmatch(job_id)):
            raise InvalidArguments(registered.name, f"job_id must be an id from new_id(), not {job_id!r}")
        run_at = runat.run_at(registered.name, now, *when)
        if self._immediate is not None:
            run_at = None  # immediate mode runs a delayed start at once, as it runs a retry
        if priority is None:
            priority = registered.priority
        else:
            try:
                check_priority("priority", priority)
            except ConfigurationError as exc:
                raise InvalidArguments(registered.name, str(exc)) from None
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
            raise InvalidArguments(registered.name, "key must be valid Unicode text (no lone surrogates, no NUL)")
        args_json, kwargs_json = registered.encode_arguments(args, kwargs)
        # As stored and as the worker will see them (tuples become lists), not the caller's objects.
        args = args if all(type(v) in _PLAIN for v in args) else json.loads(args_json)  # args: our copy
        kwargs = dict(kwargs) if all(type(v) in _PLAIN for v in kwargs.values()) else json.loads(kwargs_json)
        job_id = new_id() if job_id is None else job_id
        try:
            message = self.huey.serialize_task(self._message(job_id, registered.name, args, kwargs, priority))
        except RecursionError:  # Huey pickles recursively: JSON nests deeper than pickle can go
            raise InvalidArguments(registered.name, "arguments are nested too deeply") from None
        job = Job(id=job_id, task=registered.name, state=QUEUED, version=1, args=args, kwargs=kwargs,
                  key=key, owner=owner, progress=Progress(), logs=(), logs_dropped=0, result=None,
                  error=None, attempts=0, cancel_requested=False,
                  created_at=datetime.fromtimestamp(now, UTC), started_at=None, finished_at=None,
                  retry_of=retry_of, run_at=run_at, priority=priority, parent=parent, step=step)
        return NewJob(job, args_json, kwargs_json, message, registered.max_pending)

    def _message(self, job_id: str, task: str, args: list, kwargs: dict, priority: int) -> Any:
        """The Huey task instance that carries a job to a worker; its id is the job's id."""
        return self.tasks[task].huey_task.task_class(tuple(args), kwargs, id=job_id, priority=priority)

    def _rules_of(self, task: str) -> Rules:
        registered = self.tasks.get(task)
        return Rules(registered.retries, registered.concurrency) if registered else Rules()

    def __repr__(self) -> str:
        mode = " immediate" if self._immediate is not None else ""
        return f"<Queue {self.path!r}{mode} tasks={sorted(self.tasks)}>"


_PLAIN = frozenset({str, int, float, bool, type(None)})  # JSON gives these back as they are


def _is_text(value: str) -> bool:
    """False for a str SQLite cannot store (a lone surrogate, e.g. from JSON's "\\ud800") or
    PostgreSQL cannot (NUL, from JSON's "\\u0000"): refused on both, so a key is one on each."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
