"""The doorbell: sleeping workers and long-poll watchers wake at a commit, not at their next poll.

Each test sets the poll far slower (a second) than the wake-up it asserts, so polling alone
would fail it. SQLite rings through inotify on the ``-wal`` file; PostgreSQL through LISTEN.
"""

from __future__ import annotations

import sqlite3
import statistics
import subprocess
import sys
import threading
import time

import pytest

from lilqueue.store.commits import DataVersion
from lilqueue.store.walbell import WalBell
from lilqueue.web.watcher import Watcher
from tests import tasks

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the SQLite doorbell is inotify")


def test_a_worker_that_would_poll_once_a_second_picks_up_within_milliseconds(queue, start_worker):
    start_worker(1, "--poll-interval", "1.0")
    pickups = []
    for _ in range(12):
        time.sleep(0.05)  # the worker is idle again, asleep on its doorbell
        job = queue.wait(queue.start("noop").id, timeout=10)
        assert job.state == "succeeded"
        pickups.append((job.started_at - job.created_at).total_seconds())
    print(f"\npickup with --poll-interval 1.0: median {statistics.median(pickups) * 1000:.1f} ms,"
          f" max {max(pickups) * 1000:.1f} ms")
    assert statistics.median(pickups) < 0.1, pickups


def test_a_long_poll_wakes_at_the_commit_though_the_watcher_would_poll_once_a_second(queue):
    watcher = Watcher(queue, interval=1.0)
    job = queue.start("noop")
    answered: list = []

    def wait() -> None:
        newer = watcher.wait(job, since=job.version, timeout=10)
        answered.append((newer, time.monotonic()))

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.3)  # the watcher has looked once and sleeps
    changed_at = time.monotonic()
    queue.cancel(job.id)
    waiter.join(10)
    watcher.close()
    [(newer, at)] = answered
    assert newer is not None and newer.state == "canceled"
    assert at - changed_at < 0.15, at - changed_at


def commit_from_another_process(path: str) -> None:
    subprocess.run([sys.executable, "-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]);"
                    " c.execute('insert into t values (1)'); c.commit()", path], check=True)


@pytest.mark.sqlite_only
def test_the_bell_rings_for_a_commit_of_another_process_and_not_for_reads(db_path):
    tasks.build(db_path)
    with sqlite3.connect(db_path) as conn:
        conn.execute("create table t (x)")
    bell = WalBell.open(db_path)
    assert bell is not None
    try:
        bell.wait(0)  # forget the create
        reader = sqlite3.connect(db_path)
        assert reader.execute("select count(*) from lilqueue_job").fetchone() == (0,)
        assert bell.wait(0.2) is False
        commit_from_another_process(db_path)
        assert bell.wait(5) is True
        assert bell.wait(0.1) is False  # one ring per wake, however many writes it carried
        reader.close()
    finally:
        bell.close()


@pytest.mark.sqlite_only
def test_without_a_wal_file_there_is_no_bell_and_commits_are_still_seen(tmp_path):
    path = str(tmp_path / "rollback-journal.db")
    with sqlite3.connect(path) as conn:  # journal_mode=delete: no -wal file to watch
        conn.execute("create table t (x)")
    assert WalBell.open(path) is None
    commits = DataVersion(path)
    try:
        assert commits.wakes is False and commits.changed() is False
        commit_from_another_process(path)
        assert commits.changed() is True
    finally:
        commits.close()


@pytest.mark.sqlite_only
def test_a_sleeping_data_version_wakes_at_another_process_commit_and_sees_it(db_path):
    tasks.build(db_path)
    with sqlite3.connect(db_path) as conn:
        conn.execute("create table t (x)")
    commits = DataVersion(db_path)
    try:
        assert commits.wakes is True
        commits.wait(0)
        commits.changed()
        seen = []
        started = time.monotonic()

        def watch() -> None:
            while time.monotonic() - started < 5:
                commits.wait(1.0)
                if commits.changed():
                    seen.append(time.monotonic())
                    return

        watcher = threading.Thread(target=watch)
        watcher.start()
        time.sleep(0.2)
        committed = time.monotonic()
        commit_from_another_process(db_path)
        watcher.join(10)
        assert seen and seen[0] - committed < 0.5, seen  # the process start is most of it
    finally:
        commits.close()
