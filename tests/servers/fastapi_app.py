"""A FastAPI app with lilqueue mounted through a2wsgi, for uvicorn. The queue is tests.tasks'
queue on ``LILQUEUE_TEST_DB``.

    uvicorn tests.servers.fastapi_app:app --host 127.0.0.1 --port 8000
"""

from a2wsgi import WSGIMiddleware
from fastapi import FastAPI

from tests import tasks

app = FastAPI()


@app.get("/hello")
async def hello() -> dict:
    """The host's own route, on the event loop: a2wsgi's threads serve only /jobs."""
    return {"hello": "from FastAPI"}


app.mount("/jobs", WSGIMiddleware(tasks.queue.middleware(), workers=32))
