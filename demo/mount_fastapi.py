"""lilqueue in a FastAPI (or Starlette) app, natively on asyncio: everything under /jobs goes to
lilqueue, the rest (and the lifespan) to FastAPI.

    uvicorn demo.mount_fastapi:app --port 8000          # the web app on http://127.0.0.1:8000/
    python -m lilqueue worker demo.mount_fastapi:queue  # a worker, in another terminal

(or ``queue.asgi(api, worker=True)``: a worker inside the web process, started with the
lifespan, and nothing else to run.)

``start()`` writes the job to the database and waits for the commit (about a millisecond on
SQLite, more on a busy disk or a remote PostgreSQL): from an ``async def`` route, call it in a
thread so the event loop never waits on the disk.
"""

import asyncio
import os

from fastapi import FastAPI

import lilqueue

queue = lilqueue.Queue(os.environ.get("DEMO_DB", "demo.db"))


@queue.task()
def word_count(text: str) -> int:
    """Count the words in a text."""
    return len(text.split())


api = FastAPI()


@api.get("/")
async def home():
    return {"hello": "from FastAPI", "jobs": "/jobs/"}


@api.post("/count")
async def count(text: str):
    job = await asyncio.to_thread(word_count.start, text)
    return {"id": job.id, "url": f"/jobs/{job.id}"}


app = queue.asgi(api)
