"""Whether any worker is alive, for the job JSON's ``no_worker`` field.

The newest heartbeat in the worker table is read at most once per ``ttl`` seconds per web
process, so a field on every answer costs one small query a second, not one per request. Only
the first read blocks its caller: later, a stale answer starts a read in a thread of its own
and is given meanwhile (at most one read runs), so an event stream on the ASGI face may ask
from the event loop. A queued job is shown as waiting for a worker only once it is older than
``NO_WORKER_GRACE`` (the status page) or has been watched that long (lilqueue.js): before that
a worker starting up is about to pick it up.

    presence = Presence(queue)
    presence.alive()    # False when no worker has sent a heartbeat within heartbeat_timeout
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..queue import Queue

logger = logging.getLogger("lilqueue.web")
NO_WORKER_GRACE = 3.0  # seconds: a queued job younger than this is about to be picked up


class Presence:
    def __init__(self, queue: Queue, ttl: float = 1.0) -> None:
        self.queue = queue
        self.ttl = ttl
        self._lock = threading.Lock()
        self._checked = float("-inf")
        self._reading = False
        self._known = threading.Event()  # set once the first read is done
        self._beat: float | None = None

    def alive(self) -> bool:
        with self._lock:
            stale = time.monotonic() - self._checked >= self.ttl and not self._reading
            self._reading = self._reading or stale
        if stale and not self._known.is_set():
            self._read()
        elif stale:
            threading.Thread(target=self._read, name="lilqueue-presence", daemon=True).start()
        self._known.wait()
        beat = self._beat
        return beat is not None and time.time() - beat <= self.queue.heartbeat_timeout

    def _read(self) -> None:
        try:
            with self.queue.store.scope():  # a stream's thread (or this one) keeps no connection
                beat = self.queue.store.freshest_heartbeat()
        except Exception:
            logger.exception("cannot read the workers' heartbeats; no_worker keeps its last answer")
            beat = self._beat
        with self._lock:
            self._beat, self._checked, self._reading = beat, time.monotonic(), False
        self._known.set()
