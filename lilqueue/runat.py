"""When a delayed start may run: ``run_at(task, now, delay, eta)`` checks a start's ``delay``
(seconds or a timedelta) or ``eta`` (an aware datetime) and gives the UTC datetime, or None for
at once.

    run_at("report", time.time(), 60, None)    # a minute from now
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from .errors import InvalidArguments

MAX_DELAY = 366 * 86400.0  # seconds a start may be delayed (a year: beyond it, a typo more likely than a plan)


def run_at(task: str, now: float, delay: float | timedelta | None, eta: datetime | None) -> datetime | None:
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
