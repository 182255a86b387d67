"""Huey's SQLite storage, running on the queue's peewee connections.

Huey 3's ``SqliteStorage`` keeps one connection of its own behind a lock. Here every thread
uses its peewee connection instead, so a job row and its Huey message are written by one
connection and commit or roll back together. Huey's tables, SQL and message format are
unchanged: a start inserts the message Huey's serializer made (``enqueue_many``, in the start's
own transaction); retries, hand-backs and the worker's dequeue go through Huey's API.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence

import peewee as pw
from huey.storage import SqliteStorage
from huey.utils import utcnow


class SharedSqliteStorage(SqliteStorage):
    def __init__(self, name: str = "huey", database: pw.SqliteDatabase | None = None, **kwargs):
        if database is None:
            raise TypeError("SharedSqliteStorage needs the queue's peewee database")
        self.database = database
        super().__init__(name=name, filename=database.database, journal_mode=None, **kwargs)

    @property
    def conn(self):
        return self.database.connection()

    def close(self) -> bool:
        return False

    def initialize_schema(self) -> None:
        # Huey's DDL runs in a write transaction on every open; once its tables exist, opening
        # a queue (a web process, an isolated job's child) must not wait for the write lock.
        if {"task", "schedule", "kv", "counter"} <= set(self.database.get_tables()):
            return
        super().initialize_schema()

    @contextlib.contextmanager
    def db(self, commit: bool = False, close: bool = False) -> Iterator:
        # Join the caller's transaction when there is one: that is what makes a start atomic.
        if commit and not self.database.in_transaction():
            with self.database.atomic():
                yield self.database.cursor()
        else:
            yield self.database.cursor()

    def has_messages(self) -> bool:
        """A cheap read to skip taking the write lock when there is nothing to dequeue."""
        return bool(self.sql("select 1 from task where queue = ? limit 1", (self.name,), results=True))

    def has_due(self) -> bool:
        """A cheap read: is any scheduled message (a delayed retry) due?"""
        now = utcnow().timestamp()
        return bool(self.sql("select 1 from schedule where queue = ? and timestamp <= ? limit 1",
                             (self.name, now), results=True))

    def enqueue_many(self, cursor: sqlite3.Cursor, messages: Sequence[bytes]) -> None:
        """Insert serialized messages (priority 0) with one statement, in the caller's transaction."""
        cursor.executemany("insert into task (queue, data, priority) values (?, ?, 0)",
                           [(self.name, self.to_blob(data)) for data in messages])
