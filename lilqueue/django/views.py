"""The view behind ``lilqueue.django.urls``: every request under the include's path goes to
the queue's HTTP core (docs/http.md), with Django's users behind the access hooks.

How, so that a held long-poll or event stream never blocks the site:

- on a WSGI server (runserver, gunicorn, uWSGI, waitress) through the queue's WSGI face in the
  server's own request thread, exactly as the plain middleware: the same hold rules per server
  (see ``web/holding.py``);
- under ASGI (uvicorn, daphne, ``asgi.py``) natively, as ``queue.asgi`` serves: a waiting
  request is a coroutine woken by the watcher, never a thread, so every one is held up to
  ``MAX_WAITERS``; the database and the hooks run in the face's small pool (``web/onloop.py``).
  Event streams reach the server as an async iterator; Django cancels it when the client leaves.

The view is an async function for that reason; under WSGI Django runs it in an event loop of
its own, and the WSGI face still runs in the request's thread (``thread_sensitive``).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.views import redirect_to_login
from django.core.handlers.asgi import ASGIRequest
from django.db import close_old_connections
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from ..web import Middleware
from ..web.asgi import AsgiFace
from ..web.http import Request
from ..web.onloop import from_loop
from ..web.wsgibody import read_body
from . import access, conf
from .bridge import Answer, call, to_environ, to_response

_built: dict[bool, Any] = {}
_building = threading.Lock()


def face(asgi: bool) -> Any:
    """This process's face of the queue (the WSGI one, or under ASGI the ASGI one), built from
    ``LILQUEUE`` on first use."""
    found = _built.get(asgi)
    if found is None:
        with _building:
            found = _built.get(asgi) or _build(asgi)
            _built[asgi] = found
    return found


def _build(asgi: bool) -> Middleware | AsgiFace:
    from . import queue

    config = conf.raw()
    options = {conf.WEB_OPTIONS[k]: v for k, v in config.items() if k in conf.WEB_OPTIONS}
    options.pop("worker", None)  # the embedded worker is the app's own (apps.py): it starts with any request
    metrics = conf.hook(config, "METRICS")
    # Under ASGI the hooks run on the face's pool threads: each closes the Django connections
    # it opened, as the end of a request would.
    adapt = access.on_environ if not asgi else (lambda hook: _closing(access.on_environ(hook)))
    build = queue.asgi if asgi else queue.middleware
    return build(
        None, prefix="", cors_origins=config.get("CORS_ORIGINS"),
        identify=adapt(conf.hook(config, "IDENTIFY") or access.identify),
        authorize=adapt(conf.hook(config, "AUTHORIZE") or access.authorize),
        admin=adapt(conf.hook(config, "ADMIN") or access.is_staff),
        metrics=adapt(metrics) if metrics else None, **options)


async def endpoint(request: HttpRequest, **route: Any) -> HttpResponse:
    mount = reverse(f"{request.resolver_match.namespace}:start")  # "/jobs/", SCRIPT_NAME included
    rest = request.path[len(mount) - 1:] or "/"
    if isinstance(request, ASGIRequest):
        return await _serve_natively(request, mount, rest)
    # thread_sensitive: the thread of the WSGI server that called Django, as the plain middleware
    answer = await sync_to_async(_serve)(request, mount, rest)
    return answer if isinstance(answer, HttpResponse) else to_response(answer)


# lilqueue's own CSRF rules apply: JSON bodies only, Sec-Fetch-Site / Origin checked. Set as an
# attribute: Django 4.2's csrf_exempt() would hide that the view is async.
endpoint.csrf_exempt = True  # type: ignore[attr-defined]


def _serve(request: HttpRequest, mount: str, rest: str) -> Answer | HttpResponse:
    login = _login_first(request, rest)
    if login is not None:
        return login
    app = face(asgi=False)
    environ = to_environ(request, mount[:-1], rest.encode("utf-8").decode("latin-1"), app.options.max_body)
    return call(app, environ)


async def _serve_natively(request: ASGIRequest, mount: str, rest: str) -> HttpResponse:
    app = face(asgi=True)
    login = await app.on_loop.blocking(_closing(_login_first), request, rest)
    if login is not None:
        return login
    environ = to_environ(request, mount[:-1], rest.encode("utf-8").decode("latin-1"), app.options.max_body)
    core_request = Request(request.method or "GET", rest, mount[:-1], request.META.get("QUERY_STRING", ""),
                           {name.lower(): value for name, value in request.headers.items()},
                           request.META.get("REMOTE_ADDR", ""), environ, app.hold,
                           lambda max_body: read_body(environ, max_body), from_loop(asyncio.get_running_loop()))
    response = await app.on_loop.answer(core_request)
    body = response.body
    if not isinstance(body, bytes) and request.method == "HEAD":
        body.close()
        body = b""
    if not isinstance(body, bytes):
        body = app.on_loop.events(body)
    return to_response(Answer(str(response.status), response.headers, body))


def _login_first(request: HttpRequest, rest: str) -> HttpResponse | None:
    """The dashboard sends an anonymous user to log in, unless ``ADMIN`` decides who may see it."""
    if (rest == "/admin" or rest.startswith("/admin/")) and "ADMIN" not in conf.raw() \
            and not getattr(getattr(request, "user", None), "is_authenticated", True):
        return redirect_to_login(request.get_full_path())
    return None


def _closing(function: Any) -> Any:
    """``function`` for a pool thread: the Django connections it opened are closed after."""
    def closing(*args: Any) -> Any:
        try:
            return function(*args)
        finally:
            close_old_connections()
    closing.__qualname__ = getattr(function, "__qualname__", repr(function))
    return closing
