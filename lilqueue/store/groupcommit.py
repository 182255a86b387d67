"""Group commit: starts made at once by several threads share one transaction, so one fsync.

SQLite has one writer at a time and each commit at ``synchronous=FULL`` waits for the disk. When
eight request threads start jobs together, seven of them would wait for the lock and then each
wait for its own fsync. Here a thread that finds a commit going on queues its work instead; when
that commit ends, one waiting thread leads: it runs every queued work in one transaction, each
inside a savepoint of its own, commits once and hands each caller its own result or error. A
lone start leads at once and waits for nobody. Each caller still returns only after the commit
that holds its rows, so durability is what it was.

    group = GroupCommit(transaction, expected=(sqlite3.IntegrityError, LilqueueError))
    job_id = group.run(lambda cursor: insert(cursor, new))
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from ..errors import StorageError

Work = Callable[[Any], Any]
MAX_BATCH = 256  # works per transaction: a leader holds the write lock this long at most


class _Request:
    __slots__ = ("work", "done", "result", "error")

    def __init__(self, work: Work) -> None:
        self.work = work
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None


class GroupCommit:
    """``transaction()``: a context manager yielding a cursor in a write transaction that
    commits at its end (and rolls back when an exception leaves it). ``expected``: the errors
    one work may raise without spoiling the others' (a unique key taken, a task busy)."""

    def __init__(self, transaction: Callable[[], contextlib.AbstractContextManager], *,
                 expected: tuple[type[BaseException], ...]) -> None:
        self._transaction = transaction
        self._expected = expected
        self._reset()
        # A fork mid-commit must not leave the child's copy locked (weakly: stores come and go).
        os.register_at_fork(after_in_child=functools.partial(_reset, weakref.ref(self)))

    def _reset(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._queue: list[_Request] = []
        self._busy = False

    def run(self, work: Work) -> Any:
        """``work(cursor)`` in a transaction, perhaps with other threads' works; its result,
        or its exception, once that transaction has committed (or failed)."""
        request = _Request(work)
        with self._cond:
            self._queue.append(request)
            while self._busy and not request.done:
                self._cond.wait()
            if not request.done:  # lead: the works in the order they queued, this thread's among them
                self._busy = True
                if self._queue.index(request) >= MAX_BATCH:
                    self._queue.remove(request)
                    self._queue.insert(0, request)
                batch = self._queue[:MAX_BATCH]
                del self._queue[:MAX_BATCH]
        if not request.done:
            try:
                self._commit(batch)
            finally:
                with self._cond:
                    for each in batch:
                        each.done = True
                    self._busy = False
                    self._cond.notify_all()
        if request.error is not None:
            raise request.error
        return request.result

    def _commit(self, batch: list[_Request]) -> None:
        """Runs the batch; a failed transaction (nothing of it written) is every caller's error.
        An interrupt (KeyboardInterrupt, SystemExit) belongs to the leading thread only."""
        try:
            with self._transaction() as cursor:
                if len(batch) == 1:
                    batch[0].result = batch[0].work(cursor)
                else:
                    for request in batch:
                        with self._savepoint(cursor, request):
                            request.result = request.work(cursor)
        except Exception as exc:
            for request in batch:
                request.result, request.error = None, request.error or exc
        except BaseException:
            for request in batch:  # the others' rows were rolled back with the leader's
                request.result, request.error = None, StorageError("the transaction was interrupted")
            raise

    @contextlib.contextmanager
    def _savepoint(self, cursor: Any, request: _Request) -> Iterator[None]:
        cursor.execute("savepoint lilqueue_start")
        try:
            yield
        except self._expected as exc:  # this caller's own error: undo its rows only
            cursor.execute("rollback to lilqueue_start")
            request.error = exc
        cursor.execute("release lilqueue_start")


def _reset(ref: weakref.ref) -> None:
    group = ref()
    if group is not None:
        group._reset()
