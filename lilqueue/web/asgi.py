"""The ASGI face of a queue's HTTP core: the same endpoints, dashboard and metrics as the WSGI
face (``wsgi.py``), served on asyncio.

    queue = lilqueue.Queue("app.db")

    # FastAPI / Starlette: serve /jobs/... and hand everything else (and the lifespan) to the app
    app = queue.asgi(FastAPI(), worker=True)

    # or mounted by the host's router (no lifespan reaches a mount)
    app.mount("/jobs", queue.asgi(prefix=""))

A waiting request (a long-poll, an event stream) is a coroutine awaiting a future that the
watcher thread resolves, never a thread, so every one may wait up to ``max_waiters``
(``hold="auto"``); what may block runs in a small pool of threads (``onloop.py``). The body is
read first, bounded (past ``max_body`` it is drained and answered 413, not reset, when the
endpoint reads one); a client that disconnects
frees its waiter at once. Both mount conventions work: routers that strip the mount from
``path`` and Starlette's, which keeps ``path`` whole and sets ``root_path``; job URLs include
``root_path`` (Litestar's mount, which sets none, is read from ``raw_path``).

``worker=True`` starts the embedded worker at lifespan startup and stops it (running jobs get
the grace, then go back to the queue) at shutdown; a mounted face gets no lifespan and starts
it on its first request or when the process starts a job (``embedded.py``). The wrapped app's
own lifespan runs as before; an app that speaks no lifespan (Django's) is not sent one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, unquote_to_bytes

from ..errors import ConfigurationError
from .core import Core, problem_response
from .http import Request, Response
from .inputs import too_large
from .onloop import OnLoop, from_loop
from .options import web_options
from .problems import Problem, bad_request, not_found

if TYPE_CHECKING:
    from ..queue import Queue

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
DRAIN = 4  # a body past max_body is read and dropped up to DRAIN times max_body, then answered


class AsgiFace:
    """An ASGI app serving a queue's endpoints under ``prefix`` (options: ``options.py``)."""

    def __init__(self, queue: Queue, app: ASGIApp | None = None, prefix: str = "/jobs", **options: Any) -> None:
        if app is not None and not callable(app):
            raise ConfigurationError(f"app must be an ASGI app, not {app!r}")
        self.options = web_options(prefix, wraps_app=app is not None, **options)
        self.queue = queue
        self.app = app
        self.prefix = self.options.prefix
        self.core = Core(queue, self.options)
        self.watcher = self.core.watcher
        self.embedded = self.core.embedded
        hold = self.options.hold
        self.hold = self.options.max_waiters if hold == "auto" else min(int(hold), self.options.max_waiters)
        self.on_loop = OnLoop(self.core)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        if self.embedded is not None and not self.embedded.running:
            await self.on_loop.blocking(self.embedded.ensure)
        root_path = scope.get("root_path", "")
        path = scope.get("path", "")
        if root_path and (path == root_path or path.startswith(root_path + "/")):
            path = path[len(root_path):]  # Starlette's mount keeps the whole path
        prefix = self.prefix
        if prefix and (path == prefix or path.startswith(prefix + "/")):
            root, rest = root_path + prefix, path[len(prefix):]
        elif self.app is not None:
            await self.app(scope, receive, send)
            return
        elif not prefix or root_path.endswith(prefix):
            root, rest = _as_sent(scope, root_path, path)  # mounted at the prefix by the host's router
        else:
            root = rest = None
        if kind != "http":
            if kind == "websocket":
                await send({"type": "websocket.close", "code": 1000})
            return
        if root is None:
            await _send(send, problem_response(not_found()), scope["method"] == "HEAD")
            return
        if _not_utf8(scope):
            await _send(send, problem_response(not_found("The path is not valid UTF-8.")), scope["method"] == "HEAD")
            return
        await self._serve(scope, receive, send, root, rest or "/")

    def close(self) -> None:
        """Stop the watcher thread, this process's embedded worker and this face's threads."""
        self.core.close()
        self.on_loop.close()

    async def _serve(self, scope: Scope, receive: Receive, send: Send, root: str, path: str) -> None:
        # The body first, whole (bounded): then only the disconnect watch reads from receive.
        body = await _read_body(receive, scope, self.options.max_body)
        if body is None:
            return  # the client left
        request = Request(scope["method"], path, root, scope.get("query_string", b"").decode("latin-1"),
                          _headers(scope), (scope.get("client") or ("",))[0], _native(scope, root, path), self.hold,
                          lambda max_body: _given(body), from_loop(asyncio.get_running_loop()))
        head = scope["method"] == "HEAD"
        answer = await _until_disconnect(receive, self.on_loop.answer(request))
        if answer is None:
            return
        if isinstance(answer.body, bytes) or head:
            await _send(send, answer, head)
        else:
            await _until_disconnect(receive, self._streamed(answer, send))

    async def _streamed(self, response: Response, send: Send) -> None:
        await send({"type": "http.response.start", "status": response.status, "headers": _encoded(response)})
        async for chunk in self.on_loop.events(response.body):  # type: ignore[arg-type]
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Start the embedded worker at startup and stop it at shutdown, around the app's own
        lifespan; an app that answers a lifespan with an error (Django) gets none."""
        spoken = False

        async def received() -> dict:
            nonlocal spoken
            message = await receive()
            spoken = True
            await self._lifetime(message)
            return message

        if self.app is not None:
            try:
                await self.app(scope, received, send)
            except Exception:
                if spoken:
                    raise
            if spoken:
                return
        while True:
            message = await receive()
            await self._lifetime(message)
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return

    async def _lifetime(self, message: dict) -> None:
        if message["type"] == "lifespan.startup" and self.embedded is not None:
            await self.on_loop.blocking(self.embedded.ensure)
        elif message["type"] == "lifespan.shutdown":
            await self.on_loop.blocking(self.close)

    def __repr__(self) -> str:
        return f"<AsgiFace {self.prefix or '/'} for {self.queue!r}>"


async def _until_disconnect(receive: Receive, work: Awaitable[Any]) -> Any:
    """``work``'s result, or None once the client disconnected (``work`` is canceled, so its
    waiter leaves the watcher at once)."""
    task = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(_disconnected(receive))
    try:
        await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pending in (task, gone):
            if not pending.done():
                pending.cancel()
    if not task.done() or task.cancelled():
        return None
    return task.result()


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _read_body(receive: Receive, scope: Scope, max_body: int) -> bytes | Problem | None:
    """The body, at most ``max_body`` bytes, or the Problem to answer if the core asks for it
    (past ``max_body`` the rest is drained, up to DRAIN times ``max_body``, so that the client
    reads the 413 instead of a reset connection); None when the client left."""
    declared = _headers(scope).get("content-length", "").strip()
    if declared and (not declared.isdigit() or len(declared) > 15):
        return bad_request("Content-Length is not a number.")
    too_big = bool(declared) and int(declared) > max_body
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        more = message.get("more_body", False)
        size += len(chunk)
        too_big = too_big or size > max_body
        if too_big:
            if size > (DRAIN + 1) * max_body:
                break
        else:
            chunks.append(chunk)
    return too_large(max_body) if too_big else b"".join(chunks)


def _given(body: bytes | Problem) -> bytes:
    if isinstance(body, Problem):
        raise body
    return body


def _as_sent(scope: Scope, root_path: str, path: str) -> tuple[str, str]:
    """The mount point and the path as the client sent them. A router that strips its mount from
    ``path`` without adding it to ``root_path`` (Litestar's ``is_mount``, which also ends ``path``
    with a "/") leaves both only in ``raw_path``: the mount is what was sent before ``path``."""
    raw = scope.get("raw_path")
    if not raw:
        return root_path, path
    sent = unquote(raw.decode("latin-1"))
    if sent.startswith(root_path + "/"):
        sent = sent[len(root_path):]
    whole, tail = sent.rstrip("/"), path.rstrip("/")
    if not whole.endswith(tail):
        return root_path, path
    mount = whole[:len(whole) - len(tail)]
    if not mount or root_path.endswith(mount):  # a router that said where it mounted us
        return root_path, path
    return root_path + mount, sent[len(mount):] or "/"


def _native(scope: Scope, root: str, path: str) -> Scope:
    """The scope the hooks receive: mounted at the prefix (at the dashboard for its hook), as the
    WSGI face moves the prefix to ``SCRIPT_NAME``; ``path`` whole, as Starlette's mounts keep it."""
    if path == "/admin" or path.startswith("/admin/"):
        return dict(scope, root_path=root + "/admin", path=root + path)
    return dict(scope, root_path=root, path=root + path)


def _not_utf8(scope: Scope) -> bool:
    """Whether the path's escapes are not UTF-8: servers decode them with U+FFFD for what is
    not (as ``urllib.parse.unquote`` does); ``raw_path`` tells that from a U+FFFD sent as one."""
    raw = scope.get("raw_path")
    if "\ufffd" not in scope.get("path", "") or not raw:
        return False
    try:
        unquote_to_bytes(raw.partition(b"?")[0]).decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _headers(scope: Scope) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in scope.get("headers", ()):
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers


def _encoded(response: Response, *extra: tuple[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in (*response.headers, *extra)]


async def _send(send: Send, response: Response, head: bool) -> None:
    body = response.body
    if not isinstance(body, bytes):  # an event stream asked with HEAD: its head only
        body.close()
        body = b""
        length = []
    elif response.status in (204, 304):  # no Content-Length: RFC 9110 §8.6
        length = []
    else:
        length = [("Content-Length", str(len(body)))]
    await send({"type": "http.response.start", "status": response.status, "headers": _encoded(response, *length)})
    await send({"type": "http.response.body", "body": b"" if head else body})
