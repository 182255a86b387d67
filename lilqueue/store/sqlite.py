"""The SQLite engine: lilqueue's tables and Huey's in one file.

    store = SqliteStore("app.db", name="lilqueue", synchronous="full", busy_timeout=10.0, ...)

The transitions are in ``statemachine.py``; this file opens the file and says how SQLite begins a start
(concurrent starts share one commit: ``groupcommit``), reads, and fails. Writes begin IMMEDIATE
(the database's default lock type), so two writers queue on SQLite's busy timeout instead of
failing with "database is locked" when a read lock cannot be upgraded.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import peewee as pw
from huey import Huey

from ..errors import LilqueueError, StorageError
from . import schema
from .base import MessageFactory, RulesOf
from .commits import DataVersion
from .groupcommit import GroupCommit
from .history import History
from .hueystorage import SharedSqliteStorage
from .sqlitefile import open_database, use_wal
from .statemachine import SqlStore


class SqliteStore(SqlStore):
    errors = (sqlite3.Error, pw.DatabaseError, StorageError)
    conflict = (sqlite3.IntegrityError,)

    def __init__(self, path: str, *, name: str, synchronous: str, busy_timeout: float, max_logs: int,
                 make_message: MessageFactory | None = None, rules_of: RulesOf | None = None) -> None:
        self.location = os.path.abspath(path)
        # Everything that shapes this store: another process opens the same with open_store(**spec).
        self.spec = {"location": self.location, "name": name, "synchronous": synchronous,
                     "busy_timeout": busy_timeout, "max_logs": max_logs}
        self._setup(max_logs, make_message, rules_of)
        self.database = open_database(self.location, synchronous, busy_timeout)
        self._group = GroupCommit(self._starting, expected=(*self.conflict, LilqueueError))
        self.history = History(self.database, reading=self._reading, writing=self._writing,
                               minute=lambda seconds: pw.Cast(seconds / 60, "INTEGER"))
        with self._opening((sqlite3.Error, pw.DatabaseError)):
            use_wal(self.database, busy_timeout)
            schema.create(self.database)
            self.huey = Huey(name, results=False, utc=True, storage_class=SharedSqliteStorage,
                             database=self.database)

    @contextlib.contextmanager
    def _starting(self) -> Iterator[sqlite3.Cursor]:
        """The transaction of a start, kept lean (starting is the hot path of a web app): plain
        BEGIN IMMEDIATE and COMMIT on this thread's connection instead of peewee's ``atomic()``."""
        with self._writing():
            cursor = self.database.cursor()
            cursor.execute("begin immediate")
            try:
                yield cursor
                if cursor.connection.in_transaction:
                    cursor.execute("commit")
            except BaseException:
                if cursor.connection.in_transaction:
                    cursor.execute("rollback")
                raise

    def _start(self, work: Callable[[sqlite3.Cursor], Any]) -> Any:
        return self._group.run(work)  # starts of several threads at once: one commit

    def _reading(self) -> contextlib.AbstractContextManager:
        return self.database.atomic("DEFERRED")

    def commits(self) -> DataVersion:
        return DataVersion(self.location)

    def _execute(self, sql: str, params: Sequence = ()) -> sqlite3.Cursor:
        return self.database.cursor().execute(sql, params)

    def _executemany(self, cursor: sqlite3.Cursor, sql: str, rows: list) -> None:
        cursor.executemany(sql, rows)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Turns SQLite's "readonly", "full" and "locked" into StorageError for callers."""
        try:
            yield
        except (sqlite3.OperationalError, pw.OperationalError) as exc:
            # On "full" SQLite rolls back by itself; peewee's own ROLLBACK then fails with
            # "cannot rollback - no transaction is active" and hides the cause: report the cause.
            cause: BaseException = exc
            while "cannot rollback" in str(cause) and cause.__context__ is not None:
                cause = cause.__context__
            raise StorageError(str(cause)) from exc
