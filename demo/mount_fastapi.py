"""Mount lilqueue in a FastAPI (or Starlette) app through a2wsgi's WSGIMiddleware.

    uvicorn demo.mount_fastapi:app --port 8000            # the web app on http://127.0.0.1:8000/
    python -m lilqueue worker demo.mount_fastapi:queue    # a worker, in another terminal

a2wsgi runs the WSGI side in a thread pool, so waiting long-polls do not block the event loop
(asgiref's WsgiToAsgi runs every request on one thread: do not use it for this).
"""

import os

from a2wsgi import WSGIMiddleware
from fastapi import FastAPI

import lilqueue

queue = lilqueue.Queue(os.environ.get("DEMO_DB", "demo.db"))


@queue.task()
def word_count(text: str) -> int:
    """Count the words in a text."""
    return len(text.split())


app = FastAPI()


@app.get("/")
def home():
    return {"hello": "from FastAPI", "jobs": "/jobs/"}


app.mount("/jobs", WSGIMiddleware(queue.middleware(), workers=32))
