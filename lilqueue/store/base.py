"""What every database engine does for lilqueue: the job state machine, behind one interface.

The queue, the worker and the web layer talk only to a ``Store``; they never see SQL. Each
engine (``sqlite.py``, ``postgres.py``) implements every method below, each in ONE transaction
of the calling thread's connection, so that a caller never holds a lock across two calls.

    caller                  method                       one transaction that...
    ----------------------  ---------------------------  ---------------------------------------
    queue.start             insert(new) / insert_many    writes the job row(s) AND the queue
                                                         message(s); returns the unfinished job
                                                         that already holds the key, if any
    pipeline/batch start    insert_flow(parent, first)   the parent row (no message) and its first
                                                         children with their messages
    queue.get, watcher      get(id), versions(ids)       reads (versions: one query for many)
    queue.cancel            cancel(id, now)              queued -> canceled, or flags a running job
    worker executor         claim(worker, now)           takes a message, marks its job running
    task (current_job)      record(id, worker, ...)      stores progress and log lines; answers
                                                         why the task should stop, if it should
    worker executor         finish(claim, ..., next)     stores the outcome (or requeues a retry)
                                                         and, with ``claim_next``, claims again;
                                                         a step's or a child's end moves its
                                                         parent in the same transaction
    worker monitor          cancel_requests, release_due which running jobs must stop; due retries;
                            release_parked               jobs waiting for a slot of their task
                            prune(before)                deletes old finished jobs, in batches
    worker heartbeat        register, heartbeat, reap    live workers; a dead worker's jobs back
    worker monitor          start_slot(new, slot)        a periodic task's job, once per slot
    worker, web watcher     commits()                    (no transaction) notices other commits
    operators (queue.jobs,  history.jobs, .stats,        lists and statistics (history.py, one
    .stats, .purge, retry)  .delete(condition)           query builder for every engine)

Every transition is guarded by the state it leaves (``... WHERE state = 'running' AND worker = ?``)
so a worker that lost a job (reaped, handed back) can no longer change it. A write the database
refuses (disk full, read-only) raises ``StorageError``.
"""

from __future__ import annotations

import abc
import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigurationError
from ..job import Job
from .history import History


@dataclass
class Claim:
    """A job a worker has just marked running."""
    id: str
    task: str
    args: list
    kwargs: dict
    attempts: int
    parent: str | None = None  # a step's pipeline, a child's batch (its end moves them: parents.py)
    step: int | None = None


@dataclass
class Outcome:
    """How an attempt ended, as the worker reports it."""
    state: str
    result: str | None = None
    error: tuple[str, str, str | None] | None = None
    retry_in: float | None = None  # failed, but goes back to the queue after this many seconds
    retry_asked: bool = False      # the task raised Retry ...
    retry_after: float | None = None  # ... with this delay (None: the task's own)
    hand_back: bool = False        # not finished: the worker stopped; give the job to another


@dataclass
class NewJob:
    job: Job        # the snapshot ``start`` returns
    args: str       # the arguments as stored: JSON
    kwargs: str
    message: bytes  # the serialized queue message that carries the job to a worker
    max_pending: int | None = None  # the task's limit of queued and running jobs (Busy past it)


@dataclass
class NewParent:
    """A pipeline's or a batch's own job, as a start writes it: no message, its children's
    ends move it (``parents.py``)."""
    job: Job        # the snapshot ``start`` returns
    args: str       # JSON, as a job's
    kwargs: str
    kind: str       # PIPELINE or BATCH
    total: int      # steps, or items
    plan: str       # JSON: the later steps ({"steps": [{id, task, args, kwargs, priority}]}), a batch's then-task
    max_pending: int | None = None  # the first children's task's limit (a batch's items count against it)


@dataclass
class Final:
    """What a task left unwritten when its attempt ended: stored with the outcome."""
    progress: tuple | None = None
    lines: list = field(default_factory=list)
    dropped: int = 0
    log_count: int | None = None  # the lines the job keeps, if known: saves a count(*)


DOORBELL_WAIT = 0.25  # the longest a ``Commits.wait`` with a doorbell lasts: a look anyway, a stop's delay


class Commits(abc.ABC):
    """Notices commits made by other connections, cheaply, without reading a table."""

    @abc.abstractmethod
    def changed(self) -> bool:
        """True if another connection committed since the last call."""

    wakes = False  # True: ``wait`` returns as soon as another connection commits (a doorbell)

    def wait(self, timeout: float) -> None:
        """Block up to ``timeout`` seconds, or until a commit may have happened where the engine
        can tell (``wakes``); then call ``changed`` or ``jobs``."""
        time.sleep(timeout)

    def jobs(self) -> set[str] | None:
        """The ids of the jobs that changed since the last call, where the engine says so;
        None for "any job may have changed"."""
        return None if self.changed() else set()

    certain = True  # False: the last ``jobs()`` said None without knowing that anyone committed

    @abc.abstractmethod
    def close(self) -> None:
        """Release what the watcher holds."""


MessageFactory = Callable[[str, str, list, dict, int], Any]  # (job id, task, args, kwargs, priority) -> message


@dataclass(frozen=True)
class Rules:
    """What the store must know of a task to move its jobs on its own (reaping, limits)."""
    retries: int = 0
    concurrency: int | None = None  # at most this many of its jobs running at once


RulesOf = Callable[[str], Rules]  # task name -> its rules (Rules() for a task this process does not know)


class Store(abc.ABC):
    """The job table of one queue on one database engine. See the module docstring."""

    huey: Any        # the Huey instance whose storage carries the messages
    database: Any    # the peewee database: per-thread, pooled connections
    location: str    # what the user passed (a path or a URL), made absolute where it is a path
    spec: dict       # open_store(**spec) opens this store again, in another process
    errors: tuple[type[BaseException], ...]  # what a failing database raises (StorageError among them)
    history: History  # the operators' reads and deletions

    @abc.abstractmethod
    def insert(self, new: NewJob) -> Job | None: ...

    @abc.abstractmethod
    def insert_many(self, new: Sequence[NewJob]) -> None: ...

    @abc.abstractmethod
    def insert_flow(self, parent: NewParent, children: Sequence[NewJob]) -> Job | None:
        """A pipeline's or a batch's own job and its first children, in one transaction; returns
        the unfinished job that already holds the parent's key instead, if any."""

    @abc.abstractmethod
    def get(self, job_id: str) -> Job: ...

    @abc.abstractmethod
    def version(self, job_id: str) -> int | None: ...

    @abc.abstractmethod
    def versions(self, job_ids: Sequence[str]) -> dict[str, int]: ...

    @abc.abstractmethod
    def counts(self) -> dict[str, int]:
        """Queued and running jobs: ``{"queued": n, "running": m}``."""

    @abc.abstractmethod
    def freshest_heartbeat(self) -> float | None: ...

    @abc.abstractmethod
    def cancel(self, job_id: str, now: float, version: int | None = None) -> Job:
        """Cancel a job; with ``version``, only while it is at that version (else JobChanged)."""

    @abc.abstractmethod
    def cancel_requests(self, worker: str) -> list[str]: ...

    @abc.abstractmethod
    def claim(self, worker: str, now: float) -> Claim | None | bool:
        """The next job, now running; None when there is none, False for a message whose job
        is gone (canceled while queued): call again."""

    @abc.abstractmethod
    def record(self, job_id: str, worker: str, progress: tuple | None, lines: list, dropped: int,
               log_count: int | None) -> tuple[str | None, int | None]:
        """Returns (None to go on, or STOP_CANCELED or STOP_LOST; the log lines the job keeps)."""

    @abc.abstractmethod
    def finish(self, claim: Claim, worker: str, outcome: Outcome, final: Final, now: float,
               claim_next: bool) -> Claim | None | bool: ...

    @abc.abstractmethod
    def has_due(self) -> bool:
        """A cheap read: is a delayed retry due?"""

    @abc.abstractmethod
    def release_due(self) -> int: ...

    @abc.abstractmethod
    def start_slot(self, new: NewJob, slot: float) -> bool:
        """Start a periodic task's job for ``slot`` (epoch seconds of its minute) unless that
        slot (or a later one) is taken already; True if this call started it."""

    @abc.abstractmethod
    def release_parked(self) -> int:
        """Jobs waiting for a free slot of their task's concurrency limit, given back to the
        queue where one is free (the safety net; finishing a job releases its slot at once)."""

    @abc.abstractmethod
    def log_line(self, job_id: str, now: float, level: str, message: str) -> None:
        """Add one line to a job's log, outside a running task (the worker's own notes)."""

    @abc.abstractmethod
    def prune(self, finished_before: float, batch: int = 500) -> int: ...

    @abc.abstractmethod
    def register(self, worker: str, hostname: str, pid: int, threads: int, now: float) -> None: ...

    @abc.abstractmethod
    def heartbeat(self, worker: str, now: float) -> bool:
        """False if the worker's row is gone: another worker took it for dead."""

    @abc.abstractmethod
    def unregister(self, worker: str) -> None: ...

    @abc.abstractmethod
    def reap(self, stale_before: float, now: float) -> list[tuple[str, str]]:
        """Take back the running jobs of workers silent since ``stale_before``; (id, new state)."""

    @abc.abstractmethod
    def commits(self) -> Commits: ...

    def reserve(self, connections: int) -> None:
        """Allow this process at least ``connections`` at once (a worker: one per thread, and
        its helpers); engines with an unbounded pool have nothing to do."""
        reserve = getattr(self.database, "reserve", None)
        if reserve is not None:
            reserve(connections)

    def close(self) -> None:
        """Close the calling thread's connection (a thread that is about to end, or to wait)."""
        if not self.database.is_closed() and not self.database.in_transaction():
            self.database.close()

    @contextlib.contextmanager
    def _opening(self, failures: tuple[type[BaseException], ...]) -> Iterator[None]:
        """An engine's setup: ``failures`` become a ConfigurationError that names the database,
        and no connection outlives it (a process forked later must not inherit one)."""
        try:
            yield
        except failures as exc:
            reason = " ".join(str(exc).split())  # libpq's messages run over several lines
            raise ConfigurationError(f"cannot open the job database {self.location!r}: {reason}") from exc
        finally:
            self.database.close()
            self.database.close_idle()

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        """A unit of work on this thread (a web request): a connection it opened is closed after."""
        was_closed = self.database.is_closed()
        try:
            yield
        finally:
            if was_closed and not self.database.is_closed():
                self.database.close()
