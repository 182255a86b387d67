"""How lilqueue writes a moment, an age, a count and a percentage as text, for the JSON, the
command line, the dashboard, the status page and the logs alike:

    iso(job.created_at)                  # '2026-12-02T09:30:00.123456Z' (the JSON's moments)
    iso(1764667800.0, "seconds")         # '2025-12-02T09:30:00Z' (the command line's columns)
    age(185.2)                           # '3m05s'
    count(1, "thread")                   # '1 thread'
    percent(163, 300)                    # '54%' (lilqueue.js writes it the same way)
"""

from __future__ import annotations

import math
from datetime import UTC, datetime


def utc(value: datetime | float | str | None) -> datetime | None:
    """A datetime, epoch seconds or an ISO 8601 string (as ``queue.stats()`` gives moments) as
    an aware datetime in UTC; None for None or ``""``."""
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return datetime.fromisoformat(value).astimezone(UTC)
    return datetime.fromtimestamp(value, UTC)


def iso(value: datetime | float | str | None, timespec: str = "auto") -> str | None:
    """ISO 8601 in UTC with a ``Z`` (what JavaScript's ``Date`` reads); ``timespec`` as for
    ``datetime.isoformat`` (``"seconds"``: one word a column, to the second). None for None."""
    at = utc(value)
    return None if at is None else at.isoformat(timespec=timespec).replace("+00:00", "Z")


def age(seconds: float) -> str:
    """A duration in one word, to two units: ``350ms``, ``4.2s``, ``3m05s``, ``2h05m``, ``3d04h``.
    A negative one (clocks of two machines apart) is shown as none."""
    seconds = max(seconds, 0.0)
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.3g}s"
    minutes, hours, days = int(seconds // 60), int(seconds // 3600), int(seconds // 86400)
    if seconds < 3600:
        return f"{minutes}m{int(seconds % 60):02d}s"
    if seconds < 86400:
        return f"{hours}h{minutes % 60:02d}m"
    return f"{days}d{hours % 24:02d}h"


def count(n: int, noun: str) -> str:
    """``1 job``, ``3 jobs``, ``0 jobs``: a number and its noun, singular or plural."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


def percent(current: float | None, total: float | None, done: bool = False) -> str:
    """``current`` of ``total`` as a whole percentage rounded down, so that ``100%`` means all
    of it: ``54%`` for 163 of 300, ``99%`` for 999 of 1000. ``""`` while no total is known;
    ``done`` (the job succeeded, whatever it last reported) is ``100%``. lilqueue.js's
    ``percentText`` follows the same rule."""
    if done:
        return "100%"
    if current is None or not total:
        return ""
    ratio = min(max(current / total, 0.0), 1.0)
    return f"{math.floor(ratio * 100 + 1e-9)}%"  # 1e-9: 29 of 100 is 28.999999999999996 in floats
