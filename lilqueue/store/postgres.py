"""The PostgreSQL engine: lilqueue's tables and Huey's in one database (and one schema).

    store = PostgresStore("postgresql://app@db:5432/app?schema=jobs", name="lilqueue", ...)

The transitions are in ``statemachine.py``, guarded for concurrent writers. Here: opening (the schema and
the tables are created on first use, under an advisory lock, so that processes starting together
do not trip over each other's DDL), how a start begins, the claim's ``FOR UPDATE SKIP LOCKED``
(Huey's dequeue, in the claim's transaction), and notifications instead of ``data_version``.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator, Sequence
from typing import Any

import peewee as pw
from huey import Huey

from ..errors import StorageError
from . import schema
from .base import MessageFactory, RulesOf
from .commits import Notifications
from .history import History
from .hueystorage import SharedPostgresStorage
from .pgdatabase import Location, driver, open_database
from .statemachine import SqlStore
from .statements import execute_rows, in_style

SETUP_LOCK = 0x6C696C71  # pg_advisory_xact_lock key while creating tables ("lilq"); the second: the schema's hash
TASK_LOCKS = 0x6C716C74  # first key of the per-task locks of limits ("lqlt"); the second: the task's hash
HUEY_PREFIX = "lilqueue_huey"  # Huey's tables: lilqueue_huey_task, lilqueue_huey_schedule, ...


class PostgresStore(SqlStore):
    def __init__(self, url: str, *, name: str, synchronous: str, busy_timeout: float, max_logs: int,
                 make_message: MessageFactory | None = None, rules_of: RulesOf | None = None) -> None:
        psycopg = driver()
        self._where = Location.parse(url)
        self.location = self._where.shown  # for logs: without the password
        self.spec = {"location": url, "name": name, "synchronous": synchronous,
                     "busy_timeout": busy_timeout, "max_logs": max_logs}
        self.errors = (psycopg.Error, pw.DatabaseError, StorageError)
        self.conflict = (psycopg.errors.UniqueViolation, pw.IntegrityError)
        self._failing = (psycopg.OperationalError, psycopg.errors.ReadOnlySqlTransaction,
                         pw.OperationalError, pw.InternalError)
        self._setup(max_logs, make_message, rules_of)
        self._options = self._where.options(synchronous, busy_timeout)
        self.database = open_database(self._where, synchronous, busy_timeout)
        # A queue that is garbage collected closes its pooled connections (each is a server process).
        weakref.finalize(self, self.database.close_all)
        self.history = History(self.database, reading=self._reading, writing=self._writing,
                               minute=lambda seconds: pw.fn.FLOOR(seconds / 60))
        with self._opening((psycopg.Error, pw.DatabaseError)), self.database.atomic():
            # Per schema: queues in other schemas of the database need not wait for this one.
            self.database.execute_sql("select pg_advisory_xact_lock(%s, hashtext(%s))",
                                      (SETUP_LOCK, self._where.schema))
            # CREATE SCHEMA IF NOT EXISTS needs the right to create even when the schema exists.
            if not self.database.execute_sql("select 1 from pg_namespace where nspname = %s",
                                             (self._where.schema,)).fetchone():
                self.database.execute_sql(f"create schema {self._where.schema}")
            schema.create(self.database, self._where.channel)
            self.huey = Huey(name, results=False, utc=True, storage_class=SharedPostgresStorage,
                             database=self.database, table_prefix=HUEY_PREFIX)

    @contextlib.contextmanager
    def _starting(self) -> Iterator[Any]:
        with self._writing(), self.database.atomic():
            yield self.database.cursor()

    def _lock_task(self, cursor: Any, task: str) -> None:
        # Until the transaction ends: two starts (or claims) of one limited task count in turn.
        cursor.execute("select pg_advisory_xact_lock(%s, hashtext(%s))", (TASK_LOCKS, task))

    def _reading(self) -> contextlib.AbstractContextManager:
        # One snapshot for every statement, as SQLite's read transaction gives: a job list read
        # state by state must not meet a job twice because it moved on between two statements.
        return self.database.atomic(isolation_level="REPEATABLE READ")

    def commits(self) -> Notifications:
        psycopg = driver()
        return Notifications(
            lambda: psycopg.connect(self._where.conninfo, autocommit=True, options=self._options),
            self._where.channel, (psycopg.Error,))

    def _sql(self, sql: str) -> str:
        return in_style(sql, self.database.param)

    def _execute(self, sql: str, params: Sequence = ()) -> Any:
        return self.database.cursor().execute(self._sql(sql), params)

    def _executemany(self, cursor: Any, sql: str, rows: list) -> None:
        execute_rows(cursor, self._sql(sql), rows)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Turns a lost connection, a full disk, a read-only server and a lock timeout into
        StorageError for callers."""
        try:
            yield
        except self._failing as exc:
            raise StorageError(str(exc).strip()) from exc
