"""Group commit: concurrent starts share one transaction, and each caller still gets its own
result or error, only after the commit that holds its rows."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time

import pytest

import lilqueue
from lilqueue.store.groupcommit import GroupCommit
from tests import engines


class Table:
    """A real SQLite file with a table ``t``; counts the transactions it commits."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.commits = 0
        with sqlite3.connect(path) as conn:
            conn.execute("create table t (x unique)")
        self._local = threading.local()

    @contextlib.contextmanager
    def transaction(self):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = sqlite3.connect(self.path, isolation_level=None, timeout=10)
        cursor = conn.cursor()
        cursor.execute("begin immediate")
        try:
            yield cursor
            cursor.execute("commit")
            self.commits += 1
        except BaseException:
            cursor.execute("rollback")
            raise

    def rows(self) -> list:
        with sqlite3.connect(self.path) as conn:
            return sorted(str(x) for (x,) in conn.execute("select x from t"))


def insert(value, fail: type[BaseException] | None = None):
    def work(cursor):
        cursor.execute("insert into t values (?)", (value,))
        if fail is not None:
            raise fail(f"work {value} fails after its insert")
        return value
    return work


def run_behind_a_held_commit(group: GroupCommit, works: list) -> list:
    """Holds one commit open until every work below has queued behind it, so that they all
    share the next transaction; returns (result or exception) per work, in order."""
    release = threading.Event()
    holding = threading.Event()

    def held(cursor):
        cursor.execute("insert into t values ('held')")
        holding.set()
        release.wait(10)
        return "held"

    outcomes: list = [None] * len(works)

    def call(i, work):
        try:
            outcomes[i] = group.run(work)
        except Exception as exc:  # the test looks at which caller got which error
            outcomes[i] = exc

    leader = threading.Thread(target=group.run, args=(held,))
    leader.start()
    assert holding.wait(10)  # the commit is open: every work below queues behind it
    callers = [threading.Thread(target=call, args=(i, w)) for i, w in enumerate(works)]
    deadline = time.monotonic() + 10
    for queued, caller in enumerate(callers, 1):
        caller.start()  # one at a time: the batch runs the works in the order they queued
        while len(group._queue) < queued and time.monotonic() < deadline:
            time.sleep(0.001)
    release.set()
    leader.join(10)
    for caller in callers:
        caller.join(10)
    return outcomes


def test_works_queued_behind_a_commit_share_the_next_one_and_each_gets_its_own_outcome(tmp_path):
    table = Table(str(tmp_path / "g.db"))
    group = GroupCommit(table.transaction, expected=(sqlite3.IntegrityError, ValueError))
    outcomes = run_behind_a_held_commit(group, [insert(1), insert(2, fail=ValueError), insert(3),
                                                insert(1), insert(4)])
    assert outcomes[0] == 1 and outcomes[2] == 3 and outcomes[4] == 4
    assert isinstance(outcomes[1], ValueError)            # its own error, its own row undone
    assert isinstance(outcomes[3], sqlite3.IntegrityError)  # 1 was taken in the same batch
    assert table.rows() == ["1", "3", "4", "held"]
    assert table.commits == 2  # the held one, then all five together


def test_an_unexpected_error_fails_the_whole_batch_and_writes_none_of_it(tmp_path):
    table = Table(str(tmp_path / "g.db"))
    group = GroupCommit(table.transaction, expected=(sqlite3.IntegrityError,))
    outcomes = run_behind_a_held_commit(group, [insert(1), insert(2, fail=OSError), insert(3)])
    assert all(isinstance(outcome, OSError) for outcome in outcomes), outcomes
    assert table.rows() == ["held"]


def test_a_lone_work_commits_at_once_and_raises_its_own_error(tmp_path):
    table = Table(str(tmp_path / "g.db"))
    group = GroupCommit(table.transaction, expected=(ValueError,))
    assert group.run(insert(1)) == 1
    with pytest.raises(ValueError, match="work 2 fails"):
        group.run(insert(2, fail=ValueError))
    assert table.rows() == ["1"] and table.commits == 1


@pytest.mark.sqlite_only
def test_eight_threads_starting_at_once_share_commits_and_keys_and_limits_still_hold(db_path, monkeypatch):
    queue = lilqueue.Queue(db_path)
    queue.task(name="noop")(lambda *args: None)
    queue.task(name="bounded", max_pending=3)(lambda: None)
    transactions = []
    group = queue.store._group
    real = group._transaction

    @contextlib.contextmanager
    def counted():
        with real() as cursor:
            yield cursor
        transactions.append(1)

    monkeypatch.setattr(group, "_transaction", counted)
    results: dict = {"jobs": [], "keyed": [], "busy": 0, "bounded": []}
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def starter(n: int) -> None:
        barrier.wait()
        for i in range(40):
            job = queue.start("noop", [n, i])
            keyed = queue.start("noop", key=f"k{i % 5}")
            try:
                bounded = queue.start("bounded")
            except lilqueue.Busy:
                bounded = None
            with lock:
                results["jobs"].append(job.id)
                results["keyed"].append((i % 5, keyed.id))
                if bounded is None:
                    results["busy"] += 1
                else:
                    results["bounded"].append(bounded.id)

    threads = [threading.Thread(target=starter, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    starts = 8 * 40 * 3
    assert len(set(results["jobs"])) == 320
    assert {key: {i for k, i in results["keyed"] if k == key} for key in range(5)} == {
        key: {next(i for k, i in results["keyed"] if k == key)} for key in range(5)}  # one job per key
    assert len(set(results["bounded"])) == 3 and results["busy"] == 320 - 3
    rows = engines.sql(db_path, "select task, count(*) from lilqueue_job group by task order by task")
    assert rows == [("bounded", 3), ("noop", 320 + 5)]
    messages = engines.sql(db_path, f"select count(*) from {engines.huey_table(db_path, 'task')}")[0][0]
    assert messages == 3 + 320 + 5  # a message for each job written, none for a refused start
    print(f"\n{starts} starts from 8 threads: {len(transactions)} transactions")
    assert len(transactions) < starts * 0.9, len(transactions)
