"""``python -m lilqueue bench --json FILE``: every figure of the run, machine-readable.

    python -m lilqueue bench --quick --json figures.json
    python -m lilqueue bench --json - > figures.json       # the tables go to stderr

The document (``FILE`` is written once, at the end of the run)::

    {"lilqueue": "0.1.0", "huey": "3.5.4", "python": "3.11.7", "sqlite": "3.40.1",
     "platform": "Linux-...", "cores": 2, "plan": "quick", "started_at": "2026-12-01T09:30:00+00:00",
     "engines": {"sqlite": [{"name": "enqueue, one job per start(), 1 thread(s)", "unit": "jobs/s",
                             "lilqueue": 5189.2, "peer": 5815.4, "peer_name": "SqliteHuey",
                             "ratio": 0.89, "target": ">= 1.0x", "lower_is_better": false}, ...],
                 "postgres": [...]}}

Figures keep the order of the printed tables. An engine that was not measured has no key; a
figure without a peer has ``peer``, ``peer_name`` and ``ratio`` null, one without a target a
null ``target``; ``ratio`` above 1 means lilqueue did better, as in the tables.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sqlite3
from datetime import UTC, datetime
from typing import IO, Any

import huey

from .. import __version__
from .figures import Figure

STDOUT = "-"


def unwritable(path: str) -> str | None:
    """Why the figures cannot go to ``path`` (None: they can), asked before the long run: the
    file is opened for appending, which creates it, and removed again if it was not there."""
    if path == STDOUT:
        return None
    existed = os.path.lexists(path)
    try:
        with open(path, "a"):
            pass
    except OSError as exc:
        return f"--json {path}: cannot write there ({exc.strerror})"
    if not existed:
        os.remove(path)
    return None


def _number(value: float | None) -> float | None:
    """JSON has no NaN nor infinity: a figure that could not be measured is null."""
    if value is None or not math.isfinite(value):
        return None
    return value


class Report:
    """The figures of one run, engine by engine, and what they were measured on."""

    def __init__(self, plan: str) -> None:
        self.plan = plan
        self.started_at = datetime.now(UTC).isoformat(timespec="seconds")
        self.engines: dict[str, list[dict[str, Any]]] = {}

    def add(self, engine: str, figures: list[Figure], peer_name: str) -> None:
        """``figures`` of ``engine``, whose peer column holds ``peer_name``'s values."""
        self.engines.setdefault(engine, []).extend(
            {"name": f.name.strip(), "unit": f.unit, "lilqueue": _number(f.lilqueue), "peer": _number(f.huey),
             "peer_name": None if f.huey is None else peer_name, "ratio": _number(f.ratio),
             "target": f.target or None, "lower_is_better": f.lower_is_better} for f in figures)

    def document(self) -> dict[str, Any]:
        return {"lilqueue": __version__, "huey": huey.__version__, "python": platform.python_version(),
                "sqlite": sqlite3.sqlite_version, "platform": platform.platform(), "cores": os.cpu_count(),
                "plan": self.plan, "started_at": self.started_at, "engines": self.engines}

    def write(self, path: str, stdout: IO[str]) -> None:
        """To ``path``, or to ``stdout`` for ``-``; raises OSError."""
        text = json.dumps(self.document(), indent=2) + "\n"
        if path == STDOUT:
            stdout.write(text)
            stdout.flush()
            return
        with open(path, "w", encoding="utf-8") as file:
            file.write(text)

    def __repr__(self) -> str:
        return f"<Report {self.plan} {sorted(self.engines)}>"
