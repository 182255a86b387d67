"""What the HTTP core takes and gives, with no knowledge of WSGI or ASGI: a ``Request`` in, and
out a ``Response`` or a ``Later`` (an answer that first waits for a job to change).

A face (``wsgi.py``, ``asgi.py``) turns its server's request into a ``Request``, asks the core,
and carries out what comes back: a ``Response`` whose body is bytes is sent as it is; a body that
is a ``Stream`` (an event stream) and a ``Later`` are generators that yield ``WaitJob`` and
``WaitChange`` instructions (a ``Stream`` yields bytes to send too). The face waits the way its
server can afford (a blocked thread on WSGI, a future on the event loop on ASGI) and sends the
generator what the watcher answered, or throws in what it raised (``WaitersFull``,
``JobNotFound``). The rest of the core never waits. What a generator does after its first wait
must not block (no database, no hook): it renders what the watcher sent in, and the ASGI face
runs it on the event loop.

    def get(request):
        job = ...
        def answer():
            newer = yield WaitJob(job, since, timeout=25, limit=request.hold)
            return Response.json(newer or job)
        return Later(answer())
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from ..job import Job

JSON_TYPE = "application/json"


class WaitJob(NamedTuple):
    """Wait until ``job``'s version passes ``since`` (the watcher's ``wait``): the newer Job, or
    None after ``timeout`` seconds; at most ``limit`` requests wait at once in this process."""
    job: Job
    since: int
    timeout: float
    limit: int


class WaitChange(NamedTuple):
    """Wait until any job changed after the mark ``since`` (the watcher's ``wait_change``)."""
    since: str | None
    timeout: float
    limit: int


Wait = WaitJob | WaitChange
Stream = Generator[bytes | Wait, Any, None]


@dataclass(eq=False)
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes | Stream = b""

    @classmethod
    def json(cls, data: Any, status: int = 200, **headers: str) -> Response:
        return cls(status, [("Content-Type", JSON_TYPE), *headers.items()], json.dumps(data).encode())

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((value for key, value in self.headers if key.lower() == name), None)

    def sealed(self, *extra: tuple[str, str]) -> Response:
        """With the headers every answer carries: ``no-store`` unless it says otherwise (jobs
        change: never cache them), ``nosniff``, and ``extra``."""
        cache = [] if self.header("cache-control") else [("Cache-Control", "no-store")]
        self.headers = [*self.headers, *cache, ("X-Content-Type-Options", "nosniff"), *extra]
        return self


class Later:
    """An answer that waits first: ``steps`` yields ``Wait`` instructions and returns the Response."""

    __slots__ = ("steps",)

    def __init__(self, steps: Generator[Wait, Any, Response]) -> None:
        self.steps = steps


class Request:
    """One request as the core sees it.

    ``path`` is what follows the endpoints' mount point and ``root`` that mount point as the
    browser addresses it (``SCRIPT_NAME`` on WSGI, ``root_path`` and the prefix on ASGI), so a
    job's URL is ``root + "/" + id``. ``headers`` has lower-case names; ``client`` is the
    peer's address. ``native`` is what the
    access hooks receive: the WSGI environ or the ASGI scope. ``hold`` is how many requests may
    wait at once in this process, as the face judges its server. ``read`` reads the body (at
    most ``max_body`` bytes, else a 413 Problem) and ``resolve`` awaits what an async hook
    returned, both the face's own way.
    """

    __slots__ = ("method", "path", "root", "query", "headers", "client", "native", "hold", "_read", "_resolve",
                 "_body")

    def __init__(self, method: str, path: str, root: str, query: str, headers: Mapping[str, str], client: str,
                 native: Any, hold: int, read: Callable[[int], bytes], resolve: Callable[[Awaitable], Any]) -> None:
        self.method = method
        self.path = path
        self.root = root
        self.query = query
        self.headers = headers
        self.client = client
        self.native = native
        self.hold = hold
        self._read = read
        self._resolve = resolve
        self._body: bytes | None = None

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name, default)

    def body(self, max_body: int) -> bytes:
        if self._body is None:
            self._body = self._read(max_body)
        return self._body

    def call(self, hook: Callable[..., Any], *args: Any) -> Any:
        """``hook(native, *args)``, awaited when the hook is ``async``."""
        result = hook(self.native, *args)
        return self._resolve(result) if inspect.isawaitable(result) else result

    def with_mount(self, mount: str) -> Request:
        """The same request as seen by a part mounted at ``mount`` under this one (the dashboard)."""
        rest = self.path[len(mount):] or "/"
        return Request(self.method, rest, self.root + mount, self.query, self.headers, self.client, self.native,
                       self.hold, self._read, self._resolve)

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.root}{self.path}>"
