"""``@queue.task``: the wrapper that whitelists a function and checks its options."""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import random
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .argtypes import ArgumentTypes, arguments_schema
from .cron import Cron
from .errors import ConfigurationError, InvalidArguments
from .formats import iso
from .settings import seconds, whole

if TYPE_CHECKING:
    from .flows import Pipeline
    from .job import Job
    from .queue import Queue

SHAPES = 64  # argument shapes remembered per task
_ENCODER = json.JSONEncoder(allow_nan=False)  # reused: json.dumps(allow_nan=...) builds one per call
NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,99}")
TASK_OPTIONS = ("name", "retries", "retry_delay", "retry_backoff", "retry_backoff_max", "timeout", "isolate",
                "priority", "max_pending", "concurrency")
START_OPTIONS = ("key", "delay", "eta", "priority")  # what task.options(...) binds for .start
PRIORITY_LIMIT = 1_000_000
check_priority = whole(-PRIORITY_LIMIT, PRIORITY_LIMIT)  # a task's default, and a start's own


class Task:
    """A function registered with a queue. Calling it runs the function here and now;
    ``.start(...)`` records a job and hands it to a worker.

        @queue.task(retries=2)
        def import_csv(path): ...

        job = import_csv.start("data.csv")
    """

    def __init__(self, queue: Queue, func: Callable, name: str, *, retries: int, retry_delay: float,
                 retry_backoff: bool, retry_backoff_max: float, timeout: float | None, isolate: bool,
                 priority: int, max_pending: int | None, concurrency: int | None) -> None:
        self.queue = queue
        self.func = func
        self.name = name
        self.retries = retries
        self.retry_delay = retry_delay
        self.retry_backoff = retry_backoff
        self.retry_backoff_max = retry_backoff_max
        self.timeout = timeout
        self.isolate = isolate
        self.priority = priority
        self.max_pending = max_pending
        self.concurrency = concurrency
        self.periodic: Cron | None = None  # set by @queue.periodic: when a worker starts it
        self.signature = inspect.signature(func)
        self._shapes: set[tuple] = set()  # argument shapes (count, keyword names) known to bind
        self._types: ArgumentTypes | None | bool = False  # False: not read yet (see ``types``)
        self.huey_task = queue.huey.task(name=name)(func)
        functools.update_wrapper(self, func)

    def retry_wait(self, attempt: int) -> float:
        """Seconds before the retry that follows failed attempt number ``attempt`` (1 first).
        With backoff: ``retry_delay`` (at least 1 s) doubled per attempt, capped at
        ``retry_backoff_max``, then a random point in its upper half, so that jobs that
        failed together (a service down) do not all come back at the same moment."""
        if not self.retry_backoff:
            return self.retry_delay
        delay = min(max(self.retry_delay, 1.0) * 2.0 ** min(attempt - 1, 64), self.retry_backoff_max)
        return random.uniform(delay / 2, delay)

    @property
    def runs_in_child(self) -> bool:
        """A timeout can only be enforced on a process, so it implies isolation."""
        return self.isolate or self.timeout is not None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.func(*args, **kwargs)

    def start(self, *args: Any, **kwargs: Any) -> Job:
        """Record a job for ``func(*args, **kwargs)`` and return it at once."""
        return self.queue.start(self.name, args, kwargs)

    def map(self, items: Iterable[Any]) -> list[Job]:
        """Start one job per item in one transaction; a tuple item is spread as arguments."""
        return self.queue.start_many(self.name, (i if isinstance(i, tuple) else (i,) for i in items))

    def then(self, task: Task | str, *args: Any, **kwargs: Any) -> Pipeline:
        """A pipeline: this task, then ``task(<this one's result>, *args, **kwargs)``; start it
        with ``.start(...)`` to get one job for all its steps (``lilqueue.flows``)::

            upload.then(thumbnail, 256).then(notify).start("cat.png")
        """
        return self.queue.chain(self).then(task, *args, **kwargs)

    def batch(self, items: Iterable[Any], then: Task | str | None = None) -> Job:
        """One job per item (a tuple item is spread as arguments), under one parent job that is
        returned: it ends with the list of their results, or with ``then(results)``'s."""
        return self.queue.start_batch(self, items, then)

    def options(self, **options: Any) -> StartWith:
        """This task with start options bound (``key``, ``delay``, ``eta``, ``priority``), since
        ``.start`` passes every keyword to the function::

            import_csv.options(delay=60, priority=5).start("data.csv")
        """
        unknown = sorted(set(options) - set(START_OPTIONS))
        if unknown:
            raise TypeError(f"unknown start option(s): {', '.join(unknown)} (options: {', '.join(START_OPTIONS)})")
        return StartWith(self, options)

    def encode_arguments(self, args: Iterable[Any], kwargs: dict[str, Any] | None) -> tuple[str, str]:
        """Bind the arguments to the signature and serialize them, or raise InvalidArguments."""
        args = args if isinstance(args, list) else list(args)
        kwargs = {} if kwargs is None else kwargs
        # Whether arguments bind depends on their number and names only: bind each shape once.
        shape = (len(args), *kwargs)
        if shape not in self._shapes:
            try:
                self.signature.bind(*args, **kwargs)
            except TypeError as exc:
                raise InvalidArguments(self.name, str(exc)) from None
            if len(self._shapes) < SHAPES:
                self._shapes.add(shape)
        types = self.types if self._types is False else self._types
        if types is not None:
            types.check(self.name, args, kwargs)
        try:
            return _ENCODER.encode(args), _ENCODER.encode(kwargs)
        except (TypeError, ValueError, RecursionError) as exc:
            raise InvalidArguments(self.name, f"arguments must be JSON values: {exc}") from None

    @property
    def types(self) -> ArgumentTypes | None:
        """The JSON types its parameters' annotations give (None: none annotated). Read on
        first use, not at decoration: an annotation may name a class defined further down."""
        if self._types is False:
            self._types = ArgumentTypes.of(self.func)
        return self._types  # type: ignore[return-value]

    def arguments_schema(self) -> dict[str, Any]:
        """JSON Schemas of a start's ``args`` and ``kwargs`` (the OpenAPI document's)."""
        return arguments_schema(self.signature, self.types)

    def describe(self) -> dict[str, Any]:
        """Name, parameters (with ``type`` and its JSON ``schema`` where annotated) and
        options, as ``GET {prefix}/tasks`` lists them."""
        params = []
        types = self.types
        for p in self.signature.parameters.values():
            entry: dict[str, Any] = {"name": p.name, "kind": p.kind.name.lower(),
                                     "required": p.default is p.empty and p.kind not in
                                     (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
            if p.default is not p.empty and _is_json(p.default):
                entry["default"] = p.default
            if types is not None and p.name in types.names:
                entry["type"] = types.names[p.name]
                entry["schema"] = types.schema(p.name)
            params.append(entry)
        return {"name": self.name, "doc": inspect.getdoc(self.func), "parameters": params,
                "retries": self.retries, "retry_delay": self.retry_delay, "retry_backoff": self.retry_backoff,
                "timeout": self.timeout, "isolate": self.isolate, "priority": self.priority,
                "max_pending": self.max_pending, "concurrency": self.concurrency,
                "periodic": self._schedule()}

    def _schedule(self) -> dict[str, Any] | None:
        if self.periodic is None:
            return None
        following = self.periodic.next_after(datetime.now(UTC))
        return {"cron": self.periodic.expression, "timezone": str(self.periodic.tz),
                "next_run": iso(following)}

    def __repr__(self) -> str:
        return f"<Task {self.name}>"


class StartWith:
    """A task and the start options ``task.options(...)`` bound to it."""

    def __init__(self, task: Task, options: dict[str, Any]) -> None:
        self.task = task
        self.start_options = options

    def start(self, *args: Any, **kwargs: Any) -> Job:
        return self.task.queue.start(self.task.name, args, kwargs, **self.start_options)

    def map(self, items: Iterable[Any]) -> list[Job]:
        """As ``Task.map``, with the bound options (but a key, which one job alone can hold)."""
        if "key" in self.start_options:
            raise TypeError("map starts many jobs: it cannot give them all one key")
        return self.task.queue.start_many(self.task.name, (i if isinstance(i, tuple) else (i,) for i in items),
                                          **self.start_options)

    def batch(self, items: Iterable[Any], then: Task | str | None = None) -> Job:
        """As ``Task.batch``, with the bound options (a key is the batch's)."""
        return self.task.queue.start_batch(self.task, items, then, **self.start_options)

    def __repr__(self) -> str:
        return f"<Task {self.task.name} with {self.start_options}>"


def import_function(module: str, qualname: str) -> Callable:
    """The function at ``module`` + ``qualname``; a Task found there gives its function."""
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj.func if isinstance(obj, Task) else obj


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def check_options(name: str | None, func: Callable, retries: Any, retry_delay: Any, retry_backoff: Any,
                  retry_backoff_max: Any, timeout: Any, isolate: Any, priority: Any, max_pending: Any,
                  concurrency: Any) -> str:
    """Validate ``@queue.task`` options at decoration time; returns the task's name."""
    if not callable(func):
        raise ConfigurationError(f"@queue.task decorates functions, not {func!r}")
    if inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func):
        raise ConfigurationError(f"task {func.__name__!r} is async; lilqueue runs plain functions"
                                 " (wrap the coroutine in asyncio.run)")
    name = func.__name__ if name is None else name
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ConfigurationError(f"task name {name!r} must match {NAME_PATTERN.pattern}")
    whole(0)("retries", retries)
    seconds(zero=True)("retry_delay", retry_delay)
    if not isinstance(retry_backoff, bool):
        raise ConfigurationError(f"retry_backoff must be True or False, not {retry_backoff!r}")
    seconds()("retry_backoff_max", retry_backoff_max)
    if timeout is not None:
        seconds()("timeout", timeout)
    if not isinstance(isolate, bool):
        raise ConfigurationError(f"isolate must be True or False, not {isolate!r}")
    check_priority("priority", priority)
    for option, value in (("max_pending", max_pending), ("concurrency", concurrency)):
        if value is not None:
            whole(1)(option, value)
    if (isolate or timeout is not None) and "<locals>" in getattr(func, "__qualname__", "<locals>"):
        raise ConfigurationError(f"task {name!r} runs in a child process (isolate or timeout), which imports"
                                 " it by name: define it at module level")
    return name

