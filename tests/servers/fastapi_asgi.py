"""A FastAPI site with lilqueue's ASGI face, two ways; tests.tasks' queue on ``LILQUEUE_TEST_DB``.

    uvicorn tests.servers.fastapi_asgi:app --port 8000       # wrapped: /jobs/... and the lifespan
    uvicorn tests.servers.fastapi_asgi:mounted --port 8000   # mounted at /api/jobs: no lifespan,
                                                             # a start wakes the embedded worker
"""

import asyncio

from fastapi import FastAPI

from tests import tasks


def site() -> FastAPI:
    made = FastAPI()

    @made.get("/hello")
    async def hello() -> dict:
        return {"hello": "from FastAPI"}

    @made.post("/start")
    async def start(seconds: float = 0.2) -> dict:
        """A job started by the host's own route: start() writes to the database, so in a thread."""
        job = await asyncio.to_thread(tasks.queue.start, "sleepy", [seconds])
        return {"id": job.id}

    return made


app = tasks.queue.asgi(site(), worker=True)
mounted = site()
mounted.mount("/api/jobs", tasks.queue.asgi(prefix="", worker=True))
