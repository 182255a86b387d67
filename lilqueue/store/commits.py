"""Noticing commits made by other connections, without reading any table.

SQLite: ``PRAGMA data_version`` changes when any other connection (in this process or another)
commits, and costs microseconds; the ``-wal`` file's doorbell (``walbell``) says when to look.
PostgreSQL: a trigger notifies one channel per job table with the id of each job that changed
(and an empty payload for new jobs); one LISTEN connection per watcher receives them. The
worker's monitor and the web process's watcher sleep in ``wait`` until a commit may have
happened, call ``changed`` or ``jobs``, and read tables only when something moved. Without a
doorbell they poll every few milliseconds.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import Any

from .base import Commits
from .walbell import WalBell

SWEEP = 0.5    # PostgreSQL: look at everything this often anyway (LISTEN is lost behind PgBouncer)
RECONNECT = 1.0  # PostgreSQL: after a lost LISTEN connection, try again this much later
SETTLE = 0.05    # SQLite: after the doorbell rings, look again for this long (the commit syncs first),
SETTLE_UNSEEN = 2.0  # and on until a commit shows, up to this long (a slow disk's fsync)
SETTLE_STEPS = (0.0001, 0.0002, 0.0004, 0.0008, 0.0016, 0.0032)  # the pauses between those looks


class DataVersion(Commits):
    """``wait`` blocks on the ``-wal`` file's doorbell (``WalBell``) where the system has one.
    A ring comes when a commit's pages are written, a little before the commit is visible (the
    fsync comes between), so until ``SETTLE`` seconds after the last ring, and in any case until
    a commit showed, ``wait`` returns after short pauses that grow to a few milliseconds, and the
    caller looks again; without a bell ``wakes`` is False and the caller polls."""

    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._last = self._read()  # first: opens the -wal file the bell watches
        self._bell = WalBell.open(path)
        self._rang = -SETTLE_UNSEEN  # when the bell last rang
        self._seen = True  # whether a commit became visible since
        self._step = 0     # which of SETTLE_STEPS the next look waits

    @property
    def wakes(self) -> bool:  # type: ignore[override]
        return self._bell is not None

    def _read(self) -> int:
        return self._conn.execute("pragma data_version").fetchone()[0]

    def changed(self) -> bool:
        value = self._read()
        if value == self._last:
            return False
        self._last, self._seen = value, True
        return True

    def wait(self, timeout: float) -> None:
        if self._bell is None:
            time.sleep(timeout)
            return
        since = time.monotonic() - self._rang
        if since < SETTLE or (not self._seen and since < SETTLE_UNSEEN):
            time.sleep(min(SETTLE_STEPS[min(self._step, len(SETTLE_STEPS) - 1)], timeout))
            self._step += 1
            if self._bell.wait(0):  # busy: keep looking every few ms, as a poll would
                self._rang, self._seen = time.monotonic(), False
        elif self._bell.wait(timeout):
            self._rang, self._seen, self._step = time.monotonic(), False, 0

    def close(self) -> None:
        if self._bell is not None:
            self._bell.close()
        self._conn.close()


class Notifications(Commits):
    """LISTEN on ``channel`` over a connection of its own (``connect()``: autocommit). ``wait``
    blocks on its socket: a sleeping monitor costs nothing and wakes at the notification."""

    wakes = True

    def __init__(self, connect: Callable[[], Any], channel: str, errors: tuple[type[BaseException], ...]) -> None:
        self._connect = connect
        self._channel = channel
        self._errors = errors
        self._conn: Any = None
        self._pending: set[str] = set()  # ids received by ``wait``, for the next ``jobs``
        self._retry_at = 0.0
        self._sweep_at = time.monotonic() + SWEEP
        self._listen()

    def _listen(self) -> bool:
        if self._conn is not None and not (self._conn.closed or self._conn.broken):
            return True
        now = time.monotonic()
        if now < self._retry_at:
            return False
        self._retry_at = now + RECONNECT
        try:
            conn = self._connect()
            conn.execute(f'listen "{self._channel}"')
        except self._errors:
            return False
        self._conn = conn
        return True

    def jobs(self) -> set[str] | None:
        """The ids of the jobs notified since the last call ("" for new jobs); None when every
        job may have changed: the periodic sweep, or while the connection is lost."""
        self.certain = False
        if not self._listen():
            return None
        try:
            ids = self._pending | {note.payload for note in self._conn.notifies(timeout=0)}
        except self._errors:
            self._conn = None
            return None
        self._pending = set()
        self.certain = bool(ids)
        now = time.monotonic()
        if now >= self._sweep_at:
            self._sweep_at = now + SWEEP
            return None
        return ids

    def wait(self, timeout: float) -> None:
        if self._pending:
            return
        if not self._listen():
            time.sleep(min(timeout, RECONNECT))
            return
        try:
            self._pending.update(note.payload for note in self._conn.notifies(timeout=timeout, stop_after=1))
        except self._errors:
            self._conn = None

    def changed(self) -> bool:
        return self.jobs() != set()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
