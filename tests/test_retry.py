"""``raise lilqueue.Retry(delay=...)`` inside a task, and automatic retries with backoff, on real
worker processes: the delay is kept, attempts count within ``retries``, and past them the job
fails with the error the Retry came from."""

from __future__ import annotations

import random
import re
from datetime import timedelta

import pytest

import lilqueue
from tests import tasks


def began(job) -> list[float]:
    """When each attempt began, from the lines the task logged."""
    return [float(m.group(1)) for line in job.logs if (m := re.search(r"began at ([\d.]+)", line.message))]


def retry_delays(job) -> list[float]:
    return [float(m.group(1)) for line in job.logs if (m := re.search(r"retrying in ([\d.]+) s", line.message))]


def test_a_task_that_raises_retry_runs_again_after_the_delay_it_asked_for(queue, start_worker):
    start_worker(2)
    job = queue.wait(queue.start("asks_retry", [0.4, 2]).id, timeout=30)
    assert (job.state, job.result, job.attempts) == ("succeeded", 3, 3)
    times = began(job)
    assert len(times) == 3
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    assert all(gap >= 0.4 for gap in gaps), gaps  # never early
    assert all(gap < 5 for gap in gaps), gaps
    assert retry_delays(job) == [0.4, 0.4]


def test_a_retry_past_the_tasks_retries_fails_the_job_and_says_so(queue, start_worker):
    start_worker(1)
    job = queue.wait(queue.start("asks_retry", [0.05, 10]).id, timeout=30)
    assert (job.state, job.attempts) == ("failed", 4)  # the first run and its 3 retries
    assert job.error.type == "Retry"
    assert "asked for a retry after attempt 4; the task allows 3 retries" in job.error.message
    assert len(began(job)) == 4


def test_a_retry_raised_from_an_error_fails_with_that_error_once_retries_are_used(queue, start_worker):
    start_worker(1)
    job = queue.wait(queue.start("asks_retry_from", ["upstream 503"]).id, timeout=30)
    assert (job.state, job.attempts, job.error.type) == ("failed", 2, "ConnectionError")
    assert job.error.message.startswith("upstream 503 (asked for a retry after attempt 2")
    assert [line.message for line in job.logs if "retrying" in line.message] == [
        "attempt 1 failed (ConnectionError: upstream 503); retrying in 0.05 s"]


def test_backoff_doubles_the_delay_up_to_its_cap_with_jitter_in_the_upper_half(queue, start_worker):
    start_worker(1)
    job = queue.wait(queue.start("backs_off", ["down"]).id, timeout=30)
    assert (job.state, job.attempts) == ("failed", 4)
    delays = retry_delays(job)
    # retry_delay 0.2 is raised to the 1 s floor, then capped at 0.5: every wait is in [0.25, 0.5].
    assert len(delays) == 3 and all(0.25 <= d <= 0.5 for d in delays), delays


def test_retry_wait_grows_exponentially_and_stays_within_its_bounds(queue):
    task = queue.task(name="backoff_probe", retries=10, retry_delay=2, retry_backoff=True,
                      retry_backoff_max=60)(tasks.noop)
    random.seed(7)
    for attempt, ceiling in [(1, 2), (2, 4), (3, 8), (4, 16), (5, 32), (6, 60), (9, 60), (500, 60)]:
        waits = [task.retry_wait(attempt) for _ in range(200)]
        assert all(ceiling / 2 <= w <= ceiling for w in waits), (attempt, min(waits), max(waits))
        assert max(waits) - min(waits) > ceiling / 4  # jittered, not a fixed point
    plain = queue.task(name="plain_probe", retries=1, retry_delay=3)(tasks.noop)
    assert [plain.retry_wait(n) for n in (1, 2, 3)] == [3, 3, 3]


@pytest.mark.parametrize("delay", [-1, float("nan"), float("inf"), "5", True])
def test_a_retry_with_a_bad_delay_is_a_value_error_at_once(delay):
    with pytest.raises(ValueError, match="Retry"):
        lilqueue.Retry(delay=delay)


def test_a_retry_takes_a_timedelta():
    assert lilqueue.Retry(delay=timedelta(minutes=2)).delay == 120.0


@pytest.mark.parametrize("options, named", [({"retry_backoff": 1}, "retry_backoff"),
                                             ({"retry_backoff_max": 0}, "retry_backoff_max")])
def test_bad_backoff_options_fail_at_decoration(queue, options, named):
    with pytest.raises(lilqueue.ConfigurationError, match=named):
        queue.task(name="bad", **options)(tasks.noop)
