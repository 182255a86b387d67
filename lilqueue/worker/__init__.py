"""The worker: threads that claim jobs and run each attempt, here or in a child process.

    worker = queue.worker(threads=4)
    worker.run()                 # blocks; SIGTERM/SIGINT stop it gracefully

``loop.py`` holds the Worker (its threads, monitor and heartbeat), ``attempt.py`` the one
path that runs an attempt, ``isolation.py`` the child process for isolated and timed tasks.
"""

from .loop import Worker

__all__ = ["Worker"]
