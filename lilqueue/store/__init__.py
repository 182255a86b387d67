"""Everything that touches the database. The worker and the web layer see only ``Store``.

    store = open_store("app.db", name="lilqueue", ...)   # SQLite: a file path
    store = open_store("postgresql://app@db/app", ...)    # PostgreSQL: a URL

One file per engine behind the interface in ``base.py``; ``schema.py`` is the one home of the
tables. See ``base.py`` for the operations and their transactions.
"""

from __future__ import annotations

import os
import re
from typing import Any

from ..errors import ConfigurationError
from .base import DOORBELL_WAIT, Claim, Commits, Final, NewJob, NewParent, Outcome, Rules, Store
from .pgdatabase import SCHEMES
from .postgres import PostgresStore
from .schema import WORKER_LENGTH
from .sqlite import SqliteStore

__all__ = ["DOORBELL_WAIT", "WORKER_LENGTH", "Claim", "Commits", "Final", "NewJob", "NewParent", "Outcome",
           "PostgresStore", "Rules", "SqliteStore", "Store", "open_store"]


def open_store(location: str | os.PathLike, **options: Any) -> Store:
    """The store for ``location``: a ``postgresql://`` (or ``postgres://``) URL opens
    PostgreSQL; a file path (or ``sqlite:///path``) opens SQLite. The options: ``name``,
    ``synchronous``, ``busy_timeout``, ``max_logs`` and, for a store that requeues jobs (the
    queue's), ``make_message`` and ``rules_of``."""
    location = os.fspath(location)
    if location.startswith(SCHEMES):
        return PostgresStore(location, **options)
    if location.startswith("sqlite:///"):
        location = location[len("sqlite:///"):]
    elif re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", location):
        raise ConfigurationError(f"unknown database URL {location.split('://')[0]}://..."
                                 " (a file path, sqlite:///path or postgresql://...)")
    return SqliteStore(location, **options)
