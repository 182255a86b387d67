"""The operator verbs of ``python -m lilqueue`` (jobs, show, retry, cancel, stats, workers,
purge), run as real processes on a real database (SQLite, PostgreSQL), with real workers producing the jobs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from lilqueue.cli.operators import parse_duration
from lilqueue.job import ID_PATTERN
from tests.conftest import ROOT, wait_for

QUEUE = "tests.tasks:queue"


def lilqueue(db_path: str, verb: str, *args: str) -> subprocess.CompletedProcess:
    """``python -m lilqueue VERB tests.tasks:queue ARGS`` on the test's database."""
    done = subprocess.run([sys.executable, "-m", "lilqueue", verb, QUEUE, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, LILQUEUE_TEST_DB=db_path))
    assert "Traceback" not in done.stderr, done.stderr
    return done


def assert_error(done: subprocess.CompletedProcess, code: int, *words: str) -> None:
    """Exit ``code``, nothing on stdout, one line on stderr that starts with ``lilqueue: ``."""
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    assert done.stdout == ""
    assert done.stderr.startswith("lilqueue: ") and done.stderr.count("\n") == 1, done.stderr
    for word in words:
        assert word in done.stderr, (word, done.stderr)


def ids(done: subprocess.CompletedProcess) -> list[str]:
    assert done.returncode == 0, done.stderr
    return [line.split()[0] for line in done.stdout.splitlines()]


@pytest.fixture
def finished(queue, start_worker):
    """One succeeded, one failed and one progress-reporting job, run by a real worker that is
    then stopped; returns (worker, {name: job id})."""
    worker = start_worker(threads=1)
    jobs = {"ok": queue.start("add", [1, 2]), "bad": queue.start("fail", ["broken"]),
            "steps": queue.start("steps", [6], owner="alice")}
    for job in jobs.values():
        assert queue.wait(job.id, timeout=15).finished
    worker.close()
    return {name: job.id for name, job in jobs.items()}


def test_jobs_prints_one_job_a_line_newest_first_with_its_id_first(queue, db_path, finished):
    waiting = queue.start("noop")
    done = lilqueue(db_path, "jobs")
    assert ids(done) == [waiting.id, finished["steps"], finished["bad"], finished["ok"]], done.stdout
    lines = {line.split()[0]: line.split() for line in done.stdout.splitlines()}
    assert lines[waiting.id][1:3] == ["queued", "noop"] and "attempts=0" in lines[waiting.id]
    assert lines[finished["bad"]][1:3] == ["failed", "fail"] and "attempts=1" in lines[finished["bad"]]
    assert lines[finished["bad"]][-2:] == ["ValueError:", "broken"]
    assert lines[finished["ok"]][1:3] == ["succeeded", "add"] and "ValueError:" not in lines[finished["ok"]]
    created = lines[finished["ok"]][3]
    assert created == queue.get(finished["ok"]).created_at.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_jobs_filters_by_state_task_and_owner(db_path, finished):
    assert ids(lilqueue(db_path, "jobs", "--state", "failed")) == [finished["bad"]]
    assert ids(lilqueue(db_path, "jobs", "--state", "failed", "--state", "succeeded")) == [
        finished["steps"], finished["bad"], finished["ok"]]
    assert ids(lilqueue(db_path, "jobs", "--task", "add")) == [finished["ok"]]
    assert ids(lilqueue(db_path, "jobs", "--owner", "alice")) == [finished["steps"]]
    assert ids(lilqueue(db_path, "jobs", "--task", "noop")) == []


def test_jobs_pages_with_limit_and_before(queue, db_path):
    started = [queue.start("noop").id for _ in range(5)]
    newest_first = started[::-1]
    first = ids(lilqueue(db_path, "jobs", "--limit", "2"))
    second = ids(lilqueue(db_path, "jobs", "--limit", "2", "--before", first[-1]))
    last = ids(lilqueue(db_path, "jobs", "--limit", "2", "--before", second[-1]))
    assert first + second + last == newest_first


def test_jobs_json_lists_jobs_with_their_owner_and_traceback(db_path, finished):
    done = lilqueue(db_path, "jobs", "--json")
    assert done.returncode == 0, done.stderr
    listed = {job["id"]: job for job in json.loads(done.stdout)}
    assert set(listed) == set(finished.values())
    assert listed[finished["steps"]]["owner"] == "alice"
    assert listed[finished["steps"]]["result"] == {"imported": 6}
    assert listed[finished["bad"]]["error"]["type"] == "ValueError"
    assert "raise ValueError(message)" in listed[finished["bad"]]["error"]["traceback"]


def test_show_prints_arguments_progress_logs_times_and_the_full_traceback(queue, db_path, finished):
    done = lilqueue(db_path, "show", finished["steps"])
    assert done.returncode == 0, done.stderr
    fields = dict(line.split(None, 1) for line in done.stdout.splitlines() if not line.startswith(" "))
    assert fields["id"] == finished["steps"] and fields["task"] == "steps" and fields["state"] == "succeeded"
    assert fields["args"] == "[6]" and fields["owner"] == "alice" and fields["retry_of"] == "-"
    assert fields["progress"] == "6/6 (100%) step 6"
    assert fields["result"] == '{"imported": 6}'
    assert fields["logs"] == "2 lines"
    assert "warning  cannot import line 3" in done.stdout and "warning  cannot import line 6" in done.stdout
    job = queue.get(finished["steps"])
    assert fields["created"] == job.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert fields["finished"].startswith(job.finished_at.strftime("%Y-%m-%dT%H:%M:%SZ") + " (took ")

    done = lilqueue(db_path, "show", finished["bad"])
    assert done.returncode == 0, done.stderr
    assert "\nerror     ValueError: broken\n" in done.stdout
    traceback = done.stdout.split("\nerror     ValueError: broken\n", 1)[1]
    assert traceback.startswith("  Traceback (most recent call last):")
    assert "raise ValueError(message)" in traceback and traceback.rstrip().endswith("ValueError: broken")


def test_show_json_is_the_job_with_its_traceback(db_path, finished):
    done = lilqueue(db_path, "show", finished["bad"], "--json")
    assert done.returncode == 0, done.stderr
    job = json.loads(done.stdout)
    assert job["id"] == finished["bad"] and job["state"] == "failed" and job["args"] == ["broken"]
    assert job["error"]["message"] == "broken" and "raise ValueError(message)" in job["error"]["traceback"]


def test_retry_prints_only_the_new_jobs_id_and_the_worker_runs_it(queue, db_path, finished, start_worker):
    done = lilqueue(db_path, "retry", finished["bad"])
    assert done.returncode == 0 and done.stderr == "", done.stderr
    new_id = done.stdout.strip()
    assert done.stdout == new_id + "\n" and ID_PATTERN.fullmatch(new_id), done.stdout
    assert new_id != finished["bad"]
    new = queue.get(new_id)
    assert (new.retry_of, new.task, new.args) == (finished["bad"], "fail", ["broken"])
    start_worker(threads=1)
    assert queue.wait(new_id, timeout=15).state == "failed"
    assert queue.get(finished["bad"]).state == "failed"  # the old job never changes
    fields = dict(line.split(None, 1) for line in lilqueue(db_path, "show", new_id).stdout.splitlines()
                  if not line.startswith(" "))
    assert fields["retry_of"] == finished["bad"]


def test_retry_of_a_job_that_did_not_fail_or_was_not_canceled_exits_5(queue, db_path, finished, start_worker):
    assert_error(lilqueue(db_path, "retry", finished["ok"]), 5, finished["ok"], "succeeded")
    assert_error(lilqueue(db_path, "retry", queue.start("noop").id), 5, "queued")
    start_worker(threads=1)
    running = queue.start("sleepy", [30])
    wait_for(lambda: queue.get(running.id).state == "running", timeout=15, what="the job runs")
    assert_error(lilqueue(db_path, "retry", running.id), 5, "running")
    queue.cancel(running.id)


def test_retry_of_a_job_whose_task_is_no_longer_registered_exits_1(db_path):
    from tests import tasks

    old_app = tasks.build(db_path)
    old_app.task(name="gone")(tasks.noop)
    job = old_app.start("gone")
    old_app.cancel(job.id)
    assert_error(lilqueue(db_path, "retry", job.id), 1, "gone")


def test_cancel_prints_the_job_id_and_its_state(queue, db_path, start_worker):
    waiting = queue.start("noop")
    done = lilqueue(db_path, "cancel", waiting.id)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [waiting.id, "canceled"]
    assert queue.get(waiting.id).state == "canceled"

    start_worker(threads=1)
    running = queue.start("sleepy", [30])
    wait_for(lambda: queue.get(running.id).state == "running", timeout=15, what="the job runs")
    done = lilqueue(db_path, "cancel", running.id)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[:2] == [running.id, "running"] and "cancel requested" in done.stdout
    assert queue.wait(running.id, timeout=15).state == "canceled"


def test_cancel_of_a_finished_job_exits_5(db_path, finished):
    assert_error(lilqueue(db_path, "cancel", finished["ok"]), 5, finished["ok"], "succeeded")


def test_an_unknown_job_id_exits_4_with_one_line(queue, db_path):
    queue.start("noop")
    missing = "A" * 22
    for args in (["show", missing], ["show", "not-an-id"], ["retry", missing], ["cancel", missing],
                 ["jobs", "--before", missing]):
        assert_error(lilqueue(db_path, *args), 4, missing if missing in args else "not-an-id")


@pytest.mark.parametrize("args, words", [
    (["purge", "--older-than", "7x"], ["--older-than", "7x"]),
    (["purge", "--older-than=-1d"], ["-1d"]),
    (["purge", "--older-than", "7"], ["30s, 15m"]),
    (["purge", "--state", "queued", "--all"], ["queued"]),
    (["purge", "--state", "finished", "--all"], ["finished"]),
    (["purge"], ["--older-than", "--all"]),
    (["purge", "--all", "--older-than", "1d"], ["--all"]),
    (["jobs", "--state", "sleeping"], ["sleeping"]),
    (["jobs", "--limit", "0"], ["limit"]),
])
def test_bad_arguments_exit_2_with_one_line(queue, db_path, args, words):
    assert_error(lilqueue(db_path, *args), 2, *words)


def test_a_flag_argparse_refuses_exits_2_with_its_usage(db_path):
    for args in (["jobs", "--limit", "many"], ["show"], ["jobs", "--frobnicate"]):
        done = lilqueue(db_path, *args)
        assert done.returncode == 2 and "usage:" in done.stderr, (args, done.stderr)


def test_an_unknown_queue_exits_3(db_path):
    done = subprocess.run([sys.executable, "-m", "lilqueue", "jobs", "no_such_module_here:queue"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 3 and done.stderr.startswith("lilqueue: ") and done.stderr.count("\n") == 1


def test_purge_deletes_finished_jobs_older_than_the_duration_and_prints_how_many(queue, db_path, finished):
    waiting = queue.start("noop")
    done = lilqueue(db_path, "purge", "--older-than", "1h")
    assert (done.returncode, done.stdout) == (0, "0 jobs deleted\n"), done.stderr
    done = lilqueue(db_path, "purge", "--state", "failed", "--older-than", "0s")
    assert (done.returncode, done.stdout) == (0, "1 job deleted\n"), done.stderr
    assert sorted(ids(lilqueue(db_path, "jobs"))) == sorted([waiting.id, finished["ok"], finished["steps"]])
    done = lilqueue(db_path, "purge", "--all", "--task", "add")
    assert (done.returncode, done.stdout) == (0, "1 job deleted\n"), done.stderr
    done = lilqueue(db_path, "purge", "--all")
    assert (done.returncode, done.stdout) == (0, "1 job deleted\n"), done.stderr
    assert ids(lilqueue(db_path, "jobs")) == [waiting.id]  # an unfinished job is never purged


def test_stats_prints_counts_per_task_and_state_the_oldest_queued_job_and_the_workers(queue, db_path, finished,
                                                                                     start_worker):
    worker = start_worker(threads=1)
    running = queue.start("sleepy", [30])
    wait_for(lambda: queue.get(running.id).state == "running", timeout=15, what="the job runs")
    waiting = queue.start("noop")  # the one thread is busy: it stays queued
    done = lilqueue(db_path, "stats")
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line.split()[1:] for line in done.stdout.split("\n\n")[0].splitlines()}
    assert rows["task"] == ["queued", "running", "succeeded", "failed", "canceled"]
    assert rows["add"] == ["0", "0", "1", "0", "0"] and rows["fail"] == ["0", "0", "0", "1", "0"]
    assert rows["sleepy"] == ["0", "1", "0", "0", "0"] and rows["noop"] == ["1", "0", "0", "0", "0"]
    assert rows["all"] == ["1", "1", "2", "1", "0"]
    assert "hang" not in rows  # a task without jobs adds no row
    summary = dict(line.split("  ", 1) for line in done.stdout.split("\n\n")[1].splitlines()
                   if not line.startswith(" "))
    assert summary["oldest queued"].strip().endswith("s ago")
    assert summary["failures (24 h)"].strip() == "1"
    assert summary["last 60 min"].strip().startswith("2 succeeded, 1 failed, 0 canceled")
    assert summary["workers"].strip() == "1 live"
    worker_lines = [line.split() for line in done.stdout.splitlines() if f"pid={worker.pid}" in line]
    assert len(worker_lines) == 1 and "running=1" in worker_lines[0]
    assert f"    {running.id}  sleepy  since " in done.stdout
    queue.cancel(waiting.id)  # first: once the running job ends, the one thread would take it
    queue.cancel(running.id)


def test_stats_and_workers_print_json(queue, db_path, start_worker):
    worker = start_worker(threads=2)
    done = lilqueue(db_path, "stats", "--json")
    assert done.returncode == 0, done.stderr
    stats = json.loads(done.stdout)
    assert set(stats) >= {"counts", "states", "oldest_queued_age", "workers", "throughput", "failures_24h",
                          "finished_totals", "durations"}
    assert [w["pid"] for w in stats["workers"]] == [worker.pid]
    done = lilqueue(db_path, "workers", "--json")
    assert done.returncode == 0, done.stderr
    workers = json.loads(done.stdout)
    assert [(w["pid"], w["threads"], w["running"]) for w in workers] == [(worker.pid, 2, [])]


def test_workers_prints_one_worker_a_line_with_its_running_jobs_and_marks_silent_ones(queue, db_path, start_worker):
    first, second = start_worker(threads=1), start_worker(threads=1)
    running = queue.start("sleepy", [30])
    wait_for(lambda: queue.get(running.id).state == "running", timeout=15, what="the job runs")
    done = lilqueue(db_path, "workers")
    assert done.returncode == 0, done.stderr
    heads = [line for line in done.stdout.splitlines() if not line.startswith(" ")]
    assert {head.split()[0] for head in heads} == {worker["id"] for worker in queue.workers()}
    assert {int(re.search(r" pid=(\d+) ", head)[1]) for head in heads} == {first.pid, second.pid}
    assert [line.split()[:2] for line in done.stdout.splitlines() if line.startswith("  ")] == [
        [running.id, "sleepy"]]
    assert "presumed dead" not in done.stdout
    queue.cancel(running.id)
    assert queue.wait(running.id, timeout=15).state == "canceled"
    first.kill_group()
    second.kill_group()  # their rows stay: no live worker is left to reap them
    wait_for(lambda: lilqueue(db_path, "workers").stdout.count("(silent: presumed dead)") == 2, timeout=20,
             interval=0.5, what="both killed workers are reported silent")


def test_a_reader_that_leaves_early_ends_the_listing_quietly(queue, db_path):
    queue.start_many("noop", [()] * 1500)  # more than a pipe holds
    with subprocess.Popen([sys.executable, "-m", "lilqueue", "jobs", QUEUE, "--limit", "1000"], cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=dict(os.environ, LILQUEUE_TEST_DB=db_path)) as process:
        first = process.stdout.readline()
        process.stdout.close()
        stderr = process.stderr.read().decode()
        assert process.wait(60) == 0, stderr
    assert ID_PATTERN.fullmatch(first.split()[0].decode())
    assert stderr == ""


def test_durations_are_numbers_with_a_unit():
    assert [parse_duration(text) for text in ("30s", "15m", "12h", "7d", "2w", "1.5h", "0s")] == [
        30, 900, 43200, 604800, 1209600, 5400, 0]
    for text in ("7", "7x", "-1d", "d", "1 d", "", "1e3s"):
        with pytest.raises(ValueError, match="--older-than"):
            parse_duration(text)
