"""The benchmark's contestants: the same tasks on lilqueue and on raw Huey (SqliteHuey, or
PostgresHuey beside lilqueue's PostgreSQL engine), and the worker process for each.

    python -m lilqueue.bench.contestants lilqueue PATH_OR_URL THREADS
    python -m lilqueue.bench.contestants huey PATH THREADS
    python -m lilqueue.bench.contestants pghuey URL THREADS       (URL: postgresql://...?schema=S)
    python -m lilqueue.bench.contestants web PATH MAX_WAITERS     (prints the port it listens on)
"""

from __future__ import annotations

import sys
import time

from huey import PostgresHuey, SqliteHuey
from huey.api import Task

import lilqueue
from lilqueue.store.pgdatabase import Location
from lilqueue.web.server import serve


def stamp() -> float:
    """Returns when it began: the benchmark's clock for pickup and drain rates."""
    return time.time()


def report(count: int, pause: float, first: float = 0.0) -> int:
    """Reports progress whose message is the time of the ``progress()`` call, ``count`` times
    ``pause`` apart, the first after ``first + pause`` (jobs started together spread their
    reports over the pause by their ``first``)."""
    job = lilqueue.current_job()
    time.sleep(first)
    for i in range(1, count + 1):
        time.sleep(pause)
        job.progress(i, total=count, message=repr(time.time()))
    return count


def build_queue(path: str, **options) -> lilqueue.Queue:
    queue = lilqueue.Queue(path, **options)
    queue.task(stamp)
    queue.task(report)
    return queue


def build_huey(path: str) -> tuple[SqliteHuey, type[Task]]:
    """Raw Huey on its own SQLite storage, and its stamp task's class (an instance is one call)."""
    huey = SqliteHuey("bench", filename=path)
    return huey, huey.task(name="stamp")(stamp).task_class


def build_pghuey(url: str) -> tuple[PostgresHuey, type[Task]]:
    """Raw Huey on its own PostgreSQL storage (its defaults: a blocking dequeue that LISTENs),
    with its tables in the schema the lilqueue-style ``url`` names."""
    where = Location.parse(url)
    huey = PostgresHuey("bench", dsn=where.conninfo, options=f"-c search_path={where.schema}")
    return huey, huey.task(name="stamp")(stamp).task_class


def main(argv: list[str]) -> None:
    kind, path, number = argv[0], argv[1], int(argv[2])
    if kind == "lilqueue":
        build_queue(path).worker(threads=number).run()
    elif kind == "web":
        app = build_queue(path).middleware(max_waiters=number)
        serve(app, "127.0.0.1", 0, ready=lambda server: print(server.server_port, flush=True))
    else:
        huey, _ = build_pghuey(path) if kind == "pghuey" else build_huey(path)
        huey.create_consumer(workers=number, worker_type="thread", periodic=False).run()


if __name__ == "__main__":
    # Run the module's own copy, not __main__'s: Huey names tasks after their module.
    from lilqueue.bench.contestants import main as package_main
    package_main(sys.argv[1:])
