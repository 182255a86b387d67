"""The PostgreSQL server the benchmark runs on: which one, whether it answers, a fresh schema
for each contestant (dropped afterwards), and the CPU its backends spend for a client process.

    url = server_url(None)            # --postgres, else $LILQUEUE_BENCH_POSTGRES, $LILQUEUE_TEST_POSTGRES,
                                      # else postgresql://postgres@127.0.0.1:5432/test
    why = unreachable(url)            # None, or one line saying why the bench cannot use it
    with Schemas(url) as schemas:
        location = schemas.fresh("drain1-lilqueue")   # postgresql://...?schema=bench_drain1_lilqueue_1a2b3c
        ...                                           # every schema made here is dropped on exit
"""

from __future__ import annotations

import os
import re
import secrets
import time
import urllib.parse
from pathlib import Path
from typing import Any

from ..store.pgdatabase import SCHEMES, Location

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
CONNECT_TIMEOUT = 3
DROP_LOCK_TIMEOUT = "10s"
LOCAL_HOSTS = ("", "127.0.0.1", "localhost", "::1")
FULL_SERVER_WAIT = 120.0  # seconds the bench's own connections wait for a server with no free slot


def server_url(given: str | None) -> str:
    return (given or os.environ.get("LILQUEUE_BENCH_POSTGRES") or os.environ.get("LILQUEUE_TEST_POSTGRES")
            or DEFAULT_URL)


def unreachable(url: str) -> str | None:
    """Why the benchmark cannot use PostgreSQL at ``url``, or None."""
    if not url.startswith(SCHEMES):
        return f"{url!r} is not a postgresql:// URL"
    try:
        import psycopg
    except ImportError:
        return 'psycopg 3 is not installed (pip install "psycopg[binary]>=3.2")'
    try:
        psycopg.connect(Location.parse(url).conninfo, connect_timeout=CONNECT_TIMEOUT).close()
    except psycopg.Error as exc:
        return f"cannot connect to {redacted(url)}: {str(exc).strip().splitlines()[0]}"
    return None


def redacted(url: str) -> str:
    """``url`` without its password, for printing (as the engine shows it in its logs)."""
    return Location.parse(url).shown if url.startswith(SCHEMES) else url


def with_schema(url: str, schema: str) -> str:
    """``url`` naming ``schema`` (lilqueue's own query parameter) instead of any it named."""
    conninfo = Location.parse(url).conninfo
    return f"{conninfo}{'&' if '?' in conninfo else '?'}schema={schema}"


def connect(location: str) -> Any:
    """An autocommit psycopg connection whose search_path is ``location``'s schema. A server
    that has all its connections taken (a shared one, under other test runs) is waited for."""
    import psycopg

    where = Location.parse(location)
    deadline = time.monotonic() + FULL_SERVER_WAIT
    while True:
        try:
            return psycopg.connect(where.conninfo, autocommit=True, options=f"-c search_path={where.schema}")
        except psycopg.OperationalError as exc:
            if "too many clients" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


class Schemas:
    """Fresh schemas on one server, each dropped when the benchmark is done with it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._made: list[str] = []
        self._conn: Any = None

    def _admin(self) -> Any:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = connect(self.url)
            self._conn.execute(f"set lock_timeout = '{DROP_LOCK_TIMEOUT}'")
        return self._conn

    def fresh(self, label: str) -> str:
        """A URL naming a new schema, created now (lilqueue would create it too; raw Huey needs it)."""
        schema = "bench_" + re.sub(r"[^a-z0-9_]", "_", label.lower())[:40] + "_" + secrets.token_hex(3)
        self._admin().execute(f"create schema {schema}")
        location = with_schema(self.url, schema)
        self._made.append(location)
        return location

    def drop(self, location: str) -> None:
        self._admin().execute(f"drop schema if exists {Location.parse(location).schema} cascade")
        if location in self._made:
            self._made.remove(location)

    def __enter__(self) -> Schemas:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            for location in list(self._made):
                self.drop(location)
        finally:
            if self._conn is not None:
                self._conn.close()


class BackendCpu:
    """CPU the server processes serving one client process's connections spent between
    ``start()`` and ``stop()`` (seconds). They are found by the client's TCP ports in
    ``pg_stat_activity``; None when the server is not on this machine or none was found."""

    def __init__(self, url: str, client_pid: int) -> None:
        self.url = url
        self.client_pid = client_pid
        self.local = urllib.parse.urlsplit(Location.parse(url).conninfo).hostname in LOCAL_HOSTS
        self._before: dict[int, float] = {}

    def start(self) -> None:
        if self.local:
            self._before = _cpu_seconds(self._pids())

    def stop(self) -> float | None:
        after = _cpu_seconds(self._pids()) if self.local else {}
        if not after:
            return None
        return sum(cpu - self._before.get(pid, 0.0) for pid, cpu in after.items())

    def _pids(self) -> list[int]:
        ports = _client_ports(self.client_pid)
        if not ports:
            return []
        with connect(self.url) as conn:
            rows = conn.execute("select pid from pg_stat_activity where client_port = any(%s)",
                                (sorted(ports),)).fetchall()
        return [pid for pid, in rows if _comm(pid) == "postgres"]


def _cpu_seconds(pids: list[int]) -> dict[int, float]:
    """Each process's CPU time so far (schedstat, nanoseconds), by pid."""
    seconds = {}
    for pid in pids:
        try:
            seconds[pid] = int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
        except (OSError, ValueError, IndexError):
            pass  # a backend that just ended
    return seconds


def _client_ports(pid: int) -> set[int]:
    """Local TCP ports of the sockets process ``pid`` holds."""
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                link = os.readlink(fd)
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[len("socket:["):-1])
    except OSError:
        return set()
    ports = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""
