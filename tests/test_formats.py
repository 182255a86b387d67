"""lilqueue.formats: moments, ages, counts and percentages as the JSON, the command line, the status page
and the dashboard write them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from lilqueue.formats import age, count, iso, percent, utc

MOMENT = datetime(2026, 12, 2, 9, 30, 5, 250000, tzinfo=UTC)


def test_a_moment_is_iso_8601_in_utc_ending_in_z_whatever_it_was_given_as():
    assert iso(MOMENT) == "2026-12-02T09:30:05.250000Z"
    assert iso(MOMENT.astimezone(timezone(timedelta(hours=-5)))) == "2026-12-02T09:30:05.250000Z"
    assert iso(MOMENT.timestamp()) == "2026-12-02T09:30:05.250000Z"
    assert iso("2026-12-02T10:30:05.25+01:00") == "2026-12-02T09:30:05.250000Z"
    assert iso(MOMENT.replace(microsecond=0)) == "2026-12-02T09:30:05Z"
    assert iso(None) is None


def test_the_command_lines_moments_are_one_word_to_the_second():
    assert iso(MOMENT, "seconds") == "2026-12-02T09:30:05Z"
    assert iso("2026-12-02T09:30:05.999Z", "seconds") == "2026-12-02T09:30:05Z"


def test_utc_reads_what_stats_and_rows_hold_and_keeps_none():
    assert utc("2026-12-02T09:30:05.25Z") == MOMENT
    assert utc(MOMENT.timestamp()) == MOMENT and utc(MOMENT.timestamp()).tzinfo is UTC
    assert utc(None) is None and utc("") is None


@pytest.mark.parametrize(("seconds", "shown"), [
    (0, "0ms"), (0.0042, "4ms"), (0.35, "350ms"), (1, "1s"), (4.25, "4.25s"), (42.1, "42.1s"),
    (185.2, "3m05s"), (3599, "59m59s"), (3600, "1h00m"), (7500, "2h05m"),
    (86400, "1d00h"), (3 * 86400 + 4 * 3600 + 59, "3d04h"),
])
def test_an_age_is_one_word_with_two_units_at_most(seconds, shown):
    assert age(seconds) == shown


def test_an_age_below_zero_from_clocks_apart_is_shown_as_none():
    assert age(-2.5) == "0ms"


def test_a_count_names_its_noun_in_the_singular_only_for_one():
    assert [count(n, "thread") for n in (0, 1, 2)] == ["0 threads", "1 thread", "2 threads"]


@pytest.mark.parametrize(("current", "total", "shown"), [
    (163, 300, "54%"), (1, 3, "33%"), (2, 3, "66%"), (999, 1000, "99%"), (0.29, 1, "29%"), (29, 100, "29%"),
    (0, 10, "0%"), (0.4, 100, "0%"), (300, 300, "100%"), (0.5, 0.5, "100%"),
])
def test_a_percentage_is_whole_rounded_down_with_no_space_so_that_100_means_all(current, total, shown):
    assert percent(current, total) == shown


def test_a_percentage_stays_within_0_and_100_when_a_task_reports_past_its_total():
    assert (percent(450, 300), percent(-3, 300)) == ("100%", "0%")


@pytest.mark.parametrize(("current", "total"), [(5, None), (5, 0), (None, 10), (None, None), (0, 0)])
def test_no_percentage_is_shown_while_no_total_is_known(current, total):
    assert percent(current, total) == ""


def test_a_succeeded_job_is_100_percent_whatever_it_last_reported():
    assert percent(None, None, done=True) == percent(3, 10, done=True) == "100%"
