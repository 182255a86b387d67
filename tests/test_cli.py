"""``python -m lilqueue``: exit codes, one-line error messages, help, and the worker's log lines."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

from tests import engines
from tests.conftest import ROOT, wait_for, worker_count


def lilqueue(*args: str, env: dict | None = None, cwd=ROOT, timeout: float = 20) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lilqueue", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=env)


def test_help_lists_the_commands_and_examples():
    done = lilqueue("--help")
    assert done.returncode == 0
    assert "worker" in done.stdout and "examples:" in done.stdout


def test_help_names_both_engines_and_every_exit_code():
    done = lilqueue("--help")
    assert done.returncode == 0
    assert "on a SQLite file or on PostgreSQL" in " ".join(done.stdout.split()), done.stdout
    legend = done.stdout.split("exit codes:\n", 1)[1]
    assert [line.split()[0] for line in legend.splitlines()] == ["0", "1", "2", "3", "4", "5"], legend
    worker = lilqueue("worker", "--help")
    assert worker.returncode == 0
    assert "--threads" in worker.stdout and "--grace" in worker.stdout


def test_an_unknown_module_exits_3_with_one_line():
    done = lilqueue("worker", "no_such_module_here:queue")
    assert done.returncode == 3
    assert done.stderr.strip().count("\n") == 0
    assert done.stderr.startswith("lilqueue: ") and "no_such_module_here" in done.stderr


def test_a_spec_without_a_module_name_exits_3_with_one_line():
    for spec in (":queue", ".relative:queue"):
        done = lilqueue("worker", spec)
        assert done.returncode == 3, (spec, done.stderr)
        assert done.stderr.startswith("lilqueue: ") and done.stderr.strip().count("\n") == 0, done.stderr


def test_an_attribute_that_is_not_a_queue_exits_3_with_one_line(db_path):
    env = dict(os.environ, LILQUEUE_TEST_DB=db_path)
    for spec, found in (("tests.tasks:build", "function"), ("tests.tasks:TASKS", "dict")):
        done = lilqueue("worker", spec, env=env)
        assert done.returncode == 3, (spec, done.stderr)
        assert done.stderr.strip().count("\n") == 0
        assert "is not a lilqueue.Queue" in done.stderr and found in done.stderr


def test_a_missing_attribute_exits_3_naming_it(db_path):
    env = dict(os.environ, LILQUEUE_TEST_DB=db_path)
    done = lilqueue("worker", "tests.tasks:missing", env=env)
    assert done.returncode == 3, done.stderr
    assert done.stderr.strip() == "lilqueue: 'tests.tasks' has no attribute 'missing'"


def test_a_module_without_exactly_one_queue_exits_3(tmp_path):
    (tmp_path / "two_queues.py").write_text(textwrap.dedent(f"""
        import lilqueue
        a = lilqueue.Queue({str(tmp_path / "a.db")!r})
        b = lilqueue.Queue({str(tmp_path / "b.db")!r})
    """))
    done = lilqueue("worker", "two_queues", cwd=tmp_path, env=_with_root_on_path())
    assert done.returncode == 3
    assert "holds 2 Queue objects" in done.stderr and done.stderr.strip().count("\n") == 0


def test_a_module_with_a_single_queue_may_be_named_alone(tmp_path):
    db = str(tmp_path / "app.db")
    (tmp_path / "single_app.py").write_text(textwrap.dedent(f"""
        import lilqueue
        queue = lilqueue.Queue({db!r})

        @queue.task
        def hello(name):
            return f"hello {{name}}"
    """))
    process = subprocess.Popen([sys.executable, "-m", "lilqueue", "worker", "single_app"], cwd=tmp_path,
                               env=_with_root_on_path(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    try:
        wait_for(lambda: os.path.exists(db) and _count(db) == 1, timeout=15, interval=0.02)
        sys.path.insert(0, str(tmp_path))
        try:
            import single_app
        finally:
            sys.path.remove(str(tmp_path))
        job = single_app.queue.tasks["hello"].start("you")
        assert single_app.queue.wait(job.id, timeout=10).result == "hello you"
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=15)
        sys.modules.pop("single_app", None)
    assert process.returncode == 0, output


def _count(db: str) -> int:
    try:
        return worker_count(db)
    except sqlite3.Error:  # the tables do not exist yet
        return 0


def _with_root_on_path() -> dict:
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))


def test_a_bad_flag_exits_2(db_path):
    env = dict(os.environ, LILQUEUE_TEST_DB=db_path)
    for args in (["worker", "tests.tasks:queue", "--threads", "many"],
                 ["worker", "tests.tasks:queue", "--no-such-flag"],
                 ["worker"],
                 ["frobnicate"]):
        done = lilqueue(*args, env=env)
        assert done.returncode == 2, (args, done.stderr)
        assert "usage:" in done.stderr


def test_a_bad_option_value_exits_2_with_one_line(db_path):
    env = dict(os.environ, LILQUEUE_TEST_DB=db_path)
    for args in (["--threads", "0"], ["--grace", "-1"], ["--poll-interval", "5"]):
        done = lilqueue("worker", "tests.tasks:queue", *args, env=env)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stderr.startswith("lilqueue: ") and done.stderr.strip().count("\n") == 0


def test_the_worker_logs_a_line_per_start_and_finish_and_a_failures_traceback_once(queue, start_worker):
    worker = start_worker(threads=1)
    ok = queue.start("add", args=[1, 2])
    bad = queue.start("fail", args=["broken"])
    assert queue.wait(ok.id, timeout=10).state == "succeeded"
    assert queue.wait(bad.id, timeout=10).state == "failed"
    time.sleep(0.1)
    output = worker.output()
    ok_lines = [line for line in output.splitlines() if ok.id in line]
    bad_lines = [line for line in output.splitlines() if bad.id in line]
    assert len(ok_lines) == 2 and "started" in ok_lines[0] and "succeeded" in ok_lines[1], output
    assert len(bad_lines) == 2 and "failed" in bad_lines[1] and "ValueError: broken" in bad_lines[1], output
    assert " ERROR " in bad_lines[1] and " ERROR " not in ok_lines[1], output
    assert output.count("Traceback (most recent call last)") == 1, output
    assert 'raise ValueError(' in output.split(bad_lines[1], 1)[1], "the traceback follows the failure's line"
    assert " started: 1 thread on " in output, output

def test_workers_is_another_name_for_threads(queue, start_worker, db_path):
    worker = start_worker(2, "--workers", "3")
    assert engines.sql(db_path, "select threads from lilqueue_worker") == [(3,)]
    started = wait_for(lambda: [line for line in worker.output().splitlines() if " started: " in line],
                       what="the worker's start line")
    assert " started: 3 threads on " in started[0], started
