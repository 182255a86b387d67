"""``queue.middleware(app, worker=True)``: a worker inside every process that serves the app.

The worker starts in a process on the first request that reaches the middleware there, so it
starts after gunicorn's fork (``--preload`` included), only in the werkzeug or Django
reloader's child (the parent never serves), and again in a child forked after it started.
It stops, handing its running jobs back within the grace, when the interpreter exits
(gunicorn's graceful stop, the reloader's restart, Ctrl-C) and on SIGTERM: where nobody
handles SIGTERM (Python's default kills at once), a handler is installed, from the main
thread, that stops the embedded workers and then lets the signal kill the process as before.

    embedded = Embedded(queue, threads=2)
    embedded.ensure()     # on every request: starts the worker once per process
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import threading
import weakref
from typing import TYPE_CHECKING

from ..worker import Worker

if TYPE_CHECKING:
    from ..queue import Queue

log = logging.getLogger("lilqueue.worker")


class Embedded:
    def __init__(self, queue: Queue, threads: int) -> None:
        self.queue = queue
        self.threads = threads
        self.worker: Worker | None = None
        self._pid: int | None = None
        self._lock = threading.RLock()  # stop() may run in a signal handler while ensure() holds it
        _stop_on_sigterm(self)

    def ensure(self) -> None:
        """Start this process's worker unless it runs already (cheap when it does)."""
        if self._pid == os.getpid() or self.queue.immediate:  # immediate mode: start() runs the jobs
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            try:
                self.worker = Worker(self.queue, threads=self.threads).start()
            except self.queue.store.errors as exc:  # the next request tries again
                log.error("cannot start the worker inside web process %d: %s", os.getpid(), exc)
                return
            self._pid = os.getpid()
        atexit.register(self.stop)
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
        if worker is not None and running_here:
            atexit.unregister(self.stop)
            worker.stop()

    def __repr__(self) -> str:
        return f"<Embedded worker {self.worker!r} in pid {self._pid}>"


_STOP_ON_SIGTERM: weakref.WeakSet[Embedded] = weakref.WeakSet()


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
