"""Worker faults on real worker processes and a real database (a SQLite file, or a PostgreSQL
schema): SIGKILL to the whole worker process group, SIGKILL to one isolated child, SIGTERM with
running jobs.

Executions are counted outside the database: the ``recorded`` and ``show_pid`` tasks append a
line per start and end to the run-record file, ``engines.side_file(db_path, ".runs")`` (see
tests/tasks.py)."""

from __future__ import annotations

import os
import re
import signal

from tests import engines
from tests.reliability.support import (
    check_killed_run,
    duplicates,
    rows,
    runs,
    start_recorded,
    states,
    unfinished,
    wait_until,
)


def running_ids(db_path: str) -> set[str]:
    return {job_id for job_id, _ in running_attempts(db_path)}


def running_attempts(db_path: str) -> set[tuple[str, int]]:
    return {(r[0], r[1]) for r in rows(db_path, "select id, attempts from lilqueue_job where state = 'running'")}


def test_killing_the_worker_group_loses_no_job_and_runs_none_twice(queue, db_path, start_worker,
                                                                   long_form, figures):
    total = 1000 if long_form else 200
    kills = 10 if long_form else 2
    start_recorded(queue, 844, total, (0.05, 0.2), 20)
    assert len(states(db_path)) == total

    running_at_kill: set[str] = set()
    interrupted: set[tuple[str, int]] = set()
    for _ in range(kills):
        worker = start_worker(2)
        done_before = total - unfinished(db_path)
        wait_until(lambda d=done_before: len(running_ids(db_path)) == 2 and total - unfinished(db_path) >= d + 8,
                   timeout=30, interval=0.01, what="two running jobs and progress")
        worker.kill_group()
        held = running_attempts(db_path)
        assert len(held) >= 1
        interrupted |= held
        running_at_kill |= {job_id for job_id, _ in held}
    start_worker(4)
    wait_until(lambda: unfinished(db_path) == 0, timeout=300 if long_form else 90, what="every job terminal")

    counted = check_killed_run(db_path, total, interrupted)
    assert rows(db_path, f"select count(*) from {engines.huey_table(db_path, 'task')}")[0][0] == 0, \
        "messages left behind"
    assert rows(db_path, f"select count(*) from {engines.huey_table(db_path, 'schedule')}")[0][0] == 0
    figures.update(jobs=total, worker_group_kills=kills, running_at_kill=len(running_at_kill),
                   failed_worker_lost=counted["failed_worker_lost"], rerun_after_loss=counted["rerun_after_loss"],
                   executions=counted["executions"], jobs_lost=0, duplicates=0)


def child_pid(queue, job_id: str) -> int | None:
    job = queue.get(job_id)
    message = job.progress.message or ""
    return int(message.split()[1]) if job.state == "running" and message.startswith("pid ") else None


def test_a_killed_isolated_child_fails_or_reruns_its_job_and_the_worker_survives(queue, db_path, start_worker,
                                                                                  long_form, figures):
    worker = start_worker(2)
    rounds = 10 if long_form else 1
    killed = 0
    for _ in range(rounds):
        once = queue.start("show_pid", args=[30])
        twice = queue.start("show_pid_retry", args=[30])
        pids = [wait_until(lambda j=j: child_pid(queue, j.id), timeout=20, what="child pid") for j in (once, twice)]
        assert worker.pid not in pids
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
            killed += 1
        failed = queue.wait(once.id, timeout=20)
        assert failed.state == "failed" and failed.error.type == "ChildProcessError", failed
        # -9: the signal. Python before 3.14 may say 255 when its forkserver loses the status
        # of a child that ended while another was starting (CPython issue 140867).
        assert re.search(r"exit code (-9|255)$", failed.error.message), failed.error
        rerun = queue.wait(twice.id, timeout=20)
        assert rerun.state == "succeeded" and rerun.attempts == 2, rerun
        assert rerun.result != pids[1]  # the second attempt ran in a new child
    assert worker.process.poll() is None, "the worker died with its child"
    normal = queue.wait(queue.start("add", args=[2, 3]).id, timeout=15)
    assert normal.state == "succeeded" and normal.result == 5
    assert duplicates(db_path) == []
    figures.update(children_killed=killed, worker_survived=True, jobs_lost=0, duplicates=0)


def test_sigterm_lets_running_jobs_finish_or_hands_them_back_and_a_later_worker_runs_them(
        queue, db_path, start_worker, figures):
    worker = start_worker(3, "--grace", "0.5")
    quick = queue.start("recorded", args=[0.3])       # finishes within the grace period
    polite = queue.start("recorded", args=[3])        # checks: stops at the end of the grace period
    stubborn = queue.start("hang", args=[3])          # never checks: handed back by the worker
    wait_until(lambda: len(running_ids(db_path)) == 3, timeout=15, what="three running jobs")
    waiting = [queue.start("recorded", args=[0.05]).id for _ in range(20)]
    worker.signal(signal.SIGTERM)
    assert worker.wait(15) == 0, worker.output()

    after = states(db_path)
    assert "running" not in after.values()
    assert after[quick.id] == "succeeded"
    assert after[polite.id] == after[stubborn.id] == "queued"
    assert all(after[i] == "queued" for i in waiting)
    assert queue.get(polite.id).attempts == 0  # a hand-back does not use up an attempt
    assert "handed back" in worker.output()

    start_worker(3)
    wait_until(lambda: unfinished(db_path) == 0, timeout=30, what="every job terminal")
    assert queue.get(polite.id).state == "succeeded" and queue.get(stubborn.id).result == "woke"
    assert all(queue.get(i).state == "succeeded" for i in waiting)
    ends = {job_id: [e for e in events if e[1] == "end"] for job_id, events in runs(db_path).items()}
    assert all(len(e) == 1 for e in ends.values()) and len(ends) == 22
    figures.update(handed_back=2, finished_in_grace=1, queued_kept=20, left_running=0, ran_to_end_twice=0)


def test_a_job_canceled_while_its_worker_dies_ends_canceled_and_is_not_run_again(queue, db_path, start_worker,
                                                                                 figures):
    worker = start_worker(1)
    job = queue.start("recorded_retry", args=[30])  # has a retry left: a plain loss would run it again
    wait_until(lambda: runs(db_path).get(job.id), timeout=15, what="the job started")
    os.killpg(worker.pid, signal.SIGSTOP)  # frozen: it cannot see the cancel before it dies
    queue.cancel(job.id)
    worker.kill_group()
    start_worker(1)
    done = queue.wait(job.id, timeout=20)
    assert done.state == "canceled" and done.attempts == 1, done
    assert [e for e in runs(db_path)[job.id] if e[1] == "start"] == [(1, "start")]
    figures.update(canceled_then_worker_killed=1, ran_again=0)
