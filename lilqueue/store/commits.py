"""Noticing commits to a SQLite file without reading any table.

``PRAGMA data_version`` changes when any other connection (in this process or another)
commits, and costs microseconds. The worker's monitor and the web process's watcher poll it
every few milliseconds and read tables only when it moved.
"""

from __future__ import annotations

import sqlite3

from .base import Commits


class DataVersion(Commits):
    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._last = self._read()

    def _read(self) -> int:
        return self._conn.execute("pragma data_version").fetchone()[0]

    def changed(self) -> bool:
        value = self._read()
        if value == self._last:
            return False
        self._last = value
        return True

    def close(self) -> None:
        self._conn.close()
