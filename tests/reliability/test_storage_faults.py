"""Storage faults seen by the process that starts jobs: a database that may not grow
(``PRAGMA max_page_count``, SQLite's own "database or disk is full"; SQLite only: PostgreSQL
has no size limit per database) and a connection that may not write (SQLite's ``PRAGMA
query_only``, "attempt to write a readonly database"; PostgreSQL's
``default_transaction_read_only``, "cannot execute ... in a read-only transaction"). The start
fails with StorageError, nothing is half-written, and everything stored before is intact.
The same faults from a real full file system, with a real worker, are in test_small_filesystem.py."""

from __future__ import annotations

import pytest

import lilqueue
from tests import engines
from tests.reliability.support import integrity, rows


def snapshot(db_path: str) -> list[tuple]:
    return rows(db_path, "select id, state, version, args, result from lilqueue_job order by id")


def messages(db_path: str) -> int:
    return rows(db_path, f"select count(*) from {engines.huey_table(db_path, 'task')}")[0][0]


def pin_connection(queue: lilqueue.Queue, setting: str) -> None:
    """Set a pragma (SQLite) or a session setting (PostgreSQL) on this thread's connection
    (peewee keeps it open for the thread)."""
    queue.database.connect(reuse_if_open=True)
    queue.database.execute_sql(f"set {setting}" if engines.is_postgres(queue.path) else f"pragma {setting}")


def read_only(queue: lilqueue.Queue, on: bool) -> tuple[str, str]:
    """Make this thread's connection read-only (or writable again); returns what the refusal says."""
    if engines.is_postgres(queue.path):
        pin_connection(queue, f"default_transaction_read_only = {'on' if on else 'off'}")
        return "read-only transaction", "cannot execute"
    pin_connection(queue, f"query_only = {int(on)}")
    return "readonly", "readonly"


@pytest.mark.sqlite_only
def test_a_start_on_a_full_database_raises_storage_error_and_writes_nothing(queue, db_path, figures):
    stored = [queue.start("add", args=[i, i]) for i in range(50)]
    before = snapshot(db_path)
    pages = queue.database.execute_sql("pragma page_count").fetchone()[0]
    pin_connection(queue, f"max_page_count = {pages}")
    refused = accepted = 0
    for size in (10, 10_000, 50_000):
        with pytest.raises(lilqueue.StorageError) as caught:
            queue.start_many("add", [["x" * size, "y"] for _ in range(50)])
        assert "full" in caught.value.detail
        refused += 1
    with pytest.raises(lilqueue.StorageError) as caught:
        for _ in range(100):  # single starts fit in free pages for a while, then stop fitting
            queue.start("add", args=["x" * 5000, "y"])
            accepted += 1
    assert "full" in caught.value.detail
    refused += 1
    assert queue.get(stored[7].id).args == [7, 7]  # reading still works
    assert set(before) <= set(snapshot(db_path))
    assert len(snapshot(db_path)) == len(before) + accepted == messages(db_path)
    pin_connection(queue, "max_page_count = 4294967294")
    assert queue.start("add", args=[1, 1]).state == "queued"
    assert integrity(db_path) == "ok"
    assert set(before) <= set(snapshot(db_path)) and messages(db_path) == len(before) + accepted + 1
    figures.update(starts_refused_full=refused, stored_jobs_intact=len(before), integrity="ok")


def test_a_read_only_connection_refuses_start_and_cancel_with_storage_error(queue, db_path, figures):
    stored = [queue.start("add", args=[i, i]) for i in range(20)]
    before = snapshot(db_path)
    says, also = read_only(queue, True)
    with pytest.raises(lilqueue.StorageError) as caught:
        queue.start("add", args=[1, 2])
    assert says in caught.value.detail and also in caught.value.detail, caught.value.detail
    with pytest.raises(lilqueue.StorageError):
        queue.start_many("add", [[1, 2]] * 10)
    with pytest.raises(lilqueue.StorageError):
        queue.cancel(stored[0].id)
    assert queue.get(stored[0].id).state == "queued"
    assert snapshot(db_path) == before and messages(db_path) == 20
    read_only(queue, False)
    assert queue.cancel(stored[0].id).state == "canceled"
    assert integrity(db_path) == "ok"
    figures.update(writes_refused_read_only=3, stored_jobs_intact=len(before), integrity="ok")
