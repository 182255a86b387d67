"""Whether any worker is alive, for the job JSON's ``no_worker`` field.

The newest heartbeat in the worker table is read at most once per ``ttl`` seconds per web
process, so a field on every answer costs one small query a second, not one per request.
A queued job is shown as waiting for a worker only once it is older than ``NO_WORKER_GRACE``
(the status page) or has been watched that long (lilqueue.js): before that a worker starting
up is about to pick it up.

    presence = Presence(queue)
    presence.alive()    # False when no worker has sent a heartbeat within heartbeat_timeout
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..queue import Queue

NO_WORKER_GRACE = 3.0  # seconds: a queued job younger than this is about to be picked up


class Presence:
    def __init__(self, queue: Queue, ttl: float = 1.0) -> None:
        self.queue = queue
        self.ttl = ttl
        self._lock = threading.Lock()
        self._checked = float("-inf")
        self._beat: float | None = None

    def alive(self) -> bool:
        now = time.monotonic()
        with self._lock:  # one read at a time; the others take its answer
            if now - self._checked >= self.ttl:
                with self.queue.store.scope():  # an event stream's thread keeps no connection
                    self._beat = self.queue.store.freshest_heartbeat()
                self._checked = now
            beat = self._beat
        return beat is not None and time.time() - beat <= self.queue.heartbeat_timeout
