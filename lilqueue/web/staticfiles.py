"""The files the browser loads (lilqueue.js, the dashboard's admin.js and admin.css), with the
facts a script shares with Python written in when served, so that each fact has one source.

A script holds one placeholder object, valid JavaScript as the file lies on disk; serving it
puts there the JSON of ``facts(max_wait)``: the long-poll wait (the middleware's ``max_wait``),
the no-worker grace (``presence.py``) and the state names (``states.py``):

    const FACTS = /*facts*/{}/*end*/;                        // in the file
    const FACTS = /*facts*/{"wait": 25.0, ...}/*end*/;       // as served

    script = asset(STATIC_DIR / "lilqueue.js", options.max_wait)   # read and filled once
    script.version                  # a hash of the filled bytes: the dashboard's ?v= and the ETag
    script.answer(request, 3600)    # 200 with the bytes, or 304 for a browser that has them

A copy served from elsewhere must be the filled file, as the middleware serves it.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from pathlib import Path
from typing import Any

from ..states import CANCELED, FAILED, FINISHED, QUEUED, RUNNING, SUCCEEDED
from . import conditional
from .http import Request, Response
from .presence import NO_WORKER_GRACE

PLACEHOLDER = b"/*facts*/{}/*end*/"
TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


def facts(max_wait: float) -> dict[str, Any]:
    """What the scripts know from Python: seconds for the two durations, the state names keyed
    by their names in ``states.py``, and the finished states."""
    return {
        "wait": max_wait,
        "no_worker_grace": NO_WORKER_GRACE,
        "states": {"QUEUED": QUEUED, "RUNNING": RUNNING, "SUCCEEDED": SUCCEEDED, "FAILED": FAILED,
                   "CANCELED": CANCELED},
        "finished": list(FINISHED),
    }


@dataclasses.dataclass(frozen=True)
class Asset:
    """A file as served: its bytes, their content type, and a version (a hash of the bytes)."""

    data: bytes
    content_type: str
    version: str

    @property
    def etag(self) -> str:
        return f'"{self.version}"'

    def answer(self, request: Request, max_age: int) -> Response:
        """Cached for ``max_age`` seconds, then revalidated: an unchanged file is a 304 without a body."""
        headers = [("ETag", self.etag), ("Cache-Control", f"public, max-age={max_age}")]
        if conditional.lists(request.headers.get("if-none-match"), self.etag):
            return Response(304, headers)
        return Response(200, [("Content-Type", self.content_type), *headers], self.data)


def asset(path: Path, max_wait: float) -> Asset:
    """The file at ``path``, its placeholder (if it has one) filled; OSError when it is missing."""
    return _filled(path, json.dumps(facts(max_wait), separators=(",", ":")))


@functools.lru_cache(maxsize=16)
def _filled(path: Path, known: str) -> Asset:
    data = path.read_bytes().replace(PLACEHOLDER, PLACEHOLDER.replace(b"{}", known.encode()))
    return Asset(data, TYPES[path.suffix], hashlib.sha256(data).hexdigest()[:16])
