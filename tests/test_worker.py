"""End to end: real ``python -m lilqueue worker tests.tasks:queue`` processes on a real database
(a SQLite file, a PostgreSQL schema), driven through a Queue on the same database
(``tests.tasks.build``: heartbeat_timeout=2.0)."""

from __future__ import annotations

import os
import signal
import statistics
import threading
import time

import pytest

from tests import engines, tasks
from tests.conftest import wait_for, worker_count

HEARTBEAT_TIMEOUT = 2.0  # what tests.tasks.build gives the queue and the worker


def running(queue, job_id, timeout=15.0):
    return wait_for(lambda: queue.get(job_id).state == "running", timeout=timeout)


def finished(queue, job_id, timeout=15.0):
    return wait_for(lambda: (job := queue.get(job_id)).finished and job, timeout=timeout)


def messages(db_path: str) -> int:
    return engines.sql(db_path, f"select count(*) from {engines.huey_table(db_path, 'task')}")[0][0]


def test_a_job_runs_and_its_progress_is_seen_in_order(queue, start_worker):
    start_worker(threads=2)
    job = queue.start("steps", args=[40], kwargs={"delay": 0.02})
    seen = []
    while not (current := queue.get(job.id)).finished:
        seen.append(current)
        time.sleep(0.005)
    seen.append(current)
    progress = [j.progress.current for j in seen if j.progress.current is not None]
    versions = [j.version for j in seen]
    assert progress == sorted(progress), "progress.current never goes back"
    assert versions == sorted(versions), "the version never goes back"
    assert all(a.version < b.version for a, b in zip(seen, seen[1:], strict=False) if a != b), \
        "every change bumps the version"
    assert len(set(progress) - {40}) >= 2, f"intermediate progress was seen: {sorted(set(progress))}"
    assert current.state == "succeeded" and current.result == {"imported": 40}
    assert (current.progress.current, current.progress.total, current.progress.percent) == (40, 40, 100)
    assert current.progress.message == "step 40"
    assert len(current.logs) == 13 and current.logs[-1].message == "cannot import line 39"
    assert current.attempts == 1
    assert current.created_at <= current.started_at <= current.finished_at


def test_a_failure_is_recorded_with_its_error_and_traceback(queue, start_worker):
    start_worker(threads=1)
    job = finished(queue, queue.start("fail", args=["bad row 7"]).id)
    assert job.state == "failed" and job.result is None
    assert (job.error.type, job.error.message) == ("ValueError", "bad row 7")
    assert "Traceback" in job.error.traceback and "in fail" in job.error.traceback
    assert job.to_dict()["error"] == {"type": "ValueError", "message": "bad row 7"}
    assert job.attempts == 1 and job.finished_at is not None


def test_a_result_that_is_not_json_fails_the_job_clearly(queue, start_worker):
    start_worker(threads=1)
    job = finished(queue, queue.start("unserializable").id)
    assert job.state == "failed" and job.result is None
    assert job.error.type == "TypeError" and "not a JSON value" in job.error.message


def test_a_canceled_queued_job_never_runs(queue, start_worker, db_path):
    job = queue.start("add", args=[1, 2])
    assert queue.cancel(job.id).state == "canceled"
    start_worker(threads=1)
    after = finished(queue, queue.start("noop").id)  # FIFO: the canceled message came up first
    assert after.state == "succeeded"
    job = queue.get(job.id)
    assert (job.state, job.started_at, job.attempts, job.result) == ("canceled", None, 0, None)
    assert messages(db_path) == 0


def test_a_canceled_cooperative_job_ends_canceled_and_is_not_retried(queue, start_worker):
    start_worker(threads=1)
    job = queue.start("sleepy_retry", args=[30])
    running(queue, job.id)
    asked = time.monotonic()
    queue.cancel(job.id)
    done = finished(queue, job.id, timeout=10)
    took = time.monotonic() - asked
    assert done.state == "canceled" and done.error is None, done
    assert took < 3, f"cancel took {took:.2f} s"
    time.sleep(0.5)
    again = queue.get(job.id)
    assert (again.state, again.attempts) == ("canceled", 1)


def test_a_canceled_isolated_job_is_stopped_and_the_worker_goes_on(queue, start_worker):
    worker = start_worker(threads=1)
    job = queue.start("spin", args=[60])
    wait_for(lambda: queue.get(job.id).progress.message == "spinning", timeout=15)
    asked = time.monotonic()
    queue.cancel(job.id)
    done = finished(queue, job.id, timeout=10)
    took = time.monotonic() - asked
    print(f"\nisolated cancel took {took:.2f} s")
    assert done.state == "canceled"
    assert took < 5
    assert worker.process.poll() is None
    assert finished(queue, queue.start("add", args=[2, 3]).id).result == 5


def test_a_job_past_its_timeout_fails_with_a_timeout_error(queue, start_worker):
    start_worker(threads=1)
    job = queue.start("timed", args=[30])
    done = finished(queue, job.id, timeout=15)
    assert done.state == "failed"
    assert done.error.type == "TimeoutError" and "timeout" in done.error.message
    ran = (done.finished_at - done.started_at).total_seconds()
    assert 0.5 <= ran < 4, f"ran {ran:.2f} s with a 0.5 s timeout"
    assert done.attempts == 1


def test_a_flaky_job_is_retried_until_it_succeeds(queue, start_worker):
    start_worker(threads=1)
    done = finished(queue, queue.start("flaky", args=[2]).id)
    assert (done.state, done.result, done.attempts, done.error) == ("succeeded", 3, 3, None)
    warnings = [line.message for line in done.logs if line.level == "warning"]
    assert len(warnings) == 2 and "attempt 1 failed (RuntimeError: attempt 1 fails)" in warnings[0]


def test_a_job_that_exhausts_its_retries_fails_with_the_last_error(queue, start_worker):
    start_worker(threads=1)
    done = finished(queue, queue.start("flaky", args=[5]).id)
    assert (done.state, done.attempts) == ("failed", 3)
    assert (done.error.type, done.error.message) == ("RuntimeError", "attempt 3 fails")


def test_the_jobs_of_a_killed_worker_fail_as_lost_or_run_again_when_they_have_retries(
        queue, start_worker):
    first = start_worker(threads=2)
    lost = queue.start("sleepy", args=[60])
    retried = queue.start("sleepy_retry", args=[1.0])
    running(queue, lost.id)
    running(queue, retried.id)
    first.kill_group()
    killed = time.monotonic()
    start_worker(2, wait=False)  # it may delete the dead worker's row first: the row count cannot tell
    done = finished(queue, lost.id, timeout=HEARTBEAT_TIMEOUT + 10)
    noticed = time.monotonic() - killed
    print(f"\nlost job noticed {noticed:.2f} s after kill -9 (heartbeat_timeout {HEARTBEAT_TIMEOUT})")
    assert done.state == "failed"
    assert done.error.type == "WorkerLost" and "worker lost" in done.error.message
    assert noticed < HEARTBEAT_TIMEOUT + 3
    again = finished(queue, retried.id, timeout=HEARTBEAT_TIMEOUT + 10)
    assert (again.state, again.result, again.attempts) == ("succeeded", "slept", 2)
    assert any("was lost with its worker" in line.message for line in again.logs)


def test_a_restarted_worker_takes_back_the_job_its_predecessor_left_running(queue, start_worker):
    first = start_worker(threads=1)
    job = queue.start("sleepy", args=[60])
    running(queue, job.id)
    first.kill_group()
    time.sleep(HEARTBEAT_TIMEOUT / 2)  # the dead worker's heartbeat is stale when the next one starts
    start_worker(1, wait=False)  # it deletes the dead worker's row, so the row count cannot say it is up
    assert finished(queue, job.id, timeout=5).error.type == "WorkerLost"
    assert queue.store.counts() == {"queued": 0, "running": 0}


def test_sigterm_lets_a_running_job_finish_within_grace_and_exits_zero(queue, start_worker, db_path):
    worker = start_worker(1, "--grace", "5")
    job = queue.start("sleepy", args=[0.5])
    running(queue, job.id)
    signaled = time.monotonic()
    worker.signal(signal.SIGTERM)
    assert worker.wait(10) == 0
    assert time.monotonic() - signaled < 3, "it exits once the job is done, not when grace ends"
    assert queue.get(job.id).state == "succeeded"
    assert worker_count(db_path) == 0


def test_sigterm_hands_back_a_job_that_outlives_grace_and_a_later_worker_finishes_it(
        queue, start_worker, db_path):
    worker = start_worker(3, "--grace", "1")
    stubborn = queue.start("hang", args=[3.5])    # never checks: handed back when grace ends
    polite = queue.start("sleepy", args=[30])     # checks: stopped after grace, handed back
    isolated = queue.start("spin", args=[30])     # its process is stopped after grace, handed back
    running(queue, stubborn.id)
    running(queue, polite.id)
    running(queue, isolated.id)
    signaled = time.monotonic()
    worker.signal(signal.SIGTERM)
    assert worker.wait(10) == 0
    took = time.monotonic() - signaled
    print(f"\nSIGTERM to exit with --grace 1: {took:.2f} s")
    assert took < 1 + 1 + 2
    for job_id in (stubborn.id, polite.id, isolated.id):
        job = queue.get(job_id)
        assert (job.state, job.started_at, job.attempts) == ("queued", None, 0), job
    assert queue.store.counts() == {"queued": 3, "running": 0}
    assert "handed back" in worker.output()
    queue.cancel(polite.id)
    queue.cancel(isolated.id)
    start_worker(2)
    assert finished(queue, stubborn.id, timeout=15).result == "woke"
    assert queue.get(polite.id).state == queue.get(isolated.id).state == "canceled"


def test_a_second_sigterm_skips_the_grace(queue, start_worker):
    worker = start_worker(1, "--grace", "30")
    job = queue.start("hang", args=[30])
    running(queue, job.id)
    signaled = time.monotonic()
    worker.signal(signal.SIGTERM)
    time.sleep(0.2)
    worker.signal(signal.SIGTERM)
    assert worker.wait(10) == 0
    assert time.monotonic() - signaled < 4
    assert queue.get(job.id).state == "queued"


def test_sigint_stops_an_idle_worker_at_once(start_worker):
    worker = start_worker(1)
    began = time.monotonic()
    worker.signal(signal.SIGINT)
    assert worker.wait(10) == 0
    assert time.monotonic() - began < 2


def test_a_key_returns_the_running_job_and_starts_a_new_one_after_it_finished(queue, start_worker):
    start_worker(threads=2)
    first = queue.start("sleepy", args=[0.5], key="import-42")
    running(queue, first.id)
    same = queue.start("sleepy", args=[0.5], key="import-42")
    assert same.id == first.id and same.state == "running"
    assert finished(queue, first.id).state == "succeeded"
    second = queue.start("sleepy", args=[0.01], key="import-42")
    assert second.id != first.id
    assert finished(queue, second.id).state == "succeeded"


def test_300_starts_from_16_threads_with_a_worker_running_lose_nothing(queue, start_worker, db_path):
    start_worker(threads=4)
    writers = queue.start_many("steps", [[100, 0.002] for _ in range(2)])  # progress and log writes meanwhile
    running(queue, writers[0].id)
    ids: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(16)

    def starter(n: int) -> None:
        barrier.wait()
        for i in range(n):
            try:
                job = queue.start("add", args=[i, 1])
            except BaseException as exc:  # every failure is a finding
                with lock:
                    errors.append(exc)
            else:
                with lock:
                    ids.append(job.id)

    threads = [threading.Thread(target=starter, args=(19 if t < 12 else 18,)) for t in range(16)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    started = time.monotonic() - began
    assert errors == []
    assert len(ids) == len(set(ids)) == 300
    wait_for(lambda: queue.store.counts() == {"queued": 0, "running": 0}, timeout=60, interval=0.05)
    took = time.monotonic() - began
    states = dict(engines.sql(db_path, "select state, count(*) from lilqueue_job group by state"))
    print(f"\n300 starts from 16 threads: started in {started:.2f} s, all finished in {took:.2f} s: {states}")
    assert states == {"succeeded": 302}
    assert messages(db_path) == 0


def test_an_idle_worker_picks_up_a_new_job_fast(queue, start_worker):
    start_worker(threads=2)
    delays = []
    for idle in (2.0, *[0.3] * 9):  # the first after 2 s of idling, when Huey's own backoff is in seconds
        time.sleep(idle)
        job = queue.start("noop")
        began = wait_for(lambda job_id=job.id: (j := queue.get(job_id)).started_at and j, timeout=10, interval=0.002)
        delays.append((began.started_at - began.created_at).total_seconds())
    median = statistics.median(delays)
    print(f"\nidle pickup, start() to started_at: median {median * 1000:.1f} ms, after 2 s idle"
          f" {delays[0] * 1000:.1f} ms, max {max(delays) * 1000:.1f} ms over 10 jobs")
    assert median < 0.2
    assert delays[0] < 0.2


def test_a_hot_loop_of_progress_calls_ends_with_its_last_value_stored(queue, start_worker):
    start_worker(threads=1)
    done = finished(queue, queue.start("hot_loop", args=[300_000]).id, timeout=30)
    assert done.state == "succeeded" and done.result == 300_000
    assert (done.progress.current, done.progress.total, done.progress.percent) == (300_000, 300_000, 100)
    assert done.version < 30, f"{done.version} versions for 300,000 progress calls"


def test_a_worker_survives_a_task_that_raises_system_exit_or_a_child_that_crashes(queue, start_worker):
    worker = start_worker(threads=1)
    exited = finished(queue, queue.start("exits", args=[3]).id)
    assert exited.state == "failed" and exited.error.type == "SystemExit"
    crashed = finished(queue, queue.start("crash", args=[7]).id)
    assert crashed.state == "failed" and crashed.error.type == "ChildProcessError"
    assert "exit code 7" in crashed.error.message
    assert worker.process.poll() is None
    assert finished(queue, queue.start("add", args=[1, 1]).id).result == 2


def test_two_workers_share_the_queue_and_run_each_job_once(queue, start_worker, db_path):
    start_worker(threads=2)
    start_worker(threads=2)
    jobs = queue.start_many("sleepy", [[0.05] for _ in range(40)])
    for job in jobs:
        assert finished(queue, job.id, timeout=30).state == "succeeded"
    workers = engines.sql(db_path, "select count(distinct worker), max(attempts) from lilqueue_job")
    assert workers == [(2, 1)]


def test_a_canceled_job_that_fails_afterwards_is_not_retried(queue, start_worker):
    start_worker(threads=1)
    job = queue.start("deaf_then_fail_retry", args=[0.5])
    running(queue, job.id)
    queue.cancel(job.id)
    done = finished(queue, job.id)
    time.sleep(0.3)
    again = queue.get(job.id)
    assert (done.state, done.error.type) == ("failed", "RuntimeError"), done
    assert (again.state, again.attempts) == ("failed", 1), again
    assert not [line for line in again.logs if "retrying" in line.message], again.logs


@pytest.mark.parametrize("task", ["progress_when_locked", "progress_when_locked_isolated"])
def test_progress_on_a_locked_database_raises_storage_error_after_the_queues_busy_timeout(
        db_path, tmp_path, task):
    # The isolated child opens the store again: it must do so with the queue's busy timeout
    # (1 s here), not the default 10 s, and translate the database's error as a thread does.
    # SQLite: another connection holds the write lock of the file. PostgreSQL: it holds a lock on
    # the job table that lets readers through and makes writers wait (lock_timeout = busy timeout).
    postgres = engines.is_postgres(db_path)
    queue = tasks.build(db_path, busy_timeout=1.0, heartbeat_timeout=30.0)
    worker = queue.worker(threads=1).start()
    flag = tmp_path / "locked"
    try:
        job = queue.start(task, args=[str(flag)])
        running(queue, job.id)
        locker = engines.connect(db_path)
        if postgres:
            locker.execute("begin")
            locker.execute("lock table lilqueue_job in exclusive mode")
        else:
            locker.execute("begin immediate")
        flag.touch()
        time.sleep(4.0)
        locker.execute("rollback")
        locker.close()
        done = finished(queue, job.id)
    finally:
        worker.stop(grace=5)
    assert done.state == "succeeded", done.error
    assert done.result["error"] == "StorageError", done.result
    assert ("lock timeout" if postgres else "locked") in done.result["detail"], done.result
    assert 0.8 < done.result["seconds"] < 3.0, done.result


def test_a_job_canceled_while_its_worker_was_dead_ends_canceled_and_does_not_run_again(
        queue, start_worker):
    first = start_worker(threads=1)
    job = queue.start("sleepy_retry", args=[60])
    running(queue, job.id)
    first.kill_group()
    asked = queue.cancel(job.id)
    assert (asked.state, asked.cancel_requested) == ("running", True)
    start_worker(1, wait=False)
    done = finished(queue, job.id, timeout=HEARTBEAT_TIMEOUT + 10)
    assert (done.state, done.attempts) == ("canceled", 1), done


def test_ctrl_c_in_a_terminal_lets_an_isolated_job_finish_within_grace(queue, start_worker):
    # A terminal sends SIGINT to the whole foreground process group: the worker, its forkserver
    # and the job's child process alike. The job must not die of it; the worker's grace applies.
    worker = start_worker(1, "--grace", "5")
    job = queue.start("spin", args=[1.0])
    wait_for(lambda: queue.get(job.id).progress.message == "spinning", timeout=15)
    os.killpg(worker.pid, signal.SIGINT)
    assert worker.wait(15) == 0
    done = queue.get(job.id)
    assert (done.state, done.result, done.error) == ("succeeded", "spun", None), (done, done.error)


def test_a_worker_runs_inside_the_app_process_with_start_and_stop(queue, db_path):
    worker = queue.worker(threads=2, grace=1).start()
    try:
        jobs = [queue.start("add", args=[i, i]) for i in range(5)] + [queue.start("spin", args=[0.05])]
        results = [finished(queue, job.id).result for job in jobs]
    finally:
        worker.stop()
    assert results == [0, 2, 4, 6, 8, "spun"]
    assert worker_count(db_path) == 0


def test_a_worker_on_a_host_with_a_63_character_name_registers_and_runs_jobs(queue, db_path):
    from lilqueue.worker.loop import new_worker_id

    host = "import-service-7d9f8b6c5d-" + "x" * 37  # a Kubernetes pod name: 63 characters
    worker_id = new_worker_id(host, 4_194_304)
    assert len(worker_id) <= 64 and worker_id.startswith("import-service-") and worker_id.count(":") == 2
    queue.store.register(worker_id, host, 4_194_304, 1, time.time())
    assert engines.sql(db_path, "select hostname from lilqueue_worker where id = ?", (worker_id,)) == [(host,)]
    assert new_worker_id(host, 1) != new_worker_id(host, 1)  # the random part tells two apart
