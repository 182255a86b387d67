"""The in-task API: ``current_job()``, progress coalescing, bounded log lines, bad values.

Most tests drive a real ``CurrentJob`` bound to a job that a (pretend) worker has claimed on a
real database (SQLite or PostgreSQL), and read back what reached the job table."""

from __future__ import annotations

import time

import pytest

import lilqueue
from lilqueue.context import CurrentJob
from tests import tasks

WORKER = "test-worker"


def claim(queue: lilqueue.Queue, task: str = "hot_loop", args: list | None = None) -> CurrentJob:
    """Start a job, claim it as a registered worker would, and return its in-task object."""
    queue.start(task, args=[1] if args is None else args)
    queue.store.register(WORKER, "localhost", 1, 1, time.time())
    claimed = queue.store.claim(WORKER, time.time())
    assert claimed, "the job just started should be claimable"
    return CurrentJob(queue.store, claimed.id, claimed.task, WORKER, claimed.attempts,
                      queue.progress_interval, queue.max_logs)


def test_current_job_outside_a_worker_accepts_every_call_and_does_nothing():
    job = lilqueue.current_job()
    job.progress(1, total=2, message="half")
    job.progress("not even a number")
    job.log("info", "nobody reads this")
    job.check()
    assert job.canceled is False
    assert job.id is None


def test_a_task_calling_the_in_task_api_runs_unchanged_as_a_plain_function():
    assert tasks.steps(4, delay=0) == {"imported": 4}
    assert tasks.hot_loop(1000) == 1000


def test_current_job_inside_a_job_is_that_job(queue):
    ctx = claim(queue)
    with ctx.active():
        assert lilqueue.current_job() is ctx
        assert lilqueue.current_job().attempt == 1
    assert lilqueue.current_job() is not ctx


def test_a_tasks_text_with_nul_or_a_lone_surrogate_is_stored_alike_on_every_engine(queue, start_worker):
    ctx = claim(queue)
    ctx.log("info", "line\x00 17")
    ctx.progress(1, total=2, message="row \ud800")
    ctx.flush()
    job = queue.get(ctx.id)
    assert [line.message for line in job.logs] == ["line\ufffd 17"] and job.progress.message == "row \ufffd"
    start_worker()
    failed = queue.wait(queue.start("fail", ["bad\x00 \udfff"]).id, timeout=15)
    assert (failed.state, failed.error.type, failed.error.message) == ("failed", "ValueError", "bad\ufffd \ufffd")
    assert "bad\ufffd \ufffd" in failed.error.traceback


def test_the_first_progress_value_is_written_at_once(queue):
    ctx = claim(queue)
    before = queue.get(ctx.id).version
    ctx.progress(1, total=10, message="first")
    job = queue.get(ctx.id)
    assert (job.progress.current, job.progress.total, job.progress.message) == (1, 10, "first")
    assert job.progress.percent == 10
    assert job.version == before + 1


def test_a_million_progress_calls_are_cheap_and_cause_only_a_handful_of_writes(db_path):
    queue = tasks.build(db_path, progress_interval=0.05)
    ctx = claim(queue, args=[10**6])
    before = queue.get(ctx.id).version
    n = 10**6
    with ctx.active():
        began = time.perf_counter()
        tasks.hot_loop(n)
        elapsed = time.perf_counter() - began
    per_call = elapsed / n * 1e6
    writes = queue.get(ctx.id).version - before
    print(f"\nprogress(): {per_call:.3f} µs per call amortized, {writes} writes for {n} calls"
          f" in {elapsed:.3f} s (interval 0.05 s)")
    assert per_call < 3.0
    assert 1 <= writes <= elapsed / 0.05 + 3
    assert queue.get(ctx.id).progress.current >= 1


def test_the_last_progress_value_is_kept_for_the_final_write(queue):
    ctx = claim(queue)
    for i in range(1, 1001):
        ctx.progress(i, total=1000)
    stored = queue.get(ctx.id).progress.current
    assert stored < 1000, "calls within the interval are coalesced, not written one by one"
    final = ctx.final_writes()
    assert final.progress == (1000, 1000, None)
    assert (final.lines, final.dropped) == ([], 0)


def test_a_quiet_task_s_pending_value_is_written_once_the_interval_passed(queue):
    ctx = claim(queue)
    ctx.progress(1, total=3)
    ctx.progress(2, total=3)
    ctx.flush(due_only=True)
    assert queue.get(ctx.id).progress.current == 1, "not due yet"
    time.sleep(queue.progress_interval + 0.02)
    ctx.flush(due_only=True)
    assert queue.get(ctx.id).progress.current == 2


@pytest.mark.parametrize("interval", [0.2, 0.0], ids=["coalesced", "every-call"])
def test_log_lines_are_bounded_to_max_logs_and_the_dropped_ones_counted(db_path, interval):
    queue = tasks.build(db_path, max_logs=5, progress_interval=interval)
    ctx = claim(queue)
    for i in range(1, 13):
        ctx.log("info", f"line {i}")
    ctx.flush()
    job = queue.get(ctx.id)
    assert [line.message for line in job.logs] == [f"line {i}" for i in range(8, 13)]
    assert job.logs_dropped == 7
    assert all(line.level == "info" and line.ts.tzinfo is not None for line in job.logs)


def test_log_lines_keep_their_level_and_order(queue):
    ctx = claim(queue)
    for level in ("debug", "info", "warning", "error"):
        ctx.log(level, f"a {level} line")
    ctx.flush()
    job = queue.get(ctx.id)
    assert [(line.level, line.message) for line in job.logs] == [
        (level, f"a {level} line") for level in ("debug", "info", "warning", "error")]
    assert job.logs_dropped == 0


@pytest.mark.parametrize("level", ["warn", "INFO", "", None, 3])
def test_a_bad_log_level_raises_value_error(queue, level):
    ctx = claim(queue)
    with pytest.raises(ValueError, match="log level"):
        ctx.log(level, "x")
    ctx.flush()
    assert queue.get(ctx.id).logs == ()


@pytest.mark.parametrize(("args", "error"), [
    (("3",), TypeError),
    ((None,), TypeError),
    ((True,), TypeError),
    ((float("nan"),), TypeError),
    ((1, 0), ValueError),
    ((1, -5), ValueError),
    ((1, "10"), ValueError),
    ((1, 10, 42), TypeError),
])
def test_a_bad_progress_value_raises_at_the_call_that_passes_it(queue, args, error):
    ctx = claim(queue)
    ctx.progress(1, total=10)  # the first value is written; the next calls fall in the interval
    with pytest.raises(error):
        ctx.progress(*args)
    ctx.progress(2, total=10)
    assert ctx.final_writes().progress == (2, 10, None)


def test_a_bad_first_progress_value_raises_and_writes_nothing(queue):
    ctx = claim(queue)
    before = queue.get(ctx.id)
    with pytest.raises(TypeError):
        ctx.progress("one")
    after = queue.get(ctx.id)
    assert after.version == before.version
    assert after.progress.current is None


def test_a_canceled_job_s_next_progress_log_and_check_raise_canceled(queue):
    ctx = claim(queue)
    ctx.progress(1, total=10)
    queue.cancel(ctx.id)
    assert queue.get(ctx.id).cancel_requested
    time.sleep(queue.progress_interval + 0.02)
    with pytest.raises(lilqueue.Canceled):
        ctx.progress(2, total=10)  # this write learns of the cancel and the next call raises
        ctx.progress(3, total=10)
    assert ctx.canceled
    for call in (lambda: ctx.progress(4), lambda: ctx.log("info", "x"), ctx.check):
        with pytest.raises(lilqueue.Canceled):
            call()


def test_canceled_is_not_an_exception_a_task_can_swallow_by_accident():
    assert not issubclass(lilqueue.Canceled, Exception)
    assert issubclass(lilqueue.Canceled, BaseException)
