"""Cron expressions: the minutes at which a periodic task is due.

    from datetime import UTC, datetime
    from lilqueue.cron import Cron

    cron = Cron("*/15 9-17 * * MON-FRI", tz="Europe/Paris")
    cron.next_after(datetime(2026, 3, 27, 16, 50, tzinfo=UTC))  # 2026-03-30 07:00 UTC, Monday 09:00 in Paris
    cron.latest(datetime(2026, 3, 27, 16, 50, tzinfo=UTC))      # 2026-03-27 16:45 UTC, Friday 17:45 in Paris
    cron.matches(datetime(2026, 3, 27, 16, 0, 42, tzinfo=UTC))  # True: seconds are ignored

The five fields are those of Vixie cron and POSIX crontab: minute (0-59), hour (0-23), day of
month (1-31), month (1-12 or JAN-DEC) and day of week (0-7, 0 and 7 both Sunday, or SUN-SAT);
names are case-insensitive. Each field is a comma-separated list of items, each ``*``, ``a``,
``a-b``, ``*/n``, ``a-b/n`` or ``a/n`` (``a`` up to the field's maximum, every ``n``th).
``@hourly``, ``@daily`` (``@midnight``), ``@weekly``, ``@monthly`` and ``@yearly``
(``@annually``) stand for their usual five fields.

Days follow Vixie's rule: when both day fields are restricted, a day matches if either does
(``0 0 13 * FRI`` runs on every 13th and on every Friday); when one of them starts with ``*``
(``*`` itself, or a step such as ``*/2``), a day must match both, so only the other one counts.
An expression that can never match (``0 0 30 2 *``) is refused.

Matching uses the wall clock in ``tz`` (UTC by default); a slot is the UTC instant at which
that wall-clock minute happens. Around daylight saving time changes:

- a minute the clocks skip (02:30 on a spring-forward night in Paris) does not happen, so it
  is not a slot: ``30 2 * * *`` does not run that day;
- a minute the clocks show twice (02:30 on a fall-back night) is one slot, its first
  occurrence; ``30 2 * * *`` runs once, and ``*/5 * * * *`` pauses for the repeated hour.

Use UTC for intervals that must stay regular through the year.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from calendar import monthrange
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ConfigurationError

MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")

# name, lowest value, highest value, names for the values from the lowest up
FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, MONTH_NAMES),
    ("day of week", 0, 7, DAY_NAMES),
)

SHORTCUTS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}

# A year and a day: a yearly slot is always found, even across February 29th or a change of
# UTC offset. Only a leap-day expression can have its latest slot further back.
LOOKBACK = timedelta(days=367)

_LONGEST_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_MINUTE = timedelta(minutes=1)
_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)


class Cron:
    """A parsed cron expression, in the time zone ``tz``: a name such as ``"Europe/Paris"``,
    a ``tzinfo``, or None for UTC. Raises ConfigurationError for a malformed expression.

        Cron("0 3 * * *").next_after(now)   # the next 03:00 UTC after now
    """

    def __init__(self, expression: str, tz: str | tzinfo | None = None) -> None:
        if not isinstance(expression, str):
            raise ConfigurationError(f"a cron expression must be a string, not {expression!r}")
        self.expression = expression
        self.tz = _zone(tz)
        fields = _split(expression)
        minutes, hours, days, months, weekdays = (_values(text, i, expression) for i, text in enumerate(fields))
        self._minutes = tuple(sorted(minutes))
        self._hours = tuple(sorted(hours))
        self._months = tuple(sorted(months))
        self._days = frozenset(days)
        self._weekdays = frozenset(day % 7 for day in weekdays)
        self._either_day = not fields[2].startswith("*") and not fields[4].startswith("*")
        # Every weekday falls on every date some year, so only a date that no allowed month
        # has can make the expression empty; day 1 (in every "*..." day field) always exists.
        if not self._either_day and min(days) > max(_LONGEST_MONTH[month - 1] for month in months):
            raise ConfigurationError(f"cron expression {expression!r} never matches: day of month {fields[2]!r}"
                                     f" does not occur in month {fields[3]!r}")

    def __repr__(self) -> str:
        return f"Cron({self.expression!r}, tz={str(self.tz)!r})"

    def matches(self, when: datetime) -> bool:
        """Whether the minute of the aware datetime ``when`` is a slot (its seconds are ignored)."""
        local = self._local(when)
        if local.fold and local.replace(fold=0).utcoffset() != local.utcoffset():
            return False  # the second pass of a repeated minute: its first pass was the slot
        return self._wall_matches(local)

    def next_after(self, when: datetime) -> datetime:
        """The first slot strictly after the aware datetime ``when``, in UTC with seconds 0.
        Raises OverflowError, as datetime arithmetic does, if none comes before the year 10000."""
        local = self._local(when)
        instant = when.astimezone(UTC)
        wall = local.replace(tzinfo=None, second=0, microsecond=0, fold=0) + _MINUTE
        while True:
            wall = self._next_wall(wall)
            slot = self._slot(wall)
            # Walls just after a second pass of a repeated hour fall in its first pass: past.
            if slot is not None and slot > instant:
                return slot
            wall += _MINUTE

    def latest(self, when: datetime) -> datetime | None:
        """The last slot at or before the aware datetime ``when``, in UTC with seconds 0, or None
        if there was none in the ``LOOKBACK`` before it (a ``0 0 29 2 *`` in 2026)."""
        local = self._local(when)
        instant = when.astimezone(UTC)
        # During the second pass of a repeated hour the whole first pass is past, including
        # wall-clock minutes later than the one shown now: start the search after them.
        repeated = max(local.replace(fold=0).utcoffset() - local.utcoffset(), timedelta(0))
        wall = local.replace(tzinfo=None, second=0, microsecond=0, fold=0) + repeated
        oldest = wall - LOOKBACK
        while (wall := self._latest_wall(wall, oldest)) is not None:
            slot = self._slot(wall)
            if slot is not None and slot <= instant:
                return slot
            wall -= _MINUTE
        return None

    def _local(self, when: datetime) -> datetime:
        if not isinstance(when, datetime) or when.utcoffset() is None:
            raise ConfigurationError(f"cron times must be aware datetimes (with a tzinfo), not {when!r}")
        return when.astimezone(self.tz)

    def _slot(self, wall: datetime) -> datetime | None:
        """The UTC instant of the wall-clock minute ``wall`` (its first, if it happens twice),
        or None if the clocks skip it."""
        slot = wall.replace(tzinfo=self.tz, fold=0).astimezone(UTC)
        return slot if slot.astimezone(self.tz).replace(tzinfo=None) == wall else None

    def _day_matches(self, day: date) -> bool:
        in_month = day.day in self._days
        in_week = day.isoweekday() % 7 in self._weekdays
        return (in_month or in_week) if self._either_day else (in_month and in_week)

    def _wall_matches(self, wall: datetime) -> bool:
        return (wall.minute in self._minutes and wall.hour in self._hours and wall.month in self._months
                and self._day_matches(wall))

    def _next_wall(self, wall: datetime) -> datetime:
        """The first matching wall-clock minute at or after the naive ``wall``; each step jumps
        to the start of the next month, day, hour or minute that may match."""
        while True:
            if wall.month not in self._months:
                wall = datetime(wall.year, wall.month, monthrange(wall.year, wall.month)[1]) + _DAY
            elif not self._day_matches(wall):
                wall = wall.replace(hour=0, minute=0) + _DAY
            elif wall.hour not in self._hours:
                later = bisect_right(self._hours, wall.hour)
                if later < len(self._hours):
                    wall = wall.replace(hour=self._hours[later], minute=0)
                else:
                    wall = wall.replace(hour=0, minute=0) + _DAY
            elif wall.minute not in self._minutes:
                later = bisect_right(self._minutes, wall.minute)
                if later < len(self._minutes):
                    wall = wall.replace(minute=self._minutes[later])
                else:
                    wall = wall.replace(minute=0) + _HOUR
            else:
                return wall

    def _latest_wall(self, wall: datetime, oldest: datetime) -> datetime | None:
        """The last matching wall-clock minute at or before the naive ``wall``, if not before
        ``oldest``; each step jumps to the end of the previous month, day, hour or minute."""
        while wall >= oldest:
            if wall.month not in self._months:
                wall = wall.replace(day=1, hour=23, minute=59) - _DAY
            elif not self._day_matches(wall):
                wall = wall.replace(hour=23, minute=59) - _DAY
            elif wall.hour not in self._hours:
                earlier = bisect_left(self._hours, wall.hour)
                if earlier:
                    wall = wall.replace(hour=self._hours[earlier - 1], minute=59)
                else:
                    wall = wall.replace(hour=23, minute=59) - _DAY
            elif wall.minute not in self._minutes:
                earlier = bisect_left(self._minutes, wall.minute)
                if earlier:
                    wall = wall.replace(minute=self._minutes[earlier - 1])
                else:
                    wall = wall.replace(minute=59) - _HOUR
            else:
                return wall
        return None


def _zone(tz: str | tzinfo | None) -> tzinfo:
    if tz is None:
        return UTC
    if isinstance(tz, tzinfo):
        return tz
    if isinstance(tz, str):
        try:
            return ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name such as "Europe", a folder
            raise ConfigurationError(f"unknown time zone {tz!r}") from None
    raise ConfigurationError(f"tz must be a time zone name, a tzinfo or None, not {tz!r}")


def _split(expression: str) -> list[str]:
    """The five fields of ``expression``, a shortcut replaced by its fields."""
    fields = expression.split()
    if len(fields) == 1 and fields[0].startswith("@"):
        shortcut = SHORTCUTS.get(fields[0].lower())
        if shortcut is None:
            raise ConfigurationError(f"unknown cron shortcut {fields[0]!r} in {expression!r};"
                                     f" the shortcuts are {', '.join(SHORTCUTS)}")
        return shortcut.split()
    if len(fields) != 5:
        raise ConfigurationError(f"cron expression {expression!r} has {len(fields)} fields, not 5"
                                 " (minute, hour, day of month, month, day of week)")
    return fields


def _values(text: str, index: int, expression: str) -> set[int]:
    """The values that the field number ``index``, written ``text``, allows."""
    name, low, high, names = FIELDS[index]

    def bad(detail: str) -> ConfigurationError:
        return ConfigurationError(f"cron field {name!r} {detail} in {expression!r}")

    def number(token: str, item: str) -> int:
        if not token:
            raise bad(f"item {item!r} is incomplete")
        if token.isascii() and token.isdigit():
            value = int(token)
            if not low <= value <= high:
                raise bad(f"value {value} is out of range {low}-{high}")
            return value
        if token.lower() in names:
            return names.index(token.lower()) + low
        kind = f"a number or a name ({names[0].upper()}-{names[-1].upper()})" if names else "a number"
        raise bad(f"value {token!r} is not {kind}")

    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise bad("has an empty list item")
        base, slash, step_text = item.partition("/")
        if base == "*":
            start, end = low, high
        else:
            first, dash, last = base.partition("-")
            start = number(first, item)
            end = number(last, item) if dash else high if slash else start
            if end < start:
                raise bad(f"range {base!r} is reversed")
        step = 1
        if slash:
            if not (step_text.isascii() and step_text.isdigit()):
                raise bad(f"step {step_text!r} is not a number")
            step = int(step_text)
            if not 1 <= step <= high:
                raise bad(f"step {step} is out of range 1-{high}")
        values.update(range(start, end + 1, step))
    return values
