"""A queue with a periodic task, for workers started by tests/test_periodic.py: the database is
``LILQUEUE_TEST_DB``; each run appends its job id, slot and worker pid to ``<database>.periodic``."""

import os
import time

import lilqueue
from tests import engines

queue = lilqueue.Queue(os.environ["LILQUEUE_TEST_DB"], heartbeat_timeout=2.0)


@queue.periodic("* * * * *")
def every_minute():
    engines.append_line(".periodic", f"{lilqueue.current_job().id} {time.time():.3f} {os.getpid()}")
    return "ran"
