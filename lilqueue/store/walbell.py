"""A doorbell for SQLite: the kernel says when anybody writes the database's ``-wal`` file.

Every commit in WAL mode writes its pages to ``<database>-wal`` with ``pwrite``; readers never
write it. inotify (Linux) reports each such write on a file descriptor that a sleeping thread can
block on, so a worker or a web watcher sleeps until some process commits, and writers do nothing
extra. The write comes before the commit is visible (SQLite syncs the file, then publishes the
commit in ``-shm``), so the caller looks again a few times over the next milliseconds
(``DataVersion.wait``).

Where inotify is missing (not Linux, no free inotify instance, no ``-wal`` file) ``WalBell.open``
returns None and the caller polls instead. A bell that stays silent costs only delay: callers
look anyway every ``store.DOORBELL_WAIT``. Nothing depends on the bell.

    bell = WalBell.open("/srv/app.db")      # None: poll
    if bell.wait(0.25):                      # True: the -wal file was written
        ...
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import select
import sys

IN_MODIFY = 0x00000002


def _inotify() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.inotify_init1.argtypes = [ctypes.c_int]
        libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _inotify()


class WalBell:
    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._poll = select.poll()
        self._poll.register(fd, select.POLLIN)

    @classmethod
    def open(cls, database: str) -> WalBell | None:
        """A bell on ``database``'s ``-wal`` file, or None where this system cannot ring one
        (also when there is no ``-wal`` file: the database is not in WAL mode)."""
        if _LIBC is None:
            return None
        fd = _LIBC.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            return None  # EMFILE: the user's inotify instances are used up
        if _LIBC.inotify_add_watch(fd, os.fsencode(database + "-wal"), IN_MODIFY) < 0:
            os.close(fd)
            return None
        return cls(fd)

    def wait(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds for a write; True if one came (or came before)."""
        if not self._poll.poll(max(timeout, 0.0) * 1000):
            return False
        try:
            while os.read(self._fd, 4096):  # one event or many: the caller looks once
                pass
        except BlockingIOError:
            pass
        return True

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
