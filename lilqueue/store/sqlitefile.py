"""Opening a SQLite file for lilqueue: the connection pool, its pragmas, and the switch to WAL."""

from __future__ import annotations

import sqlite3
import time

import peewee as pw

from .forking import forget_in_children
from .pool import SqlitePool


def open_database(path: str, synchronous: str, busy_timeout: float) -> SqlitePool:
    """Pooled: a web server that runs each request on a new thread reuses connections instead
    of opening one per request (which cost 40% of a long-poll server's time). No journal_mode
    among the pragmas: ``use_wal`` switches once, and the file keeps it."""
    database = SqlitePool(
        path, max_connections=None, lock_type="IMMEDIATE", check_same_thread=False, timeout=busy_timeout,
        pragmas={"busy_timeout": int(busy_timeout * 1000), "synchronous": synchronous, "foreign_keys": 0})
    forget_in_children(database)
    return database


def use_wal(database: pw.SqliteDatabase, busy_timeout: float) -> None:
    """Switch the file to WAL, waiting up to the busy timeout. SQLite does not call its busy
    handler for this switch, so processes opening a fresh file at once (a web server and a
    worker started together) would fail at once without the retry (Huey fixed the same race
    in its own storage, huey#925)."""
    deadline = time.monotonic() + busy_timeout
    pause = 0.005
    while True:
        try:
            mode = database.execute_sql("pragma journal_mode = wal").fetchone()[0]
        except (sqlite3.OperationalError, pw.OperationalError) as exc:
            if ("locked" not in str(exc) and "busy" not in str(exc)) or time.monotonic() > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.1)
            continue
        if mode.lower() != "wal":
            raise pw.OperationalError(f"the file cannot use WAL (journal_mode is {mode!r})")
        return
