"""Mount lilqueue in a Bottle app with ``mount``: a plain WSGI callable, not a Bottle app.

    python demo/mount_bottle.py                         # the web app on http://127.0.0.1:8000/
    python -m lilqueue worker demo.mount_bottle:queue   # a worker, in another terminal
"""

import os

import bottle

import lilqueue

queue = lilqueue.Queue(os.environ.get("DEMO_DB", "demo.db"))


@queue.task()
def word_count(text: str) -> int:
    """Count the words in a text."""
    return len(text.split())


app = bottle.Bottle()


@app.get("/")
def home():
    return "Hello from Bottle. POST {\"task\": \"word_count\", \"args\": [\"a b c\"]} to /jobs/"


app.mount("/jobs", queue.middleware())

if __name__ == "__main__":
    # Not bottle.run()'s default server: it answers one request at a time, and long-polls wait.
    from lilqueue.web.server import serve
    serve(app, "127.0.0.1", 8000)
