"""How many waiting requests (long-polls and event streams) a server can afford to hold.

A held request keeps one of the server's request slots busy until its job changes. What that
costs depends on the server, so the middleware asks, per request, what serves it:

========================  ===============================================  ==================
kind                      recognized by                                    holds
========================  ===============================================  ==================
``green``                 gevent or eventlet has patched ``threading``      up to max_waiters
``thread-per-request``    a ``socketserver.ThreadingMixIn`` thread          up to max_waiters
                          (werkzeug / ``flask run``, Django ``runserver``,
                          ``lilqueue serve``)
``one-at-a-time``         ``wsgi.multithread`` false, or the request runs   none
                          on the main thread (gunicorn sync, wsgiref,
                          ``flask run --without-threads``, uWSGI without
                          threads, ``runserver --nothreading``)
``pool``                  any other thread: a fixed pool of unknown size    ``POOL_HOLD``
                          (gunicorn gthread, waitress, a2wsgi, mod_wsgi)
========================  ===============================================  ==================

``hold=N`` on the middleware replaces the guess: hold up to N at once in this process
(``0``: never). A request that is not held is answered at once with the current job and a
``Retry-After`` header; see docs/deploy.md for sizing ``hold`` per server.

    policy = Holding("auto", max_waiters=500)
    policy.limit(environ)    # how many requests may wait at once in this process
"""

from __future__ import annotations

import sys
import threading

GREEN = "green"
ONE_AT_A_TIME = "one-at-a-time"
THREAD_PER_REQUEST = "thread-per-request"
POOL = "pool"

# Threads that run a whole server loop and so serve every request themselves.
SERVING_THREADS = frozenset({"django-main-thread"})  # runserver --nothreading, under its reloader
POOL_HOLD = 1          # of a pool of unknown size: one thread, so the host keeps the others
RETRY_UNHELD = 1       # seconds a client waits before polling again when it was not held


def server_kind(environ: dict) -> str:
    """What serves this request, as far as the request shows (see the module docstring)."""
    if _green():
        return GREEN
    thread = threading.current_thread()
    if thread.name.endswith("(process_request_thread)"):
        return THREAD_PER_REQUEST  # whatever wsgi.multithread says: wsgiref always says false
    if not environ.get("wsgi.multithread") or thread is threading.main_thread() or thread.name in SERVING_THREADS:
        return ONE_AT_A_TIME
    return POOL


def _green() -> bool:
    gevent = sys.modules.get("gevent.monkey")
    if gevent is not None and gevent.is_module_patched("threading"):
        return True
    eventlet = sys.modules.get("eventlet.patcher")
    return eventlet is not None and bool(eventlet.is_monkey_patched("thread"))


class Holding:
    """The middleware's ``hold`` option: ``"auto"`` (by server kind) or a number."""

    def __init__(self, hold: str | int, max_waiters: int) -> None:
        self.hold = hold
        self.max_waiters = max_waiters

    def limit(self, environ: dict) -> int:
        """How many requests may wait at once in this process (never above max_waiters)."""
        if self.hold != "auto":
            return min(int(self.hold), self.max_waiters)
        kind = server_kind(environ)
        if kind == ONE_AT_A_TIME:
            return 0
        if kind == POOL:
            return min(POOL_HOLD, self.max_waiters)
        return self.max_waiters

    def __repr__(self) -> str:
        return f"<Holding hold={self.hold!r} max_waiters={self.max_waiters}>"
