"""The core's answers carried out on an asyncio event loop, for the ASGI face (``asgi.py``) and
the Django app under ASGI (``lilqueue.django.views``).

    on_loop = OnLoop(core)
    response = await on_loop.answer(request)     # a Later's waits done: body bytes, or a Stream
    async for chunk in on_loop.events(response.body):
        ...

What may block (the database, the access hooks) runs in a pool of ``THREADS`` threads, made in
the process that serves (after a fork, a new one). A wait is a coroutine awaiting the watcher
(``Watcher.wait_async``), never a thread. The steps of a Later or a Stream until their first wait
may read the database and run in the pool; after it they render what the watcher read, on the
loop (one trip through the pool per long-poll answer, not two: ``http.py`` asks of them).
``from_loop`` gives a pool thread what the loop computes (an async hook's answer).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ..errors import JobNotFound, WaitersFull
from .http import Later, Request, Response, Stream, Wait

if TYPE_CHECKING:
    from .core import Core

THREADS = 8  # for the blocking steps of every request: short database reads and writes


class OnLoop:
    def __init__(self, core: Core) -> None:
        self.core = core
        self._pool: ThreadPoolExecutor | None = None
        self._pid: int | None = None

    async def answer(self, request: Request) -> Response:
        """The core's answer to ``request``, its waits done (a Stream body is left to ``events``)."""
        answer = await self.blocking(self.core.handle, request)
        if not isinstance(answer, Later):
            return answer
        sent = thrown = None
        waited = False
        while True:
            done, value = await self._next(answer.steps, sent, thrown, waited)
            if done:
                return value
            sent, thrown = await self._wait(value)
            waited = True

    async def events(self, stream: Stream) -> AsyncIterator[bytes]:
        """The chunks of an event stream, until it ends or the caller stops iterating."""
        sent = thrown = None
        waited = False
        try:
            while True:
                done, item = await self._next(stream, sent, thrown, waited)
                if done:
                    return
                sent = thrown = None
                if isinstance(item, bytes):
                    yield item
                else:
                    waited = True
                    sent, thrown = await self._wait(item)
        finally:
            stream.close()

    async def blocking(self, function: Callable[..., Any], *args: Any) -> Any:
        """``function(*args)`` on a thread of the pool."""
        if self._pool is None or self._pid != os.getpid():
            self._pool = ThreadPoolExecutor(THREADS, thread_name_prefix="lilqueue-asgi")
            self._pid = os.getpid()
        return await asyncio.get_running_loop().run_in_executor(self._pool, function, *args)

    def close(self) -> None:
        """Let the pool's threads end (a new pool is made on the next use)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False)

    async def _next(self, steps: Generator, sent: Any, thrown: BaseException | None,
                    waited: bool) -> tuple[bool, Any]:
        """The next step: in the pool until the generator first waited, then on the loop."""
        if waited:
            return _step(self.core, steps, sent, thrown)
        return await self.blocking(_step, self.core, steps, sent, thrown)

    async def _wait(self, wait: Wait) -> tuple[Any, BaseException | None]:
        try:
            return await self.core.watcher.wait_async(wait), None
        except (WaitersFull, JobNotFound) as exc:
            return None, exc


def from_loop(loop: asyncio.AbstractEventLoop) -> Callable[[Awaitable], Any]:
    """For a pool thread: a function that awaits an awaitable on ``loop`` and gives its result."""
    def result(awaitable: Awaitable) -> Any:
        return asyncio.run_coroutine_threadsafe(_awaited(awaitable), loop).result()
    return result


async def _awaited(awaitable: Awaitable) -> Any:
    return await awaitable


def _step(core: Core, steps: Generator, sent: Any, thrown: BaseException | None) -> tuple[bool, Any]:
    """One step of a Later or a Stream: ``(False, what it yielded)`` or ``(True, its result)``
    (a StopIteration cannot cross a thread pool's future)."""
    try:
        return False, core.resume(steps, sent, thrown)
    except StopIteration as end:
        return True, end.value
