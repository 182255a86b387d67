"""Connection pools that give back the connections of threads that ended.

peewee's pools keep each thread's connection in thread-local state until the thread closes
it. The host app's request threads call ``queue.start`` and ``queue.get`` and then end, under
servers that run a thread per request, without closing anything: their connections would stay
"in use" for ever. So the pool remembers which thread holds each connection and, when a thread
asks for one and none is idle, first takes back those of threads that have ended.

On PostgreSQL the pool is bounded (each connection is a server process): a thread that finds
all of them busy waits up to the busy timeout, then gets StorageError (503 over HTTP). A
worker reserves what its threads need (``reserve``).

    database = SqlitePool(path, max_connections=None, ...)
    database = PostgresPool(conninfo, max_connections=20, timeout=10, ...)
"""

from __future__ import annotations

import threading
from typing import Any

from playhouse.pool import MaxConnectionsExceeded, PooledPostgresqlDatabase, PooledSqliteDatabase

from ..errors import StorageError


class _GivesBack:
    _owners: dict[int, threading.Thread]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._owners = {}
        super().__init__(*args, **kwargs)

    def _connect(self) -> Any:
        with self._pool_lock:
            if not self._connections:
                self._take_back()
            conn = super()._connect()
            self._owners[self.conn_key(conn)] = threading.current_thread()
            return conn

    def _close(self, conn: Any, close_conn: bool = False) -> None:
        with self._pool_lock:
            self._owners.pop(self.conn_key(conn), None)
            super()._close(conn, close_conn)

    def _take_back(self) -> None:
        """Check in the connections of threads that have ended."""
        for key, owner in list(self._owners.items()):
            if not owner.is_alive():
                held = self._in_use.get(key)
                if held is not None:
                    self._close(held.connection)
                else:
                    self._owners.pop(key, None)


class SqlitePool(_GivesBack, PooledSqliteDatabase):
    pass


class PostgresPool(_GivesBack, PooledPostgresqlDatabase):
    def connect(self, reuse_if_open: bool = False) -> Any:
        try:
            return super().connect(reuse_if_open)
        except MaxConnectionsExceeded as exc:
            raise StorageError(f"all {self._max_connections} database connections of this process"
                               " stayed busy") from exc

    def reserve(self, connections: int) -> None:
        """Allow at least ``connections`` at once (a worker: one per thread, and its helpers)."""
        with self._pool_lock:
            self._max_connections = max(self._max_connections or 0, connections)
