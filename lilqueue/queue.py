"""``Queue``: the one object an app creates. It owns the database (a SQLite file, or PostgreSQL),
the Huey instance on it, the registry of tasks, and the operations on jobs."""

from __future__ import annotations

import inspect
import json
import os
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

from .cron import Cron
from .errors import ConfigurationError, InvalidArguments, UnknownTask, WrongState
from .job import KEY_LIMIT, Job, Progress, new_id
from .settings import QUEUE, WORKER
from .states import CANCELED, FAILED, FINISHED, QUEUED, STATES
from .store import NewJob, Rules, Store, open_store
from .task import TASK_OPTIONS, Task, check_options, check_priority

if TYPE_CHECKING:
    from .worker import Worker

MAX_PAGE = 1000  # jobs in one queue.jobs() page
MAX_DELAY = 366 * 86400.0  # seconds a start may be delayed (a year: beyond it, a typo more likely than a plan)


class Queue:
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
                                       make_message=self._message, rules_of=self._rules_of)

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
            if task_name in self.tasks:
                raise ConfigurationError(f"a task named {task_name!r} is already registered")
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
              eta: datetime | None = None, priority: int | None = None) -> Job:
        """Start a registered task by name; returns the job at once.

        With ``key``, a job with the same key that is still queued or running is returned
        instead of starting a second one. ``owner`` is stored with the job (the web layer
        records who started it). ``delay`` (seconds or a timedelta) or ``eta`` (an aware
        datetime): the job is queued now and its body does not run before then (``run_at``).
        ``priority``: a higher number runs first (default: the task's, else 0).
        """
        now = time.time()
        new = self._new_job(task, args, kwargs, key, owner, now, when=(delay, eta), priority=priority)
        existing = self.store.insert(new)
        return existing if existing is not None else new.job

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
        return [n.job for n in new]

    def get(self, job_id: str) -> Job:
        """The job as it is now; raises JobNotFound for an unknown id."""
        return self.store.get(job_id)

    def cancel(self, job_id: str, *, version: int | None = None) -> Job:
        """Cancel a queued job (it never runs) or ask a running one to stop.

        With ``version``, only if the job is still at that version (HTTP's ``If-Match``):
        raises JobChanged, changing nothing, when it has moved on. Raises JobNotFound, or
        JobFinished if the job already ended."""
        return self.store.cancel(job_id, time.time(), version)

    def jobs(self, state: str | Iterable[str] | None = None, task: str | None = None, limit: int = 100, *,
             owner: str | None = None, key: str | None = None, created_after: datetime | float | None = None,
             created_before: datetime | float | None = None, before: str | None = None) -> list[Job]:
        """Jobs newest first, filtered; ``before`` (the id of the last job of a page) gives the
        next page. A page costs the same on a table of a million jobs (keyset, indexes)."""
        states = [state] if isinstance(state, str) else None if state is None else list(state)
        for name in states or ():
            if name not in STATES:
                raise ValueError(f"state must be one of {', '.join(STATES)}, not {name!r}")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
            raise ValueError(f"limit must be a whole number from 1 to {MAX_PAGE}, not {limit!r}")
        for name, value in (("task", task), ("owner", owner), ("key", key), ("before", before)):
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{name} must be a string, not {value!r}")
        return self.store.history.jobs(
            states=states, task=task, owner=owner, key=key, created_after=_epoch("created_after", created_after),
            created_before=_epoch("created_before", created_before), before=before, limit=limit)

    def retry(self, job_id: str) -> Job:
        """Start a failed or canceled job again, as a new job (``retry_of`` names the old one,
        which never changes). Raises JobNotFound, or WrongState for any other state."""
        old = self.get(job_id)
        if old.state not in (FAILED, CANCELED):
            raise WrongState(job_id, old.state, "only failed or canceled jobs can be retried")
        new = self._new_job(old.task, old.args, old.kwargs, old.key, old.owner, time.time(), retry_of=old.id,
                            priority=old.priority)
        holder = self.store.insert(new)
        if holder is not None:
            raise WrongState(job_id, old.state, f"its key {old.key!r} is held by the unfinished job {holder.id}")
        return new.job

    def delete(self, job_id: str) -> None:
        """Delete one finished job and its log (its counts stay in the totals)."""
        job = self.get(job_id)
        if not job.finished:
            raise WrongState(job_id, job.state, "only finished jobs can be deleted")
        self.store.history.delete(lambda row: row.id == job_id)

    def purge(self, states: Iterable[str] = FINISHED, older_than: float | timedelta | None = None,
              task: str | None = None) -> int:
        """Delete finished jobs in ``states`` that finished more than ``older_than`` ago (all
        of them with None); returns how many. Their counts stay in ``stats()``'s totals."""
        states = [states] if isinstance(states, str) else list(states)
        wrong = [state for state in states if state not in FINISHED]
        if wrong or not states:
            raise ValueError(f"only finished jobs can be purged ({', '.join(sorted(FINISHED))}), not {wrong or states}")
        if isinstance(older_than, timedelta):
            older_than = older_than.total_seconds()
        if older_than is not None and (isinstance(older_than, bool) or not isinstance(older_than, (int, float))
                                       or older_than < 0):
            raise ValueError(f"older_than must be seconds >= 0 or a timedelta, not {older_than!r}")
        cutoff = None if older_than is None else time.time() - older_than

        def condition(row: Any) -> Any:
            found = row.state.in_(states)
            if cutoff is not None:
                found &= row.finished_at < cutoff
            return found & (row.task == task) if task is not None else found

        return self.store.history.delete(condition)

    def stats(self) -> dict[str, Any]:
        """What operators watch, from the job table (the same in every process): ``counts``
        per task and state, ``states`` totals, ``oldest_queued_age`` (s), ``workers`` (with
        ``heartbeat_age``, ``live`` and what they run), ``throughput`` (60 minutes, oldest first),
        ``failures_24h``, and ``finished_totals`` and ``durations`` (per task, histogram
        buckets) that never go down when old jobs are pruned or purged."""
        stats = self.store.history.stats(time.time())
        self._mark_live(stats["workers"])
        return stats

    def workers(self) -> list[dict[str, Any]]:
        """The registered workers: id, hostname, pid, threads, started_at, heartbeat_age,
        running, and ``live`` (False once silent for heartbeat_timeout: presumed dead)."""
        return self._mark_live(self.store.history.workers(time.time()))

    def _mark_live(self, workers: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for worker in workers:
            worker["live"] = worker["heartbeat_age"] <= self.heartbeat_timeout
        return workers

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
                 key: str | None, owner: str | None, now: float, retry_of: str | None = None,
                 when: tuple[Any, Any] = (None, None), priority: int | None = None) -> NewJob:
        registered = self.lookup(task)
        run_at = _run_at(registered.name, now, *when)
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
            raise InvalidArguments(registered.name, "key must be valid Unicode text (no lone surrogates)")
        args_json, kwargs_json = registered.encode_arguments(args, kwargs)
        # As stored and as the worker will see them (tuples become lists), not the caller's objects.
        args = args if all(type(v) in _PLAIN for v in args) else json.loads(args_json)  # args: our copy
        kwargs = dict(kwargs) if all(type(v) in _PLAIN for v in kwargs.values()) else json.loads(kwargs_json)
        job_id = new_id()
        try:
            message = self.huey.serialize_task(self._message(job_id, registered.name, args, kwargs, priority))
        except RecursionError:  # Huey pickles recursively: JSON nests deeper than pickle can go
            raise InvalidArguments(registered.name, "arguments are nested too deeply") from None
        job = Job(id=job_id, task=registered.name, state=QUEUED, version=1, args=args, kwargs=kwargs,
                  key=key, owner=owner, progress=Progress(), logs=(), logs_dropped=0, result=None,
                  error=None, attempts=0, cancel_requested=False,
                  created_at=datetime.fromtimestamp(now, UTC), started_at=None, finished_at=None,
                  retry_of=retry_of, run_at=run_at, priority=priority)
        return NewJob(job, args_json, kwargs_json, message, registered.max_pending)

    def _message(self, job_id: str, task: str, args: list, kwargs: dict, priority: int) -> Any:
        """The Huey task instance that carries a job to a worker; its id is the job's id."""
        return self.tasks[task].huey_task.task_class(tuple(args), kwargs, id=job_id, priority=priority)

    def _rules_of(self, task: str) -> Rules:
        registered = self.tasks.get(task)
        return Rules(registered.retries, registered.concurrency) if registered else Rules()

    def __repr__(self) -> str:
        return f"<Queue {self.store.location!r} tasks={sorted(self.tasks)}>"


def _run_at(task: str, now: float, delay: float | timedelta | None, eta: datetime | None) -> datetime | None:
    """When a delayed start may run (None: at once), from ``delay`` or ``eta``."""
    if delay is not None and eta is not None:
        raise InvalidArguments(task, "give delay or eta, not both")
    if isinstance(delay, timedelta):
        delay = delay.total_seconds()
    if delay is not None:
        if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not 0 <= delay <= MAX_DELAY:
            raise InvalidArguments(task, f"delay must be seconds from 0 to {MAX_DELAY:g}, or a timedelta,"
                                         f" not {delay!r}")
        return datetime.fromtimestamp(now + delay, UTC) if delay > 0 else None
    if eta is None:
        return None
    if not isinstance(eta, datetime) or eta.tzinfo is None:
        raise InvalidArguments(task, f"eta must be an aware datetime (with a timezone), not {eta!r}")
    if eta.timestamp() - now > MAX_DELAY:
        raise InvalidArguments(task, f"eta must be at most {MAX_DELAY:g} s ahead")
    return eta.astimezone(UTC) if eta.timestamp() > now else None


_PLAIN = frozenset({str, int, float, bool, type(None)})  # JSON gives these back as they are


def _epoch(name: str, value: datetime | float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{name} must be an aware datetime (with a timezone), not {value!r}")
        return value.timestamp()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise ValueError(f"{name} must be an aware datetime or epoch seconds, not {value!r}")
    return float(value)


def _is_text(value: str) -> bool:
    """False for a str SQLite cannot store (a lone surrogate, e.g. from JSON's "\\ud800")."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
