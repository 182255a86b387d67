"""A benchmark contestant on PostgreSQL: lilqueue's PostgreSQL engine, or raw PostgresHuey,
each in a fresh schema of its own that is dropped when the contestant is done.

    with PgContestant("huey", schemas, workdir, "drain1-0") as contestant:
        worker = contestant.worker(1)        # python -m lilqueue.bench.contestants pghuey URL 1
        contestant.start_many(1000)

The measures in ``run.py`` take it as they take the SQLite ``Contestant``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..store.schema import JOB
from .contestants import build_pghuey, build_queue
from .pgserver import BackendCpu, Schemas, connect
from .processes import WorkerProcess
from .run import Contestant


class PgContestant(Contestant):
    def __init__(self, kind: str, schemas: Schemas, workdir: Path, label: str) -> None:
        self.kind = kind
        self.schemas = schemas
        self.path = schemas.fresh(f"{label}_{kind}")
        self.log = workdir / f"pg-{kind}-{label}.log"
        self._reader: Any = None
        try:
            if kind == "lilqueue":
                self.queue = build_queue(self.path)
            else:
                self.huey, self.huey_stamp = build_pghuey(self.path)
        except BaseException:
            schemas.drop(self.path)
            raise

    def _read(self, sql: str) -> list[tuple]:
        """Rows of ``sql`` on one connection kept for the contestant's checks (a drain polls)."""
        if self._reader is None:
            self._reader = connect(self.path)
        return self._reader.execute(sql).fetchall()

    def __exit__(self, *exc: object) -> None:
        if self._reader is not None:
            self._reader.close()
        if self.kind == "lilqueue":
            self.queue.store.database.close_all()
        else:
            self.huey.storage.close()
        self.schemas.drop(self.path)

    def start_many(self, count: int) -> None:
        """``count`` stamp jobs in one transaction (raw Huey: its rows, and one notification
        that wakes its waiting consumers, as each ``enqueue`` sends)."""
        if self.kind == "lilqueue":
            self.queue.start_many("stamp", [()] * count)
            return
        storage = self.huey.storage
        messages = [(self.huey.serialize_task(self.huey_stamp()),) for _ in range(count)]
        with connect(self.path) as conn, conn.transaction():
            conn.cursor().executemany(f"insert into {storage.table_task} (queue, data, priority)"
                                      " values ('bench', %s, 0)", messages)
            conn.execute("select pg_notify(%s, '')", (storage.channel,))

    def finished(self) -> int:
        table = f"{JOB} where state = 'succeeded'" if self.kind == "lilqueue" else \
            f"{self.huey.storage.table_kv} where queue = 'bench'"
        return self._read(f"select count(*) from {table}")[0][0]

    def stamps(self) -> list[float]:
        if self.kind == "lilqueue":
            return [float(r[0]) for r in self._read(f"select result from {JOB} where state = 'succeeded'")]
        return [self.huey.serializer.deserialize(v) for v in self.huey.all_results().values()]

    @property
    def worker_kind(self) -> str:
        return "lilqueue" if self.kind == "lilqueue" else "pghuey"

    def server_cpu(self, worker: WorkerProcess) -> BackendCpu:
        """The CPU the server spends for ``worker`` (its backends), to measure while it idles."""
        return BackendCpu(self.path, worker.process.pid)
