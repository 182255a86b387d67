"""A small Flask shop as users write one, for tests/test_testing.py: its queue made at import,
a task, a view that starts it and the middleware in front. ``SHOP_DB`` is where the queue keeps
its jobs (a test points it at a file of its own)."""

from __future__ import annotations

import os

from flask import Flask, jsonify, request

import lilqueue

queue = lilqueue.Queue(os.environ.get("SHOP_DB", "shop.db"))


@queue.task()
def import_rows(count: int = 50) -> dict:
    job = lilqueue.current_job()
    for i in range(1, count + 1):
        job.progress(i, total=count, message=f"row {i} of {count}")
        if i % 17 == 0:
            job.log("warning", f"cannot import line {i}")
    return {"imported": count}


app = Flask(__name__)
app.wsgi_app = queue.middleware(app.wsgi_app)


@app.post("/import")
def start_import():
    job = import_rows.start(int(request.form.get("count", 50)))
    return jsonify(id=job.id, state=job.state, status_page=f"/jobs/{job.id}/status"), 202
