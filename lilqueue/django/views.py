"""The view behind ``lilqueue.django.urls``: every request under the include's path goes to
the queue's WSGI middleware (docs/http.md), with Django's users behind the access hooks.

Where the middleware runs, so that a held long-poll or event stream never blocks the site:

- on a WSGI server (runserver, gunicorn, uWSGI, waitress) in the server's own request thread,
  exactly as the plain middleware: the same hold rules per server (see ``web/holding.py``);
- under ASGI (uvicorn, daphne, ``asgi.py``) in a pool of ``ASGI_THREADS`` threads of its own,
  never in the event loop. Django's ASGI handler would run a sync view in a new thread per
  request (asgiref's ``ThreadSensitiveContext``), so a held request would not stop the
  site's other views either; the pool bounds the threads that held requests take, which lets
  the middleware hold up to ``ASGI_HOLD`` of them per process by default (``HOLD`` changes it).
  Event streams reach the server as an async iterator, each chunk read in the pool.

The view is an async function for that reason; under WSGI Django runs it in an event loop of
its own, and the middleware still runs in the request's thread (``thread_sensitive``).
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.views import redirect_to_login
from django.core.handlers.asgi import ASGIRequest
from django.db import close_old_connections
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from ..web import Middleware
from . import access, conf
from .bridge import Answer, call, to_environ, to_response

ASGI_THREADS = 40
ASGI_HOLD = 32  # of the pool's threads: the rest answer starts, reads and unheld polls meanwhile
_pool = ThreadPoolExecutor(max_workers=ASGI_THREADS, thread_name_prefix="lilqueue-asgi")
_built: dict[bool, Middleware] = {}
_building = threading.Lock()


def middleware(asgi: bool) -> Middleware:
    """This process's middleware (one for WSGI, one for ASGI: they hold differently), built
    from ``LILQUEUE`` on first use."""
    found = _built.get(asgi)
    if found is None:
        with _building:
            found = _built.get(asgi) or _build(asgi)
            _built[asgi] = found
    return found


def _build(asgi: bool) -> Middleware:
    from . import queue

    config = conf.raw()
    options = {conf.WEB_OPTIONS[k]: v for k, v in config.items() if k in conf.WEB_OPTIONS}
    options.pop("worker", None)  # the embedded worker is the app's own (apps.py): it starts with any request
    if asgi and options.get("hold", "auto") == "auto":
        options["hold"] = ASGI_HOLD
    metrics = conf.hook(config, "METRICS")
    return queue.middleware(
        None, prefix="", cors_origins=config.get("CORS_ORIGINS"),
        identify=access.on_environ(conf.hook(config, "IDENTIFY") or access.identify),
        authorize=access.on_environ(conf.hook(config, "AUTHORIZE") or access.authorize),
        admin=access.on_environ(conf.hook(config, "ADMIN") or access.is_staff),
        metrics=access.on_environ(metrics) if metrics else None, **options)


async def endpoint(request: HttpRequest, **route: Any) -> HttpResponse:
    mount = reverse(f"{request.resolver_match.namespace}:start")  # "/jobs/", SCRIPT_NAME included
    rest = request.path[len(mount) - 1:] or "/"
    if isinstance(request, ASGIRequest):
        serve = sync_to_async(_serve_in_pool, thread_sensitive=False, executor=_pool)
        answer = await serve(request, mount, rest, True)
        return answer if isinstance(answer, HttpResponse) else to_response(answer, _async_chunks)
    # thread_sensitive: the thread of the WSGI server that called Django, as the plain middleware
    answer = await sync_to_async(_serve)(request, mount, rest, False)
    return answer if isinstance(answer, HttpResponse) else to_response(answer)


# lilqueue's own CSRF rules apply: JSON bodies only, Sec-Fetch-Site / Origin checked. Set as an
# attribute: Django 4.2's csrf_exempt() would hide that the view is async.
endpoint.csrf_exempt = True  # type: ignore[attr-defined]


def _serve(request: HttpRequest, mount: str, rest: str, asgi: bool) -> Answer | HttpResponse:
    config = conf.raw()
    if (rest == "/admin" or rest.startswith("/admin/")) and "ADMIN" not in config \
            and not getattr(getattr(request, "user", None), "is_authenticated", True):
        return redirect_to_login(request.get_full_path())
    app = middleware(asgi)
    environ = to_environ(request, mount[:-1], rest.encode("utf-8").decode("latin-1"), app.options.max_body)
    return call(app, environ)


def _serve_in_pool(request: HttpRequest, mount: str, rest: str, asgi: bool) -> Answer | HttpResponse:
    try:
        return _serve(request, mount, rest, asgi)
    finally:
        close_old_connections()  # the hooks' queries ran on this pool thread, not the request's


async def _async_chunks(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    pull = sync_to_async(next, thread_sensitive=False, executor=_pool)
    try:
        while (chunk := await pull(chunks, None)) is not None:
            yield chunk
    finally:
        _pool.submit(chunks.close)  # type: ignore[attr-defined]  # not awaited: the client is gone
