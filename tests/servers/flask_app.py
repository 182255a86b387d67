"""A Flask app with lilqueue in front of it, for gunicorn (sync, gthread, gevent), waitress and
``flask run``. The queue is tests.tasks' queue on ``LILQUEUE_TEST_DB``.

    gunicorn --bind 127.0.0.1:8000 tests.servers.flask_app:app
"""

from flask import Flask

from tests import tasks

app = Flask(__name__)


@app.get("/hello")
def hello() -> str:
    """The host's own route: it must stay fast while browsers watch jobs."""
    return "hello from Flask"


app.wsgi_app = tasks.queue.middleware(app.wsgi_app)
