"""Periodic tasks, from a worker: at each matching minute, start the task's job, unless another
worker did (``Queue.start_slot``: one slot, one job, whatever the number of workers).

    schedule = Schedule(queue)
    schedule.tick()     # the monitor calls this about once a second
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..queue import Queue

log = logging.getLogger("lilqueue.worker")

TICK = 1.0  # seconds between looks: a slot's job starts within about this after its minute begins


class Schedule:
    def __init__(self, queue: Queue) -> None:
        self.queue = queue
        self._seen: dict[str, datetime] = {}  # the latest slot each task was offered (saves a write per tick)

    def tick(self) -> int:
        """Offer each periodic task its latest slot, once; returns the jobs this worker started."""
        now = datetime.now(UTC)
        started = 0
        for task in list(self.queue.tasks.values()):
            if task.periodic is None:
                continue
            slot = task.periodic.latest(now)
            if slot is None or self._seen.get(task.name) == slot:
                continue
            job = self.queue.start_slot(task, slot)
            self._seen[task.name] = slot
            if job is not None:
                started += 1
                log.info("job %s %s started for its slot %s", job.id, task.name, slot.isoformat())
        return started
