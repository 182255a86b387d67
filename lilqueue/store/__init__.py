"""Everything that touches the database. The worker and the web layer see only ``Store``.

    store = open_store("app.db", name="lilqueue", ...)   # SQLite: a file path

One file per engine behind the interface in ``base.py``; ``schema.py`` is the one home of the
tables. See ``base.py`` for the operations and their transactions.
"""

from __future__ import annotations

import os
from typing import Any

from .base import Claim, Commits, Final, NewJob, Outcome, Store
from .sqlite import SqliteStore

__all__ = ["Claim", "Commits", "Final", "NewJob", "Outcome", "SqliteStore", "Store", "open_store"]


def open_store(location: str | os.PathLike, **options: Any) -> Store:
    """The store for ``location``: a file path (or ``sqlite:///path``) opens SQLite. The
    options: ``name``, ``synchronous``, ``busy_timeout``, ``max_logs`` and, for a store that
    requeues jobs (the queue's), ``make_message`` and ``retries_of``."""
    location = os.fspath(location)
    if location.startswith("sqlite:///"):
        location = location[len("sqlite:///"):]
    return SqliteStore(location, **options)
