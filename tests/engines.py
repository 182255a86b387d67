"""The engines the suite runs on: a fresh SQLite file, or a fresh schema in a real PostgreSQL.

    location = engines.fresh("postgres", tmp_path)   # postgresql://...?schema=t_1a2b3c4d5e6f
    engines.sql(location, "select count(*) from lilqueue_job")
    engines.drop(location)

Tests read tables through ``sql`` (``?`` placeholders on both engines), not through lilqueue,
so a check does not trust the code it checks. ``LILQUEUE_TEST_POSTGRES`` names the server
(default: the machine's, 127.0.0.1:5432, user postgres, database test).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
import tempfile
import weakref
from collections.abc import Iterator
from pathlib import Path

from lilqueue.store.pgdatabase import SCHEMES, Location
from lilqueue.store.pool import PostgresPool

ENGINES = ("sqlite", "postgres")
POSTGRES = os.environ.get("LILQUEUE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
SIDE_FILES = Path(tempfile.gettempdir()) / "lilqueue-tests"


def is_postgres(location: str) -> bool:
    return location.startswith(SCHEMES)


def postgres_missing() -> str | None:
    """Why PostgreSQL cannot be used here, or None."""
    try:
        import psycopg
    except ImportError:
        return 'psycopg is not installed (pip install -e ".[postgres,test]")'
    try:
        psycopg.connect(POSTGRES, connect_timeout=3).close()
    except psycopg.Error as exc:
        return f"no PostgreSQL at {POSTGRES}: {exc}"
    return None


def fresh(engine: str, tmp_path: Path) -> str:
    """A location nobody used: a file in ``tmp_path``, or a new schema (created on first use)."""
    if engine == "sqlite":
        return str(tmp_path / "jobs.db")
    return f"{POSTGRES}?schema=t_{secrets.token_hex(6)}"


_POOLS: weakref.WeakSet[PostgresPool] = weakref.WeakSet()
_opened = PostgresPool.__init__


def _registered(pool: PostgresPool, *args, **kwargs) -> None:
    _opened(pool, *args, **kwargs)
    _POOLS.add(pool)


PostgresPool.__init__ = _registered  # every pool this process opens is seen by pools_closed_after


@contextlib.contextmanager
def pools_closed_after() -> Iterator[None]:
    """Close the PostgreSQL connections of the pools opened inside the block once it ends. A
    queue's pool keeps them open until the queue is garbage collected, which a reference cycle
    delays: four test processes then held up to 30 each, and the server (100 at most) refused
    the next test's worker ("too many clients already")."""
    before = set(_POOLS)
    try:
        yield
    finally:
        for pool in set(_POOLS) - before:
            pool.close_all()


def drop(location: str) -> None:
    """Drop a test's schema (waiting at most a few seconds for connections that still hold locks)."""
    if not is_postgres(location):
        return
    import psycopg

    schema = Location.parse(location).schema
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        conn.execute("set lock_timeout = '5s'")
        conn.execute(f"drop schema if exists {schema} cascade")


def connect(location: str, timeout: float = 30):
    """A DB-API connection to a test's tables (committing per statement)."""
    if not is_postgres(location):
        return sqlite3.connect(location, timeout=timeout, isolation_level=None)
    import psycopg

    where = Location.parse(location)
    return psycopg.connect(where.conninfo, autocommit=True, options=f"-c search_path={where.schema}")


def sql(location: str, query: str, params=()) -> list[tuple]:
    """Run one statement on a test's tables and return its rows ([] for none)."""
    if is_postgres(location):
        query = query.replace("?", "%s")
    conn = connect(location)
    try:
        cursor = conn.execute(query, params)
        return cursor.fetchall() if cursor.description else []
    finally:
        conn.close()


def side_file(location: str, suffix: str) -> str:
    """A file that belongs to a test's database (tasks record their runs in ``.runs``)."""
    if not is_postgres(location):
        return location + suffix
    SIDE_FILES.mkdir(exist_ok=True)
    return str(SIDE_FILES / (Location.parse(location).schema + suffix))


def append_line(suffix: str, line: str) -> None:
    """Append one line to a side file of the database in ``LILQUEUE_TEST_DB`` (from a task, in
    a worker process), with O_APPEND: lines of concurrent writers never interleave."""
    fd = os.open(side_file(os.environ["LILQUEUE_TEST_DB"], suffix), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{line}\n".encode())
    finally:
        os.close(fd)


def huey_table(location: str, table: str) -> str:
    """The name of one of Huey's tables (``task``, ``schedule``) on the test's engine."""
    if not is_postgres(location):
        return table
    from lilqueue.store.postgres import HUEY_PREFIX

    return f"{HUEY_PREFIX}_{table}"
