"""The operators' reads on a big job table: a page of ``queue.jobs()`` (newest, by state, by
task, deep in the keyset), ``queue.stats()``, and the dashboard's job list over HTTP, on a file
holding many finished jobs."""

from __future__ import annotations

import contextlib
import http.client
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from ..job import ID_LENGTH
from ..web.server import make_server
from .contestants import build_queue

TASKS = ("import_csv", "report", "compile", "mail", "resize")
PAGE = 50


def fill(path: str, rows: int) -> None:
    """``rows`` finished jobs over the last three days: 94 % succeeded, 5 % failed, 1 % canceled,
    five tasks, each in every state; written with one INSERT ... SELECT (seconds, not minutes,
    for a million)."""
    queue = build_queue(path)
    now = time.time()
    # Columns that are NOT NULL with only a model-side default (on a new file) get theirs here.
    columns = {column.name for column in queue.database.get_columns("lilqueue_job")}
    zeros = [name for name in ("priority", "parked") if name in columns]
    extra = "".join(f", {name}" for name in zeros)
    with queue.database.atomic():
        queue.database.execute_sql(
            "with recursive n(i) as (select 1 union all select i + 1 from n where i < ?)"
            " insert into lilqueue_job (id, task, state, args, kwargs, version, attempts, cancel_requested,"
            f" logs_dropped, created_at, started_at, finished_at, error_type, error_message{extra})"
            f" select substr(hex(randomblob(16)), 1, {ID_LENGTH}),"
            " case i % 5 when 0 then ? when 1 then ? when 2 then ? when 3 then ? else ? end,"
            " case when i / 7 % 100 < 94 then 'succeeded' when i / 7 % 100 < 99 then 'failed' else 'canceled' end,"
            " '[]', '{}', 3, 1, 0, 0, ? - 259200.0 * i / ?, ? - 259200.0 * i / ? + 0.01,"
            " ? - 259200.0 * i / ? + 0.01 + (i % 997) / 10.0,"
            " case when i / 7 % 100 between 94 and 98 then 'ValueError' end,"
            " case when i / 7 % 100 between 94 and 98 then 'cannot import line 17' end"
            + ", 0" * len(zeros) + " from n", (rows, *TASKS, now, rows, now, rows, now, rows))
        queue.database.execute_sql("drop table lilqueue_stat")  # rebuilt from the rows on the next open
    queue.database.close()


@contextlib.contextmanager
def running_server(app: Callable) -> Iterator[int]:
    """``app`` on lilqueue's threaded server in this process; yields its port."""
    server = make_server(app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _get(port: int, path: str) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)
        answer = conn.getresponse()
        body = answer.read()
        if answer.status != 200:
            raise RuntimeError(f"GET {path}: {answer.status} {body[:200]!r}")
        return body
    finally:
        conn.close()


def measure_pages(workdir: Path, rows: int, repeats: int = 20) -> dict[str, float]:
    """Median milliseconds of each read, on a file of ``rows`` finished jobs."""
    path = str(workdir / "history.db")
    fill(path, rows)
    began = time.perf_counter()
    queue = build_queue(path)  # an older file's first open: counts its finished jobs once
    backfill = (time.perf_counter() - began) * 1000
    middle = queue.jobs(limit=1, created_before=time.time() - 129600)[0].id  # halfway back: a deep page

    def timed(read: Callable[[], object]) -> float:
        read()  # warm the page cache, as a server that keeps running would have it
        samples = []
        for _ in range(repeats):
            began = time.perf_counter()
            read()
            samples.append((time.perf_counter() - began) * 1000)
        return statistics.median(samples)

    with running_server(queue.middleware(admin=lambda environ: True)) as port:
        admin_page = timed(lambda: _get(port, "/jobs/admin/jobs?state=failed"))
    return {
        "admin_page": admin_page,
        "newest": timed(lambda: queue.jobs(limit=PAGE)),
        "failed": timed(lambda: queue.jobs(state="failed", limit=PAGE)),
        "task": timed(lambda: queue.jobs(task="report", limit=PAGE)),
        "deep": timed(lambda: queue.jobs(limit=PAGE, before=middle)),
        "stats": timed(lambda: queue.stats()),
        "backfill": backfill,
    }
