"""A Litestar app that mounts lilqueue's ASGI face at /api/jobs with ``@asgi(is_mount=True)``
(Litestar strips the mount from ``path`` and leaves ``root_path`` alone: the face finds the mount
in ``raw_path``). tests.tasks' queue on ``LILQUEUE_TEST_DB``.

    uvicorn tests.servers.litestar_app:app --port 8000
"""

import asyncio

from litestar import Litestar, asgi, get, post
from litestar.types import Receive, Scope, Send

from tests import tasks

face = tasks.queue.asgi(prefix="", worker=True)


@asgi("/api/jobs", is_mount=True, copy_scope=True)
async def jobs(scope: Scope, receive: Receive, send: Send) -> None:
    await face(scope, receive, send)


@get("/hello")
async def hello() -> str:
    return "hello from Litestar"


@post("/start")
async def start(seconds: float = 0.2) -> dict:
    job = await asyncio.to_thread(tasks.queue.start, "sleepy", [seconds])
    return {"id": job.id}


app = Litestar([jobs, hello, start])
