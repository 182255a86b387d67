"""A FastAPI app wrapped by lilqueue's ASGI face: /jobs/... is lilqueue's, the rest and the
lifespan FastAPI's; the lifespan starts the embedded worker. tests.tasks' queue on
``LILQUEUE_TEST_DB``.

    uvicorn tests.servers.fastapi_asgi:app --port 8000
"""

import asyncio

from fastapi import FastAPI

from tests import tasks

site = FastAPI()


@site.get("/hello")
async def hello() -> dict:
    return {"hello": "from FastAPI"}


@site.post("/start")
async def start(seconds: float = 0.2) -> dict:
    """A job started by the host's own route: start() writes to the database, so in a thread."""
    job = await asyncio.to_thread(tasks.queue.start, "sleepy", [seconds])
    return {"id": job.id}


app = tasks.queue.asgi(site, worker=True)
