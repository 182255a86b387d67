"""The options of a queue's HTTP face, checked once when the face is made, whichever face it is
(``queue.middleware`` for WSGI, ``queue.asgi`` for ASGI take the same ones; docs/http.md).

``identify(native) -> str | None`` names the user; it is stored as the job's owner.
``authorize(native, action, target) -> bool`` is asked with action ``"start"`` (target: the task
name), ``"view"`` and ``"cancel"`` (target: the Job). Without it, anyone who can reach the
endpoints may start any registered task and, knowing a job's id, watch and cancel it. ``native``
is the WSGI environ or the ASGI scope; on ASGI a hook may be ``async def``. ``max_waiters`` caps
the requests waiting at once (long-poll and SSE); past it they get 429 with ``Retry-After``.
``hold`` says how many of them this process may hold (``"auto"``: on WSGI by server kind, see
``holding.py``; on ASGI all of them); the others are answered at once with the current job and
``Retry-After``. ``worker=True`` (or a number of threads) runs a worker inside every process that
serves the face (see ``embedded.py``). ``admin`` (``hook(native) -> bool``, who is an operator)
serves the dashboard at ``{prefix}/admin/``, and ``metrics`` (a hook too, by default ``admin``'s)
the Prometheus figures at ``{prefix}/metrics``; without a hook both are 404, refused by it 403.
``max_wait`` caps a long-poll's ``wait`` (seconds); ``max_body`` caps a POST body (bytes);
``stream_lifetime`` bounds one SSE stream and ``heartbeat`` spaces its comments;
``cors_origins`` lists origins (``"https://app.example"``) allowed to call cross-origin.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigurationError
from ..settings import MIDDLEWARE

PREFIX_PATTERN = re.compile(r"(/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)*")
HOOKS = ("identify", "authorize", "admin", "metrics")


@dataclass(frozen=True)
class WebOptions:
    prefix: str
    identify: Callable[..., Any] | None
    authorize: Callable[..., Any] | None
    admin: Callable[..., Any] | None
    metrics: Callable[..., Any] | None
    max_waiters: int
    max_wait: float
    max_body: int
    stream_lifetime: float
    heartbeat: float
    cors_origins: frozenset[str]
    hold: str | int
    threads: int  # of the embedded worker; 0: none


def web_options(prefix: str = "/jobs", *, wraps_app: bool, identify: Callable | None = None,
                authorize: Callable | None = None, max_waiters: int = MIDDLEWARE.max_waiters,
                max_wait: float = MIDDLEWARE.max_wait, max_body: int = MIDDLEWARE.max_body,
                stream_lifetime: float = MIDDLEWARE.stream_lifetime, heartbeat: float = MIDDLEWARE.heartbeat,
                cors_origins: Iterable[str] | None = None, hold: str | int = MIDDLEWARE.hold,
                worker: bool | int = MIDDLEWARE.worker, admin: Callable | None = None,
                metrics: Callable | None = None) -> WebOptions:
    """The checked options; a ConfigurationError names the first bad one."""
    if not isinstance(prefix, str) or not PREFIX_PATTERN.fullmatch(prefix.rstrip("/")):
        raise ConfigurationError(f"prefix must look like '/jobs' (or ''), not {prefix!r}")
    prefix = prefix.rstrip("/")
    if not prefix and wraps_app:
        raise ConfigurationError("a face in front of an app needs a prefix such as '/jobs'")
    hooks = {"identify": identify, "authorize": authorize, "admin": admin, "metrics": metrics}
    for name, hook in hooks.items():
        if hook is not None and not callable(hook):
            raise ConfigurationError(f"{name} must be callable, not {hook!r}")
    if isinstance(cors_origins, str):
        cors_origins = [cors_origins]
    return WebOptions(
        prefix=prefix, identify=identify, authorize=authorize, admin=admin, metrics=metrics or admin,
        max_waiters=MIDDLEWARE.check("max_waiters", max_waiters), max_wait=MIDDLEWARE.check("max_wait", max_wait),
        max_body=MIDDLEWARE.check("max_body", max_body),
        stream_lifetime=MIDDLEWARE.check("stream_lifetime", stream_lifetime),
        heartbeat=MIDDLEWARE.check("heartbeat", heartbeat),
        cors_origins=frozenset(o.rstrip("/") for o in cors_origins or ()),
        hold=MIDDLEWARE.check("hold", hold), threads=MIDDLEWARE.check("worker", worker))
