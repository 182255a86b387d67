"""Opening a PostgreSQL database for lilqueue: the URL, the schema, the connection pool.

    url = Location.parse("postgresql://app@db.internal:5432/app?schema=jobs")
    database = open_database(url, synchronous="full", busy_timeout=10.0)

``schema`` (default ``public``: where the tables live) and ``max_connections`` (default 20: the
pool of each process) are lilqueue's own query parameters, taken off the URL before psycopg sees
it; every other parameter is libpq's. Each connection
sets ``search_path`` to the schema, ``lock_timeout`` to the busy timeout (a lock never waited
on longer than on SQLite) and ``synchronous_commit`` from ``synchronous`` ("normal" -> off: a
commit survives a crash of the client, not of the server's machine, as on SQLite).
"""

from __future__ import annotations

import hashlib
import re
import urllib.parse
from dataclasses import dataclass

from ..errors import ConfigurationError
from .forking import forget_in_children
from .pool import PostgresPool

SCHEMES = ("postgresql://", "postgres://")
OWN_PARAMETERS = ("schema", "max_connections")  # lilqueue's; psycopg never sees them
SCHEMA = re.compile(r"[a-z_][a-z0-9_]{0,62}")
POOL_STALE = 300.0  # seconds a pooled connection is kept before it is replaced
POOL_SIZE = 20      # connections per process by default (a worker reserves one per thread more)


@dataclass(frozen=True)
class Location:
    conninfo: str  # the URL without lilqueue's parameters, for psycopg
    schema: str
    max_connections: int = POOL_SIZE

    @classmethod
    def parse(cls, url: str) -> Location:
        parts = urllib.parse.urlsplit(url)
        query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        ours = {name: value for name, value in query if name in OWN_PARAMETERS}
        schema = ours.get("schema", "public")
        if not SCHEMA.fullmatch(schema):
            raise ConfigurationError(f"schema must be a lower-case SQL name (letters, digits, _), not {schema!r}")
        size = ours.get("max_connections", str(POOL_SIZE))
        if not size.isdigit() or not 1 <= int(size) <= 10_000:
            raise ConfigurationError(f"max_connections must be a whole number from 1 to 10000, not {size!r}")
        rest = urllib.parse.urlencode([(name, value) for name, value in query if name not in OWN_PARAMETERS])
        return cls(urllib.parse.urlunsplit(("postgresql", parts.netloc, parts.path, rest, parts.fragment)),
                   schema, int(size))

    @property
    def shown(self) -> str:
        """The URL for logs and messages: its password hidden, its schema named."""
        parts = urllib.parse.urlsplit(self.conninfo)
        if parts.password is not None:
            parts = parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1))
        if self.schema != "public":
            parts = parts._replace(query="&".join(filter(None, [parts.query, f"schema={self.schema}"])))
        return urllib.parse.urlunsplit(parts)

    @property
    def channel(self) -> str:
        """The notification channel of this schema's job table (channels are per database)."""
        channel = f"lilqueue.{self.schema}"
        if len(channel) > 63:
            channel = "lilqueue." + hashlib.sha1(self.schema.encode()).hexdigest()
        return channel

    def options(self, synchronous: str, busy_timeout: float) -> str:
        commit = "off" if synchronous == "normal" else "on"
        return (f"-c search_path={self.schema} -c lock_timeout={int(busy_timeout * 1000)}"
                f" -c synchronous_commit={commit}")


def driver():
    """psycopg 3, or a clear error saying how to install it."""
    try:
        import psycopg
    except ImportError as exc:
        raise ConfigurationError('the PostgreSQL engine needs psycopg 3: pip install "psycopg[binary]>=3.2"') from exc
    return psycopg


def open_database(location: Location, synchronous: str, busy_timeout: float) -> PostgresPool:
    """A peewee pool of psycopg 3 connections, one per thread that uses it, at most
    ``max_connections``; a thread waits up to the busy timeout for one to come free."""
    driver()
    database = PostgresPool(
        location.conninfo, max_connections=location.max_connections, timeout=max(1, round(busy_timeout)),
        stale_timeout=POOL_STALE, prefer_psycopg3=True,
        options=location.options(synchronous, busy_timeout), connect_timeout=max(2, round(busy_timeout)))
    forget_in_children(database)
    return database
