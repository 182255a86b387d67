"""``lilqueue.cron``: the syntax of each field, Vixie's day-of-month / day-of-week rule, the
shortcuts, the errors, ``next_after`` and ``latest`` across boundaries and daylight saving
time changes, and a property test against a minute-by-minute search."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from lilqueue.cron import Cron
from lilqueue.errors import ConfigurationError

PARIS = ZoneInfo("Europe/Paris")
MINUTE = timedelta(minutes=1)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def paris(*parts: int, fold: int = 0) -> datetime:
    return datetime(*parts, tzinfo=PARIS, fold=fold)


def slots(cron: Cron, start: datetime, count: int) -> list[datetime]:
    """The ``count`` slots after ``start``, one next_after from the other."""
    found = []
    for _ in range(count):
        start = cron.next_after(start)
        found.append(start)
    return found


def matching_minutes(matches: Callable[[datetime], bool], start: datetime, end: datetime) -> list[datetime]:
    """Every UTC minute from ``start`` up to ``end`` that ``matches``, found one minute at a time."""
    found, minute = [], start
    while minute <= end:
        if matches(minute):
            found.append(minute)
        minute += MINUTE
    return found


def test_a_star_matches_every_minute():
    assert slots(Cron("* * * * *"), utc(2026, 5, 4, 23, 58, 30), 3) == [
        utc(2026, 5, 4, 23, 59), utc(2026, 5, 5, 0, 0), utc(2026, 5, 5, 0, 1)]


def test_a_number_matches_only_that_minute_of_each_hour():
    cron = Cron("17 * * * *")
    assert slots(cron, utc(2026, 5, 4, 10, 17), 2) == [utc(2026, 5, 4, 11, 17), utc(2026, 5, 4, 12, 17)]
    assert cron.matches(utc(2026, 5, 4, 10, 17, 59)) and not cron.matches(utc(2026, 5, 4, 10, 18))


def test_a_range_includes_both_ends():
    cron = Cron("0 22-23 * * *")
    assert slots(cron, utc(2026, 5, 4, 12, 0), 3) == [
        utc(2026, 5, 4, 22, 0), utc(2026, 5, 4, 23, 0), utc(2026, 5, 5, 22, 0)]


def test_a_star_step_counts_from_the_lowest_value_of_the_field():
    assert slots(Cron("*/20 * * * *"), utc(2026, 5, 4, 10, 0), 3) == [
        utc(2026, 5, 4, 10, 20), utc(2026, 5, 4, 10, 40), utc(2026, 5, 4, 11, 0)]
    assert slots(Cron("0 0 */10 * *"), utc(2026, 5, 1, 0, 0), 3) == [
        utc(2026, 5, 11), utc(2026, 5, 21), utc(2026, 5, 31)]


def test_a_range_step_counts_from_the_start_of_the_range():
    assert slots(Cron("10-30/10 * * * *"), utc(2026, 5, 4, 10, 0), 4) == [
        utc(2026, 5, 4, 10, 10), utc(2026, 5, 4, 10, 20), utc(2026, 5, 4, 10, 30), utc(2026, 5, 4, 11, 10)]


def test_a_start_with_a_step_runs_to_the_highest_value_of_the_field():
    assert slots(Cron("50/4 * * * *"), utc(2026, 5, 4, 10, 0), 4) == [
        utc(2026, 5, 4, 10, 50), utc(2026, 5, 4, 10, 54), utc(2026, 5, 4, 10, 58), utc(2026, 5, 4, 11, 50)]


def test_a_list_combines_numbers_ranges_and_steps():
    cron = Cron("1,5-6,30-40/5 * * * *")
    assert [slot.minute for slot in slots(cron, utc(2026, 5, 4, 10, 0), 7)] == [1, 5, 6, 30, 35, 40, 1]


def test_month_and_weekday_names_are_case_insensitive():
    assert slots(Cron("0 12 * feb-Mar,DEC *"), utc(2026, 3, 31, 13, 0), 1) == [utc(2026, 12, 1, 12, 0)]
    # 2026-05-08 is a Friday: the next weekday noon is Monday the 11th
    assert slots(Cron("0 12 * * Mon-fri"), utc(2026, 5, 8, 12, 0), 1) == [utc(2026, 5, 11, 12, 0)]


def test_seven_and_zero_both_mean_sunday():
    sunday = utc(2026, 5, 10, 9, 0)
    for weekday in ("0", "7", "SUN"):
        assert Cron(f"0 9 * * {weekday}").next_after(utc(2026, 5, 4)) == sunday


def test_a_weekday_range_up_to_seven_ends_on_sunday():
    days = [slot.day for slot in slots(Cron("0 0 * * 5-7"), utc(2026, 5, 4), 4)]
    assert days == [8, 9, 10, 15]  # Friday, Saturday, Sunday, Friday


def test_when_both_day_fields_are_restricted_a_day_matches_if_either_does():
    # Fridays of March 2026: 6, 13, 20, 27; and every 13th
    days = [slot.date().isoformat() for slot in slots(Cron("0 0 13 * FRI"), utc(2026, 3, 1), 6)]
    assert days == ["2026-03-06", "2026-03-13", "2026-03-20", "2026-03-27", "2026-04-03", "2026-04-10"]
    assert Cron("0 0 13 * FRI").matches(utc(2026, 4, 13))  # a Monday the 13th


def test_when_the_day_of_week_is_a_star_only_the_day_of_month_counts():
    assert slots(Cron("0 0 13 * *"), utc(2026, 3, 1), 2) == [utc(2026, 3, 13), utc(2026, 4, 13)]


def test_when_the_day_of_month_is_a_star_only_the_day_of_week_counts():
    assert slots(Cron("0 0 * * FRI"), utc(2026, 3, 1), 2) == [utc(2026, 3, 6), utc(2026, 3, 13)]


def test_a_day_field_that_starts_with_a_star_step_counts_as_unrestricted():
    # Vixie's rule: "*/2" is a star, so a day must be both odd and a Friday (not either)
    days = [slot.day for slot in slots(Cron("0 0 */2 * FRI"), utc(2026, 3, 1), 3)]
    assert days == [13, 27, 3]  # March 13 and 27, April 3


@pytest.mark.parametrize(("shortcut", "start", "expected"), [
    ("@hourly", utc(2026, 5, 4, 10, 0), [utc(2026, 5, 4, 11, 0), utc(2026, 5, 4, 12, 0)]),
    ("@daily", utc(2026, 5, 4, 10, 0), [utc(2026, 5, 5), utc(2026, 5, 6)]),
    ("@midnight", utc(2026, 5, 4, 10, 0), [utc(2026, 5, 5), utc(2026, 5, 6)]),
    ("@weekly", utc(2026, 5, 4, 10, 0), [utc(2026, 5, 10), utc(2026, 5, 17)]),
    ("@monthly", utc(2026, 5, 4, 10, 0), [utc(2026, 6, 1), utc(2026, 7, 1)]),
    ("@yearly", utc(2026, 5, 4, 10, 0), [utc(2027, 1, 1), utc(2028, 1, 1)]),
    ("@annually", utc(2026, 5, 4, 10, 0), [utc(2027, 1, 1), utc(2028, 1, 1)]),
    ("@DAILY", utc(2026, 5, 4, 10, 0), [utc(2026, 5, 5), utc(2026, 5, 6)]),
])
def test_a_shortcut_runs_at_the_times_of_its_five_fields(shortcut, start, expected):
    assert slots(Cron(shortcut), start, 2) == expected


@pytest.mark.parametrize(("expression", "message"), [
    ("61 * * * *", "cron field 'minute' value 61 is out of range 0-59 in '61 * * * *'"),
    ("* 24 * * *", "cron field 'hour' value 24 is out of range 0-23 in '* 24 * * *'"),
    ("* * 0 * *", "cron field 'day of month' value 0 is out of range 1-31 in '* * 0 * *'"),
    ("* * * 13 *", "cron field 'month' value 13 is out of range 1-12 in '* * * 13 *'"),
    ("* * * * 8", "cron field 'day of week' value 8 is out of range 0-7 in '* * * * 8'"),
    ("*/0 * * * *", "cron field 'minute' step 0 is out of range 1-59 in '*/0 * * * *'"),
    ("0 */24 * * *", "cron field 'hour' step 24 is out of range 1-23 in '0 */24 * * *'"),
    ("*/x * * * *", "cron field 'minute' step 'x' is not a number in '*/x * * * *'"),
    ("1-5/ * * * *", "cron field 'minute' step '' is not a number in '1-5/ * * * *'"),
    ("0 5-1 * * *", "cron field 'hour' range '5-1' is reversed in '0 5-1 * * *'"),
    ("0 0 * * FRI-MON", "cron field 'day of week' range 'FRI-MON' is reversed in '0 0 * * FRI-MON'"),
    ("x * * * *", "cron field 'minute' value 'x' is not a number in 'x * * * *'"),
    ("-5 * * * *", "cron field 'minute' item '-5' is incomplete in '-5 * * * *'"),
    ("1,,2 * * * *", "cron field 'minute' has an empty list item in '1,,2 * * * *'"),
    ("0 0 MON * *", "cron field 'day of month' value 'MON' is not a number in '0 0 MON * *'"),
    ("0 0 1 JANUARY *", "cron field 'month' value 'JANUARY' is not a number or a name (JAN-DEC) in '0 0 1 JANUARY *'"),
    ("0 0 * * FUN", "cron field 'day of week' value 'FUN' is not a number or a name (SUN-SAT) in '0 0 * * FUN'"),
    ("* * * *", "cron expression '* * * *' has 4 fields, not 5 (minute, hour, day of month, month, day of week)"),
    ("0 0 * * * *", "cron expression '0 0 * * * *' has 6 fields, not 5 (minute, hour, day of month, month,"
                    " day of week)"),
    ("", "cron expression '' has 0 fields, not 5 (minute, hour, day of month, month, day of week)"),
    ("@reboot", "unknown cron shortcut '@reboot' in '@reboot'; the shortcuts are @hourly, @daily, @midnight,"
                " @weekly, @monthly, @yearly, @annually"),
    ("0 0 30 2 *", "cron expression '0 0 30 2 *' never matches: day of month '30' does not occur in month '2'"),
    ("0 0 31 4,6,9,11 *", "cron expression '0 0 31 4,6,9,11 *' never matches: day of month '31' does not occur"
                          " in month '4,6,9,11'"),
    ("0 0 30-31 FEB */7", "cron expression '0 0 30-31 FEB */7' never matches: day of month '30-31' does not"
                          " occur in month 'FEB'"),
])
def test_a_malformed_expression_is_refused_with_a_message_naming_the_bad_part(expression, message):
    with pytest.raises(ConfigurationError) as caught:
        Cron(expression)
    assert str(caught.value) == message


def test_an_expression_that_is_not_a_string_is_refused():
    with pytest.raises(ConfigurationError, match="a cron expression must be a string, not 5"):
        Cron(5)  # type: ignore[arg-type]


def test_a_day_that_exists_in_another_allowed_month_or_as_a_weekday_is_accepted():
    assert Cron("0 0 31 2,3 *").next_after(utc(2026, 1, 1)) == utc(2026, 3, 31)
    assert Cron("0 0 30 2 MON").next_after(utc(2026, 1, 1)) == utc(2026, 2, 2)  # either rule: Mondays


@pytest.mark.parametrize("tz", ["Nowhere/City", "Europe", "", "../etc/passwd"])
def test_an_unknown_time_zone_name_is_refused(tz):
    with pytest.raises(ConfigurationError) as caught:
        Cron("* * * * *", tz=tz)
    assert str(caught.value) == f"unknown time zone {tz!r}"


def test_a_tz_that_is_neither_a_name_nor_a_tzinfo_is_refused():
    with pytest.raises(ConfigurationError, match="tz must be a time zone name, a tzinfo or None, not 2"):
        Cron("* * * * *", tz=2)  # type: ignore[arg-type]


def test_a_naive_datetime_is_refused():
    cron = Cron("* * * * *")
    for method in (cron.matches, cron.next_after, cron.latest):
        with pytest.raises(ConfigurationError, match="cron times must be aware datetimes"):
            method(datetime(2026, 5, 4, 10, 0))


def test_the_expression_and_the_zone_are_kept_and_shown():
    cron = Cron("*/5 * * * *", tz="Europe/Paris")
    assert cron.expression == "*/5 * * * *" and cron.tz == PARIS
    assert repr(cron) == "Cron('*/5 * * * *', tz='Europe/Paris')"
    assert Cron("@daily").tz is UTC and repr(Cron("@daily")) == "Cron('@daily', tz='UTC')"


def test_next_after_is_strictly_after_and_ignores_seconds():
    cron = Cron("30 * * * *")
    assert cron.next_after(utc(2026, 5, 4, 10, 30)) == utc(2026, 5, 4, 11, 30)
    assert cron.next_after(utc(2026, 5, 4, 10, 29, 59, 999999)) == utc(2026, 5, 4, 10, 30)
    assert cron.next_after(utc(2026, 5, 4, 10, 30, 0, 1)) == utc(2026, 5, 4, 11, 30)


def test_latest_includes_the_minute_of_when_and_ignores_seconds():
    cron = Cron("30 * * * *")
    assert cron.latest(utc(2026, 5, 4, 10, 30, 59)) == utc(2026, 5, 4, 10, 30)
    assert cron.latest(utc(2026, 5, 4, 10, 29, 59)) == utc(2026, 5, 4, 9, 30)


def test_results_are_utc_datetimes_whatever_the_zone_of_when():
    result = Cron("0 9 * * *").next_after(paris(2026, 5, 4, 12, 0))
    assert result == utc(2026, 5, 5, 9, 0) and result.tzinfo is UTC and result.second == 0


@pytest.mark.parametrize(("expression", "when", "after", "before"), [
    ("59 * * * *", utc(2026, 5, 4, 11, 0), utc(2026, 5, 4, 11, 59), utc(2026, 5, 4, 10, 59)),
    ("0 0 * * *", utc(2026, 5, 4, 23, 59), utc(2026, 5, 5, 0, 0), utc(2026, 5, 4, 0, 0)),
    ("15 6 1 * *", utc(2026, 4, 30, 12, 0), utc(2026, 5, 1, 6, 15), utc(2026, 4, 1, 6, 15)),
    ("0 0 31 * *", utc(2026, 5, 1), utc(2026, 5, 31), utc(2026, 3, 31)),
    ("59 23 31 12 *", utc(2026, 6, 1), utc(2026, 12, 31, 23, 59), utc(2025, 12, 31, 23, 59)),
    ("0 0 1 1 *", utc(2026, 12, 31, 23, 59), utc(2027, 1, 1), utc(2026, 1, 1)),
    ("0 12 * 3 MON", utc(2026, 2, 1), utc(2026, 3, 2, 12, 0), utc(2025, 3, 31, 12, 0)),
])
def test_next_after_and_latest_cross_hours_days_months_and_years(expression, when, after, before):
    cron = Cron(expression)
    assert cron.next_after(when) == after
    assert cron.latest(when) == before


def test_a_leap_day_expression_runs_only_in_leap_years():
    cron = Cron("0 0 29 2 *")
    assert cron.next_after(utc(2025, 1, 1)) == utc(2028, 2, 29)
    assert cron.next_after(utc(2096, 2, 29)) == utc(2104, 2, 29)  # 2100 is not a leap year
    assert cron.latest(utc(2025, 3, 1)) == utc(2024, 2, 29)


def test_latest_looks_back_a_year_and_a_day_at_most():
    assert Cron("0 0 29 2 *").latest(utc(2026, 3, 1)) is None
    assert Cron("0 0 1 3 *").latest(utc(2024, 2, 29, 23, 59)) == utc(2023, 3, 1)  # 366 days back


def test_an_expression_is_matched_on_the_wall_clock_of_its_zone():
    cron = Cron("0 9 * * *", tz="Europe/Paris")
    assert cron.next_after(utc(2026, 1, 15)) == utc(2026, 1, 15, 8, 0)   # CET, UTC+1
    assert cron.next_after(utc(2026, 7, 15)) == utc(2026, 7, 15, 7, 0)   # CEST, UTC+2
    assert Cron("0 9 * * *", tz=PARIS).next_after(utc(2026, 7, 15)) == utc(2026, 7, 15, 7, 0)


def test_a_minute_skipped_by_the_spring_forward_is_no_slot():
    cron = Cron("30 2 * * *", tz="Europe/Paris")  # 2026-03-29: 02:00 CET jumps to 03:00 CEST
    assert cron.next_after(paris(2026, 3, 28, 2, 30)) == utc(2026, 3, 30, 0, 30)
    assert cron.latest(paris(2026, 3, 30, 2, 0)) == utc(2026, 3, 28, 1, 30)
    assert matching_minutes(cron.matches, utc(2026, 3, 28, 22, 0), utc(2026, 3, 29, 22, 0)) == []


def test_a_minute_repeated_by_the_fall_back_is_one_slot_its_first_occurrence():
    cron = Cron("30 2 * * *", tz="Europe/Paris")  # 2026-10-25: 03:00 CEST goes back to 02:00 CET
    first = utc(2026, 10, 25, 0, 30)  # 02:30 CEST; 01:30 UTC is 02:30 CET
    assert matching_minutes(cron.matches, utc(2026, 10, 24, 23, 0), utc(2026, 10, 25, 23, 0)) == [first]
    assert cron.next_after(utc(2026, 10, 24, 12, 0)) == first
    assert cron.next_after(first) == utc(2026, 10, 26, 1, 30)
    assert not cron.matches(paris(2026, 10, 25, 2, 30, fold=1))
    assert cron.latest(paris(2026, 10, 25, 2, 10, fold=1)) == first  # the second pass at 02:10 CET
    assert cron.latest(paris(2026, 10, 25, 2, 10)) == utc(2026, 10, 24, 0, 30)  # the first pass at 02:10 CEST


def test_an_interval_in_a_zone_pauses_for_the_repeated_hour():
    cron = Cron("*/30 * * * *", tz="Europe/Paris")
    assert slots(cron, utc(2026, 10, 24, 23, 45), 4) == [
        utc(2026, 10, 25, 0, 0), utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 2, 0), utc(2026, 10, 25, 2, 30)]


def test_searches_jump_over_what_cannot_match_instead_of_walking_each_minute():
    expressions = [Cron(text, tz="Europe/Paris") for text in ("0 0 29 2 *", "59 23 31 12 *", "0 0 13 * FRI",
                                                              "*/7 3-5 */3 JUN-AUG 1-5", "0 0 */31 2 1")]
    started = time.perf_counter()
    for cron in expressions:
        for day in range(0, 365, 9):
            when = utc(2026, 1, 1) + timedelta(days=day, minutes=day * 37)
            cron.next_after(when)
            cron.latest(when)
    calls = 2 * len(expressions) * len(range(0, 365, 9))
    # a minute-by-minute search over a year takes about a second a call; jumps take about 0.05 ms
    assert (time.perf_counter() - started) / calls < 0.005


def field(low: int, high: int) -> st.SearchStrategy[str]:
    """A random field between ``low`` and ``high``, using every form of item."""
    value = st.integers(low, high)
    step = st.integers(1, high)
    item = st.one_of(
        st.just("*"),
        value.map(str),
        st.tuples(value, value).map(lambda pair: "{}-{}".format(*sorted(pair))),
        step.map(lambda n: f"*/{n}"),
        st.tuples(value, value, step).map(lambda t: "{}-{}/{}".format(*sorted(t[:2]), t[2])),
        st.tuples(value, step).map(lambda t: f"{t[0]}/{t[1]}"),
    )
    return st.lists(item, min_size=1, max_size=3).map(",".join)


# Mostly "*" for the day and month fields, so that slots are often found within the window, and
# often the hours that daylight saving time changes skip or repeat.
EXPRESSIONS = st.tuples(
    field(0, 59), st.one_of(field(0, 23), st.sampled_from(["*", "1-3", "2", "0,2", "*/2", "22/1"])),
    st.one_of(st.just("*"), field(1, 31)), st.one_of(st.just("*"), field(1, 12)), st.one_of(st.just("*"), field(0, 7)),
).map(" ".join)

# The daylight saving time changes of 2026 in each zone (Lord Howe moves by 30 minutes); UTC and
# Kolkata have none, any date will do.
CHANGES = {
    "UTC": [utc(2026, 3, 29, 1)],
    "Asia/Kolkata": [utc(2026, 3, 29, 1)],
    "Europe/Paris": [utc(2026, 3, 29, 1), utc(2026, 10, 25, 1)],
    "America/New_York": [utc(2026, 3, 8, 7), utc(2026, 11, 1, 6)],
    "Australia/Lord_Howe": [utc(2026, 4, 4, 15), utc(2026, 10, 3, 15, 30)],
}


@st.composite
def cases(draw: st.DrawFn) -> tuple[Cron, datetime, timedelta]:
    try:
        cron = Cron(draw(EXPRESSIONS), tz=draw(st.sampled_from(sorted(CHANGES))))
    except ConfigurationError as exc:
        assert "never matches" in str(exc)
        reject()
    near_change = st.sampled_from(CHANGES[str(cron.tz)]).flatmap(
        lambda change: st.integers(-6 * 60, 6 * 60).map(lambda minutes: change + timedelta(minutes=minutes)))
    anytime = st.datetimes(datetime(2024, 1, 1), datetime(2028, 12, 31), timezones=st.just(UTC))
    start = draw(st.one_of(near_change, anytime))
    start += timedelta(seconds=draw(st.integers(0, 59)), microseconds=draw(st.integers(0, 999999)))
    if draw(st.booleans()):
        start = start.astimezone(cron.tz)  # the same instant, written in the expression's zone
    return cron, start, timedelta(minutes=draw(st.integers(1, 12 * 60)))


def reference(expression: str, tz: tzinfo) -> Callable[[datetime], bool]:
    """``matches`` written again from the rules, as plainly as can be, for numeric expressions."""
    def values(text: str, low: int, high: int) -> set[int]:
        found: set[int] = set()
        for item in text.split(","):
            base, _, step = item.partition("/")
            first, _, last = base.partition("-")
            start, end = (low, high) if base == "*" else (int(first), int(last or (high if step else first)))
            found.update(range(start, end + 1, int(step or 1)))
        return found

    minutes, hours, days, months, weekdays = expression.split()
    allowed = [values(minutes, 0, 59), values(hours, 0, 23), values(days, 1, 31), values(months, 1, 12),
               {day % 7 for day in values(weekdays, 0, 7)}]
    either = not days.startswith("*") and not weekdays.startswith("*")

    def matches(instant: datetime) -> bool:
        local = instant.astimezone(tz)
        if local.fold and local.replace(fold=0).utcoffset() != local.utcoffset():
            return False  # a minute shown twice counts on its first pass only
        by_date, by_weekday = local.day in allowed[2], local.isoweekday() % 7 in allowed[4]
        return (local.minute in allowed[0] and local.hour in allowed[1] and local.month in allowed[3]
                and ((by_date or by_weekday) if either else (by_date and by_weekday)))
    return matches


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(cases())
def test_next_after_and_latest_agree_with_a_minute_by_minute_search(case):
    cron, when, window = case
    matches = reference(cron.expression, cron.tz)
    floor = when.astimezone(UTC).replace(second=0, microsecond=0)
    later = matching_minutes(matches, floor + MINUTE, floor + window)
    earlier = matching_minutes(matches, floor - window, floor)
    after, before = cron.next_after(when), cron.latest(when)
    assert cron.matches(when) == matches(when)
    if later:
        assert after == later[0]
    else:
        assert after > floor + window and matches(after)
    if earlier:
        assert before == earlier[-1]
    else:
        assert before is None or (before < floor - window and matches(before))
