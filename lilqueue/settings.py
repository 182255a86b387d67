"""One table of defaults, and the checks of their values, for everything a user can configure.

``Queue``, ``Worker``, the middleware and the command line read their defaults here and check
what they are given with the same functions, so a default is written once and a bad value gets
the same message wherever it is passed:

    QUEUE.heartbeat_timeout              # 30.0, the default
    QUEUE["heartbeat_timeout"].help      # what the CLI prints for it
    QUEUE.check("heartbeat_timeout", 0)  # raises ConfigurationError: ... must be seconds > 0 ...
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import ConfigurationError

Check = Callable[[str, Any], Any]


def seconds(minimum: float = 0.0, maximum: float = 86400.0 * 365, *, zero: bool = False) -> Check:
    """A number of seconds (int or float, not bool, not NaN) within bounds; returns a float."""
    def check(name: str, value: Any) -> float:
        low = f">= {minimum:g}" if zero or minimum > 0 else "> 0"
        if (isinstance(value, bool) or not isinstance(value, (int, float)) or value != value
                or value < minimum or value > maximum or (value == 0 and not zero)):
            raise ConfigurationError(f"{name} must be seconds {low} (at most {maximum:g}), not {value!r}")
        return float(value)
    return check


def whole(minimum: int = 1, maximum: int | None = None) -> Check:
    """A whole number (not bool) of at least ``minimum`` (and at most ``maximum``)."""
    def check(name: str, value: Any) -> int:
        if (isinstance(value, bool) or not isinstance(value, int) or value < minimum
                or (maximum is not None and value > maximum)):
            bounds = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
            raise ConfigurationError(f"{name} must be a whole number {bounds}, not {value!r}")
        return value
    return check


def choice(*choices: str) -> Check:
    def check(name: str, value: Any) -> str:
        if value not in choices:
            raise ConfigurationError(f"{name} must be one of {', '.join(map(repr, choices))}, not {value!r}")
        return value
    return check


def auto_or(check: Check) -> Check:
    """``"auto"`` or what ``check`` accepts."""
    def checked(name: str, value: Any) -> Any:
        if value == "auto":
            return value
        try:
            return check(name, value)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{exc} (or 'auto')") from None
    return checked


def threads_or_bool(name: str, value: Any) -> int:
    """``False`` (none), ``True`` (the worker's default threads) or a number of threads >= 1."""
    if value is False or value is True:
        return WORKER.threads if value else 0
    return whole(1)(name, value)


@dataclass(frozen=True)
class Option:
    default: Any
    check: Check
    help: str


class Options(dict):
    """Name -> Option. An attribute gives the default: ``WORKER.threads`` is 2."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name].default
        except KeyError:
            raise AttributeError(name) from None

    def check(self, name: str, value: Any) -> Any:
        """The value, normalized (seconds as float), or ConfigurationError."""
        return self[name].check(name, value)


QUEUE = Options(
    heartbeat_timeout=Option(30.0, seconds(), "seconds after which a silent worker's running jobs are taken back"),
    retention=Option(3 * 86400.0, seconds(), "seconds finished jobs are kept"),
    max_logs=Option(100, whole(1), "log lines kept per job (the newest)"),
    progress_interval=Option(0.2, seconds(zero=True), "at most one progress write per job per this many seconds"),
    synchronous=Option("full", choice("full", "normal"), "SQLite's synchronous setting"),
    busy_timeout=Option(10.0, seconds(), "seconds a writer waits for the database's lock"),
)

WORKER = Options(
    threads=Option(2, whole(1), "jobs run at once, each in a thread"),
    grace=Option(10.0, seconds(zero=True), "seconds running jobs get to finish on SIGTERM before they are"
                 " handed back"),
    poll_interval=Option(0.004, seconds(0.0005, 1.0), "seconds between an idle worker's looks for new jobs:"
                         " lower picks up faster, higher spends less CPU"),
)

MIDDLEWARE = Options(
    max_waiters=Option(500, whole(1), "long-polls and event streams waiting at once; past it 429"),
    hold=Option("auto", auto_or(whole(0)), "long-polls and event streams held at once per process: 'auto'"
                " (by server kind, see docs/deploy.md) or a number; the others are answered at once"),
    worker=Option(False, threads_or_bool, "run a worker inside each web process: True or its number of"
                  " threads"),
    max_wait=Option(25.0, seconds(maximum=86400.0), "the longest a long-poll waits (seconds)"),
    max_body=Option(64 * 1024, whole(1), "the largest POST body (bytes)"),
    stream_lifetime=Option(300.0, seconds(maximum=86400.0), "seconds one event stream lasts"),
    heartbeat=Option(15.0, seconds(maximum=86400.0), "seconds between an event stream's heartbeats"),
)
