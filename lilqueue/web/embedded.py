"""``queue.middleware(app, worker=True)``: a worker inside every process that serves the app.

The worker starts in a process on the first request that reaches the face there, or on the
first job started there (``Queue._started`` calls ``wake``): mounted under a path, a face sees
only its own requests, and a job started by a host route must not wait for one of them. So it
starts after gunicorn's fork (``--preload`` included: the master starts no job), only in the
werkzeug or Django reloader's child (the parent serves nothing), and again in a child forked
after it started; a process that only imports the app starts none. A job started by a job
wakes nothing (a worker runs it already), nor does one in immediate mode.
It stops, handing its running jobs back within the grace, when the interpreter exits
(gunicorn's graceful stop, the reloader's restart, Ctrl-C, a script's end) and on SIGTERM:
where nobody handles SIGTERM (Python's default kills at once), a handler is installed, from
the main thread, that stops the embedded workers and then lets the signal kill the process.
After an explicit ``stop()`` (``close()``, an ASGI lifespan's shutdown, exit, SIGTERM) a start
no longer wakes it; a request does (``ensure``), as does ``start()``.

    embedded = Embedded(queue, threads=2)
    embedded.ensure()     # on every request: starts the worker once per process
    embedded.start()      # an ASGI lifespan's startup; embedded.stop() at its shutdown
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing.util
import os
import signal
import threading
import weakref
from typing import TYPE_CHECKING

from ..context import current_job
from ..worker import Worker

if TYPE_CHECKING:
    from ..job import Job
    from ..queue import Queue

log = logging.getLogger("lilqueue.worker")


class Embedded:
    def __init__(self, queue: Queue, threads: int) -> None:
        self.queue = queue
        self.threads = threads
        self.worker: Worker | None = None
        self._pid: int | None = None
        self._lock = threading.RLock()  # stop() may run in a signal handler while ensure() holds it
        self._stopped = False  # by stop(): a start no longer wakes the worker, a request still does
        _stop_on_sigterm(self)
        with _EMBEDDED_LOCK:
            _EMBEDDED.add(self)

    def ensure(self) -> None:
        """Start this process's worker unless it runs already (cheap when it does)."""
        self._start(after_stop=True)

    def start(self) -> None:
        """Start this process's worker now, not on the first request or job (an ASGI lifespan's
        startup); the same as ``ensure()``."""
        self.ensure()

    def wake(self) -> None:
        """A job was started in this process: start its worker unless it runs, or ``stop()``
        stopped it (a start after a shutdown began must not undo it)."""
        self._start(after_stop=False)

    def _start(self, after_stop: bool) -> None:
        if self._pid == os.getpid() or self.queue.immediate:  # immediate mode: start() runs the jobs
            return
        with self._lock:
            if self._pid == os.getpid() or (self._stopped and not after_stop):
                return
            self._stopped = False
            try:
                self.worker = Worker(self.queue, threads=self.threads).start()
            except self.queue.store.errors as exc:  # the next request tries again
                log.error("cannot start the worker inside web process %d: %s", os.getpid(), exc)
                return
            self._pid = os.getpid()
        atexit.register(self.stop)
        # A multiprocessing child (granian's workers) leaves without running atexit, but with
        # multiprocessing's own finalizers.
        multiprocessing.util.Finalize(self, self.stop, exitpriority=10)
        log.info("worker %s runs inside web process %d", self.worker.id, self._pid)

    @property
    def running(self) -> bool:
        """Whether this process's worker was started (here, not in a parent before a fork)."""
        return self._pid == os.getpid()

    def stop(self) -> None:
        """Stop this process's worker: running jobs get the grace, then go back to the queue."""
        with self._lock:
            worker, running_here = self.worker, self._pid == os.getpid()
            self.worker = self._pid = None
            self._stopped = True
        if worker is not None and running_here:
            atexit.unregister(self.stop)
            worker.stop()

    def __repr__(self) -> str:
        return f"<Embedded worker {self.worker!r} in pid {self._pid}>"


_EMBEDDED: weakref.WeakSet[Embedded] = weakref.WeakSet()  # this process's, woken by a start
_EMBEDDED_LOCK = threading.Lock()  # a set growing on another thread cannot be copied
_STOP_ON_SIGTERM: weakref.WeakSet[Embedded] = weakref.WeakSet()


def wake(queue: Queue, jobs: list[Job]) -> list[Job]:
    """``jobs``, just started on ``queue`` in this process, after waking the queue's embedded
    workers here (``Queue._started``; not in immediate mode). A job started by a job wakes
    nothing: a worker runs it already, maybe a separate one that imported a module building a
    face with ``worker=True``, and must not get a second worker inside it."""
    if current_job().id is None:
        with _EMBEDDED_LOCK:
            embeddeds = [embedded for embedded in _EMBEDDED if embedded.queue is queue]
        for embedded in embeddeds:
            try:
                embedded.wake()
            except Exception:  # the jobs are written: a start that raised would look failed
                log.exception("cannot start the worker inside process %d", os.getpid())
    return jobs


def _stop_on_sigterm(embedded: Embedded) -> None:
    if signal.getsignal(signal.SIGTERM) is _on_sigterm:
        _STOP_ON_SIGTERM.add(embedded)
    elif (threading.current_thread() is threading.main_thread()
          and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL):
        _STOP_ON_SIGTERM.add(embedded)
        signal.signal(signal.SIGTERM, _on_sigterm)
    # else the server handles SIGTERM itself (gunicorn, uvicorn) and exits
    # through the interpreter's exit, where atexit stops the worker


def _on_sigterm(signum: int, frame: object) -> None:
    for embedded in list(_STOP_ON_SIGTERM):
        embedded.stop()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)
