"""A FastAPI app that mounts lilqueue's ASGI face at /api/jobs (a mount gets no lifespan: the
embedded worker starts on the face's first request). tests.tasks' queue on ``LILQUEUE_TEST_DB``.

    uvicorn tests.servers.fastapi_mounted:app --port 8000
"""

import asyncio

from fastapi import FastAPI

from tests import tasks

app = FastAPI()


@app.get("/hello")
async def hello() -> dict:
    return {"hello": "from FastAPI"}


@app.post("/start")
async def start(seconds: float = 0.2) -> dict:
    job = await asyncio.to_thread(tasks.queue.start, "sleepy", [seconds])
    return {"id": job.id}


app.mount("/api/jobs", tasks.queue.asgi(prefix="", worker=True))
