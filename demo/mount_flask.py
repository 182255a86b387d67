"""Mount lilqueue in a Flask app: everything under /jobs goes to lilqueue, the rest to Flask.

    python demo/mount_flask.py                          # the web app on http://127.0.0.1:8000/
    python -m lilqueue worker demo.mount_flask:queue    # a worker, in another terminal
"""

import os

from flask import Flask

import lilqueue

queue = lilqueue.Queue(os.environ.get("DEMO_DB", "demo.db"))


@queue.task()
def word_count(text: str) -> int:
    """Count the words in a text."""
    return len(text.split())


app = Flask(__name__)


@app.get("/")
def home():
    return "Hello from Flask. POST {\"task\": \"word_count\", \"args\": [\"a b c\"]} to /jobs/"


app.wsgi_app = queue.middleware(app.wsgi_app)

if __name__ == "__main__":
    app.run(port=8000, threaded=True)
