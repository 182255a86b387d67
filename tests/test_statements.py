"""lilqueue.store.statements: SQL written once with ``?`` runs on both engines' drivers."""

from __future__ import annotations

from lilqueue.store.statements import execute_rows, in_style
from tests import engines

INSERT = "insert into lilqueue_worker (id, hostname, pid, threads, started_at, heartbeat_at) values (?, ?, ?, ?, ?, ?)"


def test_placeholders_are_written_in_the_drivers_style():
    assert in_style("select ? where a = ?", "%s") == "select %s where a = %s"
    assert in_style("select ? where a = ?", "?") == "select ? where a = ?"


def test_one_row_and_many_rows_are_inserted_on_either_engine(queue, db_path):
    with queue.database.atomic():
        cursor = queue.database.cursor()
        execute_rows(cursor, in_style(INSERT, queue.database.param), [("w1", "h", 1, 1, 0.0, 0.0)])
        execute_rows(cursor, in_style(INSERT, queue.database.param),
                     [(f"w{n}", "h", n, 1, 0.0, 0.0) for n in (2, 3, 4)])
    assert engines.sql(db_path, "select id, pid from lilqueue_worker order by id") == [
        ("w1", 1), ("w2", 2), ("w3", 3), ("w4", 4)]
