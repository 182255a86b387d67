"""Huey's storages, running on the queue's peewee connections.

Huey 3's ``SqliteStorage`` and ``PostgresStorage`` each keep one connection of their own behind
a lock. Here every thread uses its peewee connection instead, so a job row and its Huey message
are written by one connection and commit or roll back together. Huey's tables, SQL and message
format are unchanged: a start inserts the message Huey's serializer made (``enqueue_many``, in
the start's own transaction); retries, hand-backs and the worker's dequeue go through Huey's
API, and PostgreSQL's dequeue is Huey's own ``FOR UPDATE SKIP LOCKED``, inside the claim's
transaction; SQLite's takes its message in one statement.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import peewee as pw
from huey.storage import PostgresStorage, SqliteStorage
from huey.utils import utcnow

from .statements import execute_rows, in_style


class _OnPeewee:
    """What both storages change in Huey's: the connection, the transaction, the cheap reads."""

    database: pw.Database
    name: str
    task_table: str
    schedule_table: str

    @property
    def conn(self) -> Any:
        return self.database.connection()

    def close(self) -> bool:
        return False

    def initialize_schema(self) -> None:
        # Huey's DDL runs in a write transaction on every open; once its tables exist, opening
        # a queue (a web process, an isolated job's child) must not wait for the write lock.
        if not {self.task_table, self.schedule_table} <= set(self.database.get_tables()):
            super().initialize_schema()  # type: ignore[misc]

    @contextlib.contextmanager
    def db(self, commit: bool = False, close: bool = False) -> Iterator:
        # Join the caller's transaction when there is one: that is what makes a start atomic.
        if commit and not self.database.in_transaction():
            with self.database.atomic():
                yield self.database.cursor()
        else:
            yield self.database.cursor()

    def _one(self, sql: str, params: tuple) -> bool:
        cursor = self.database.cursor()
        cursor.execute(in_style(sql, self.database.param), params)
        return cursor.fetchone() is not None

    def _insert(self, cursor: Any, sql: str, rows: list) -> None:
        execute_rows(cursor, in_style(sql, self.database.param), rows)

    def has_messages(self) -> bool:
        """A cheap read to skip taking the write lock when there is nothing to dequeue."""
        return self._one(f"select 1 from {self.task_table} where queue = ? limit 1", (self.name,))

    def has_due(self) -> bool:
        """A cheap read: is any scheduled message (a delayed retry) due?"""
        return self._one(f"select 1 from {self.schedule_table} where queue = ? and timestamp <= ? limit 1",
                         (self.name, utcnow().timestamp()))

    def enqueue_many(self, cursor: Any, messages: Sequence[tuple[bytes, int]]) -> None:
        """Insert serialized messages (with their priorities) in one statement, in the caller's
        transaction."""
        self._insert(cursor, f"insert into {self.task_table} (queue, data, priority) values (?, ?, ?)",
                     [(self.name, data, priority) for data, priority in messages])

    def schedule_many(self, cursor: Any, messages: Sequence[tuple[bytes, datetime]]) -> None:
        """Insert serialized messages into the schedule, each due at its (aware) moment, in the
        caller's transaction. The timestamp is written as Huey writes its own (a naive UTC
        datetime's ``timestamp()``), so that Huey's ``read_schedule`` finds them on time."""
        self._insert(cursor, f"insert into {self.schedule_table} (queue, data, timestamp) values (?, ?, ?)",
                     [(self.name, data, due.astimezone(UTC).replace(tzinfo=None).timestamp())
                      for data, due in messages])


class SharedSqliteStorage(_OnPeewee, SqliteStorage):
    task_table, schedule_table = "task", "schedule"

    def dequeue(self) -> bytes | None:
        """The next message, taken in ONE statement (Huey's takes three: a look, a read, a
        delete). The callers look for a message before taking the write lock (``claim``) or
        dequeue within a transaction that holds it already (``finish``, ``release_due``)."""
        with self.db(commit=True) as cursor:
            cursor.execute(f"delete from {self.task_table} where id = (select id from {self.task_table}"
                           " where queue = ? order by priority desc, id limit 1) returning data", (self.name,))
            row = cursor.fetchone()
        return None if row is None else row[0]

    def __init__(self, name: str = "huey", database: pw.SqliteDatabase | None = None, **kwargs):
        if database is None:
            raise TypeError("SharedSqliteStorage needs the queue's peewee database")
        self.database = database
        super().__init__(name=name, filename=database.database, journal_mode=None, **kwargs)


class SharedPostgresStorage(_OnPeewee, PostgresStorage):
    def __init__(self, name: str = "huey", database: pw.PostgresqlDatabase | None = None,
                 table_prefix: str = "huey", **kwargs):
        if database is None:
            raise TypeError("SharedPostgresStorage needs the queue's peewee database")
        self.database = database
        self.task_table, self.schedule_table = f"{table_prefix}_task", f"{table_prefix}_schedule"
        # Not blocking: a worker waits on lilqueue's own notifications, never inside a dequeue.
        super().__init__(name=name, blocking=False, table_prefix=table_prefix, **kwargs)
