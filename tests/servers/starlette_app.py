"""A Starlette app that mounts lilqueue's ASGI face at /api/jobs (Starlette keeps the whole
path and sets root_path). tests.tasks' queue on ``LILQUEUE_TEST_DB``.

    uvicorn tests.servers.starlette_app:app --port 8000
"""

import asyncio

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Mount, Route

from tests import tasks


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hello from Starlette")


async def start(request: Request) -> JSONResponse:
    seconds = float(request.query_params.get("seconds", 0.2))
    job = await asyncio.to_thread(tasks.queue.start, "sleepy", [seconds])
    return JSONResponse({"id": job.id})


app = Starlette(routes=[
    Route("/hello", hello),
    Route("/start", start, methods=["POST"]),
    Mount("/api/jobs", app=tasks.queue.asgi(prefix="", worker=True)),
])
