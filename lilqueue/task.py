"""``@queue.task``: the wrapper that whitelists a function and checks its options."""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from .errors import ConfigurationError, InvalidArguments
from .settings import seconds, whole

if TYPE_CHECKING:
    from .job import Job
    from .queue import Queue

_ENCODER = json.JSONEncoder(allow_nan=False)  # reused: json.dumps(allow_nan=...) builds one per call
NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,99}")
TASK_OPTIONS = ("name", "retries", "retry_delay", "timeout", "isolate")


class Task:
    """A function registered with a queue. Calling it runs the function here and now;
    ``.start(...)`` records a job and hands it to a worker.

        @queue.task(retries=2)
        def import_csv(path): ...

        job = import_csv.start("data.csv")
    """

    def __init__(self, queue: Queue, func: Callable, name: str, *, retries: int,
                 retry_delay: float, timeout: float | None, isolate: bool) -> None:
        self.queue = queue
        self.func = func
        self.name = name
        self.retries = retries
        self.retry_delay = retry_delay
        self.timeout = timeout
        self.isolate = isolate
        self.signature = inspect.signature(func)
        self.huey_task = queue.huey.task(name=name)(func)
        functools.update_wrapper(self, func)

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

    def encode_arguments(self, args: Iterable[Any], kwargs: dict[str, Any] | None) -> tuple[str, str]:
        """Bind the arguments to the signature and serialize them, or raise InvalidArguments."""
        args = args if isinstance(args, list) else list(args)
        kwargs = {} if kwargs is None else kwargs
        try:
            self.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise InvalidArguments(self.name, str(exc)) from None
        try:
            return _ENCODER.encode(args), _ENCODER.encode(kwargs)
        except (TypeError, ValueError, RecursionError) as exc:
            raise InvalidArguments(self.name, f"arguments must be JSON values: {exc}") from None

    def describe(self) -> dict[str, Any]:
        """Name, parameters and options, as ``GET {prefix}/tasks`` lists them."""
        params = []
        for p in self.signature.parameters.values():
            entry: dict[str, Any] = {"name": p.name, "kind": p.kind.name.lower(),
                                     "required": p.default is p.empty and p.kind not in
                                     (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
            if p.default is not p.empty and _is_json(p.default):
                entry["default"] = p.default
            params.append(entry)
        return {"name": self.name, "doc": inspect.getdoc(self.func), "parameters": params,
                "retries": self.retries, "timeout": self.timeout, "isolate": self.isolate}

    def __repr__(self) -> str:
        return f"<Task {self.name}>"


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


def check_options(name: str | None, func: Callable, retries: Any, retry_delay: Any,
                  timeout: Any, isolate: Any) -> str:
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
    if timeout is not None:
        seconds()("timeout", timeout)
    if not isinstance(isolate, bool):
        raise ConfigurationError(f"isolate must be True or False, not {isolate!r}")
    if (isolate or timeout is not None) and "<locals>" in getattr(func, "__qualname__", "<locals>"):
        raise ConfigurationError(f"task {name!r} runs in a child process (isolate or timeout), which imports"
                                 " it by name: define it at module level")
    return name

