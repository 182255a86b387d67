"""The ASGI face of a queue's HTTP core: the same endpoints, dashboard and metrics as the WSGI
face (``wsgi.py``), served on asyncio.

    queue = lilqueue.Queue("app.db")

    # FastAPI / Starlette: serve /jobs/... and hand everything else (and the lifespan) to the app
    app = queue.asgi(FastAPI(), worker=True)

    # or mounted by the host's router (no lifespan reaches a mount)
    app.mount("/jobs", queue.asgi(prefix=""))

A waiting request (a long-poll, an event stream) is a coroutine awaiting a future that the
watcher thread resolves, never a thread, so every one may wait up to ``max_waiters``
(``hold="auto"``). What may block (the database, the access hooks) runs in a small pool of
threads of this face; an event stream's steps after its first wait only render what the watcher
already read, and run on the loop. The body is read from ``receive`` as the core asks for it
(past ``max_body``, drained and a 413 without a connection reset); a client that disconnects
frees its waiter at once. Both mount conventions work: routers that strip the mount from
``path`` and Starlette's, which keeps ``path`` whole and sets ``root_path``; job URLs include
``root_path``.

``worker=True`` starts the embedded worker at lifespan startup and stops it (running jobs get
the grace, then go back to the queue) at shutdown; a mounted face gets no lifespan and starts
it on its first request or when the process starts a job (``embedded.py``). The wrapped app's
own lifespan runs as before; an app that speaks no lifespan (Django's) is not sent one.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError, JobNotFound, WaitersFull
from .core import Core, problem_response
from .http import Later, Request, Response, Stream, Wait
from .inputs import too_large
from .options import web_options
from .problems import bad_request, not_found

if TYPE_CHECKING:
    from ..queue import Queue

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
THREADS = 8  # for the blocking steps of every request: short database reads and writes
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
        self._pool: ThreadPoolExecutor | None = None
        self._pool_pid: int | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        if self.embedded is not None and not self.embedded.running:
            await self._blocking(self.embedded.ensure)
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
            root, rest = root_path, path  # mounted at the prefix by the host's router
        else:
            root = rest = None
        if kind != "http":
            if kind == "websocket":
                await send({"type": "websocket.close", "code": 1000})
            return
        if root is None:
            await _send(send, problem_response(not_found()), scope["method"] == "HEAD")
            return
        await self._serve(scope, receive, send, root, rest or "/")

    def close(self) -> None:
        """Stop the watcher thread, this process's embedded worker and this face's threads."""
        self.core.close()
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, root: str, path: str) -> None:
        loop = asyncio.get_running_loop()

        def from_loop(awaitable: Awaitable) -> Any:  # on a pool thread: what the loop gives
            return asyncio.run_coroutine_threadsafe(_awaited(awaitable), loop).result()

        request = Request(scope["method"], path, root, scope.get("query_string", b"").decode("latin-1"),
                          _headers(scope), (scope.get("client") or ("",))[0], scope, self.hold,
                          lambda max_body: from_loop(_read_body(receive, scope, max_body)), from_loop)
        head = scope["method"] == "HEAD"
        answer = await self._blocking(self.core.handle, request)
        if isinstance(answer, Later):
            answer = await _until_disconnect(receive, self._waited(answer))
            if answer is None:
                return
        if isinstance(answer.body, bytes) or head:
            await _send(send, answer, head)
        else:
            await _until_disconnect(receive, self._streamed(answer, send))

    async def _waited(self, later: Later) -> Response:
        """A long-poll's answer. As an event stream's, its steps after the first wait render
        what the watcher read, on the loop: one trip through the pool per answer, not two."""
        sent = thrown = None
        waited = False
        while True:
            if waited:
                done, value = _step(self.core, later.steps, sent, thrown)
            else:
                done, value = await self._blocking(_step, self.core, later.steps, sent, thrown)
            if done:
                return value
            sent, thrown = await self._wait(value)
            waited = True

    async def _streamed(self, response: Response, send: Send) -> None:
        """Send an event stream. Until it first waits, its steps may read the database and run
        in the pool; after, they render what the watcher read, on the loop."""
        stream: Stream = response.body  # type: ignore[assignment]
        await send({"type": "http.response.start", "status": response.status, "headers": _encoded(response)})
        sent = thrown = None
        waited = False
        try:
            while True:
                if waited:
                    done, item = _step(self.core, stream, sent, thrown)
                else:
                    done, item = await self._blocking(_step, self.core, stream, sent, thrown)
                if done:
                    break
                sent = thrown = None
                if isinstance(item, bytes):
                    await send({"type": "http.response.body", "body": item, "more_body": True})
                else:
                    waited = True
                    sent, thrown = await self._wait(item)
        finally:
            stream.close()
        await send({"type": "http.response.body", "body": b""})

    async def _wait(self, wait: Wait) -> tuple[Any, BaseException | None]:
        try:
            return await self.watcher.wait_async(wait), None
        except (WaitersFull, JobNotFound) as exc:
            return None, exc

    async def _blocking(self, function: Callable[..., Any], *args: Any) -> Any:
        if self._pool is None or self._pool_pid != os.getpid():  # made in the serving process
            self._pool = ThreadPoolExecutor(THREADS, thread_name_prefix="lilqueue-asgi")
            self._pool_pid = os.getpid()
        return await asyncio.get_running_loop().run_in_executor(self._pool, function, *args)

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
            await self._blocking(self.embedded.ensure)
        elif message["type"] == "lifespan.shutdown":
            await self._blocking(self.close)

    def __repr__(self) -> str:
        return f"<AsgiFace {self.prefix or '/'} for {self.queue!r}>"


def _step(core: Core, steps: Generator, sent: Any, thrown: BaseException | None) -> tuple[bool, Any]:
    """One step of a Later or a Stream: ``(False, what it yielded)`` or ``(True, its result)``
    (a StopIteration cannot cross a thread pool's future)."""
    try:
        return False, core.resume(steps, sent, thrown)
    except StopIteration as end:
        return True, end.value


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


async def _awaited(awaitable: Awaitable) -> Any:
    return await awaitable


async def _read_body(receive: Receive, scope: Scope, max_body: int) -> bytes:
    """The body, at most ``max_body`` bytes; past it, the rest is drained (up to DRAIN times
    ``max_body``) so that the client reads the 413 instead of a reset connection."""
    declared = _headers(scope).get("content-length", "").strip()
    if declared and (not declared.isdigit() or len(declared) > 15):
        raise bad_request("Content-Length is not a number.")
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise bad_request("The client left before its body arrived.")
        chunk = message.get("body", b"")
        more = message.get("more_body", False)
        size += len(chunk)
        if size > max_body or (declared and int(declared) > max_body):
            while more and size <= (DRAIN + 1) * max_body:
                message = await receive()
                size += len(message.get("body", b""))
                more = message.get("more_body", False) and message["type"] != "http.disconnect"
            raise too_large(max_body)
        chunks.append(chunk)
    return b"".join(chunks)


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
