"""A forked child starts with an empty connection pool.

gunicorn ``--preload`` and a web process forking children of its own hand each child a copy of
the parent's pooled connections. SQLite forbids carrying a connection across fork (its locks
belong to the parent), and a PostgreSQL connection shared by two processes interleaves their
messages on one socket. So the child forgets them: it never uses them and never closes them
(closing could checkpoint the parent's WAL, or end the parent's session), and only keeps them
from the garbage collector.

    database = PooledSqliteDatabase(...)
    forget_in_children(database)
"""

from __future__ import annotations

import functools
import os
import threading
import weakref

from playhouse.pool import PooledDatabase

_INHERITED: list = []


def forget_in_children(database: PooledDatabase) -> None:
    """After every fork, the child's copy of ``database`` has an empty pool."""
    os.register_at_fork(after_in_child=functools.partial(_forget_connections, weakref.ref(database)))


def _forget_connections(ref: weakref.ref) -> None:
    database = ref()
    if database is None:
        return
    _INHERITED.extend(conn for *_, conn in database._connections)
    _INHERITED.extend(database._in_use.values())
    if database._state.conn is not None:
        _INHERITED.append(database._state.conn)
    database._connections, database._in_use = [], {}
    database._owners = {}
    database._state = type(database._state)()
    database._lock = threading.Lock()
    database._pool_lock = threading.RLock()
    database._pool_available = threading.Condition(database._pool_lock)
