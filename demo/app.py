"""lilqueue demo: import a CSV in the background and watch it in the browser.

    python demo/app.py                  # then open http://127.0.0.1:8000/

One process runs both the web server and a worker, on one SQLite file (demo/demo.db, or
the path in DEMO_DB). The page starts jobs through the middleware mounted at /jobs and
follows them with lilqueue.js: a progress bar, warnings as they arrive, the result, a task
that fails, and a Cancel button. ``--rows`` and ``--delay`` make the import longer or shorter;
``--no-worker`` serves the page alone, for workers run apart (``python -m lilqueue worker demo.app:queue``).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import signal
import threading
import time
from pathlib import Path

import lilqueue
from lilqueue.web.server import make_server

queue = lilqueue.Queue(os.environ.get("DEMO_DB", Path(__file__).with_name("demo.db")))


@queue.task()
def import_csv(rows: int = 200, delay: float = 0.03) -> dict:
    """Import customers from a CSV file; bad lines are skipped with a warning."""
    job = lilqueue.current_job()
    reader = csv.reader(io.StringIO(customers_csv(rows)))
    next(reader)  # the header
    imported = skipped = 0
    for number, row in enumerate(reader, start=2):
        job.progress(number - 1, total=rows, message=f"importing line {number} of {rows + 1}")
        try:
            check_customer(row)
            imported += 1
        except ValueError as exc:
            job.log("warning", f"cannot import line {number}: {exc}")
            skipped += 1
        time.sleep(delay)  # stands in for the real work: a database insert, an API call
    return {"imported": imported, "skipped": skipped}


@queue.task()
def sync_inventory(delay: float = 0.03) -> None:
    """Always fails, to show how an error reaches the page."""
    job = lilqueue.current_job()
    job.progress(1, total=3, message="connecting to supplier.example.com")
    time.sleep(delay * 30)
    raise ConnectionError("supplier.example.com did not answer within 30 s")


def customers_csv(rows: int) -> str:
    """A made-up customer list with a few broken lines."""
    names = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia"]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["name", "email", "age"])
    for i in range(1, rows + 1):
        name = names[i % len(names)]
        row = [name, f"{name.lower()}{i}@example.com", str(20 + i * 7 % 50)]
        if i % 16 == 0:
            row[1] = row[1].replace("@", " at ")
        elif i % 23 == 0:
            row[2] = "forty"
        elif i % 37 == 0:
            row = row[:2]
        writer.writerow(row)
    return out.getvalue()


def check_customer(row: list[str]) -> None:
    if len(row) != 3:
        raise ValueError(f"expected 3 fields, found {len(row)}")
    name, email, age = row
    if "@" not in email:
        raise ValueError(f"{email!r} is not an email address")
    if not age.isdigit():
        raise ValueError(f"age {age!r} is not a number")


PAGE = """<!doctype html>
<html lang="en">
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>lilqueue demo</title>
<link rel="icon" href="data:,">
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
  button { font: inherit; padding: .4rem .9rem; border-radius: .4rem; border: 1px solid #888; background: #fff; }
  button:not(:disabled) { cursor: pointer; } button:disabled { opacity: .4; }
  .job { border: 1px solid #ddd; border-radius: .5rem; padding: .8rem 1rem; margin: 1rem 0; }
  .job header { display: flex; flex-wrap: wrap; gap: .3rem .6rem; align-items: baseline; }
  .job header button { margin-left: auto; }
  .job header a { font-size: .8rem; color: #666; }
  .job progress { width: 85%; height: 1.1rem; vertical-align: middle; }
  [data-lilqueue-state] { font-size: .8rem; padding: 0 .5rem; border-radius: 1rem; background: #eee; }
  [data-state=succeeded] [data-lilqueue-state] { background: #cfc; }
  [data-state=failed] [data-lilqueue-state] { background: #fcc; }
  [data-state=canceled] [data-lilqueue-state] { background: #ddd; }
  [data-state=succeeded] progress { accent-color: #2e8b57; } [data-state=failed] progress { accent-color: #c0392b; }
  [data-state=canceled] progress { accent-color: #7f8c8d; }
  [data-lilqueue-message] { margin: .3rem 0; color: #555; }
  .job h3 { margin: .5rem 0 0; font-size: .9rem; }
  [data-lilqueue-logs] { max-height: 8rem; overflow: auto; margin: .3rem 0; padding-left: 1.2rem; font-size: .9rem;
    overflow-wrap: anywhere; }
  .lilqueue-log-warning { color: #a60; } .lilqueue-log-error { color: #c00; }
  [data-lilqueue-result] { margin: .3rem 0; color: #060; font-weight: 600; }
  [data-lilqueue-error] { margin: .3rem 0; color: #c00; font-weight: 600; }
</style>
<body data-rows="{rows}" data-delay="{delay}">
<h1>lilqueue demo</h1>
<p>Each button starts a background job. The worker runs it while this page shows its progress;
  start several at once, cancel one, reload the page: the jobs carry on.</p>
<p>
  <button id="import">Import customers.csv ({rows} customers)</button>
  <button id="sync">Sync inventory (fails)</button>
</p>
<div id="jobs"></div>

<template id="job">
  <article class="job">
    <header>
      <strong data-title></strong> <span data-lilqueue-state>starting</span>
      <a data-status-page hidden>plain page</a>
      <button data-lilqueue-cancel disabled>Cancel</button>
    </header>
    <progress data-lilqueue-progress max="100" value="0"></progress> <span data-lilqueue-percent></span>
    <p data-lilqueue-message></p>
    <h3 data-warnings hidden></h3>
    <ul data-lilqueue-logs></ul>
    <p data-lilqueue-result hidden></p>
    <p data-lilqueue-error hidden></p>
  </article>
</template>

<script type="module">
  import { start, bind } from "/jobs/static/lilqueue.js";

  const { rows, delay } = document.body.dataset;
  const saved = JSON.parse(sessionStorage.getItem("jobs") || "[]");  // to show them again after a reload
  const formatResult = (r) => r && `${r.imported} customers imported, ${r.skipped} lines skipped`;

  function card(title) {
    const card = document.querySelector("#job").content.firstElementChild.cloneNode(true);
    card.querySelector("[data-title]").textContent = title;
    document.querySelector("#jobs").prepend(card);
    return card;
  }

  function run(title, task, kwargs) {
    const job = start(task, [], kwargs);
    bind(card(title), job, { formatResult });
    job.then(({ id }) => {
      saved.push({ id, title });
      sessionStorage.setItem("jobs", JSON.stringify(saved));
    }, () => {});
  }

  for (const { id, title } of saved) bind(card(title), id, { formatResult });

  document.querySelector("#import").onclick = () =>
    run("Import customers.csv", "import_csv", { rows: Number(rows), delay: Number(delay) });
  document.querySelector("#sync").onclick = () =>
    run("Sync inventory", "sync_inventory", { delay: Number(delay) });

  // lilqueue:update, lilqueue:done and lilqueue:error bubble up from each card. Here: link each job
  // to its status page, which works without JavaScript, and count its warnings (the dropped ones too).
  document.querySelector("#jobs").addEventListener("lilqueue:update", ({ target, detail: { job } }) => {
    Object.assign(target.querySelector("[data-status-page]"), { href: `/jobs/${job.id}/status`, hidden: false });
    const count = job.logs_dropped + job.logs.length;
    Object.assign(target.querySelector("[data-warnings]"), { textContent: `Warnings (${count})`, hidden: !count });
  });
</script>
"""


def site(rows: int, delay: float):
    """The host app: one HTML page. Requests under /jobs never reach it."""
    body = PAGE.replace("{rows}", str(rows)).replace("{delay}", str(delay)).encode()

    def app(environ, start_response):
        if environ["PATH_INFO"] != "/":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [body]

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port (default 8000)")
    parser.add_argument("--rows", type=int, default=200, help="lines in the CSV (default 200)")
    parser.add_argument("--delay", type=float, default=0.03, help="seconds per line (default 0.03)")
    parser.add_argument("--no-worker", action="store_true", help="start no worker here: jobs wait for one run apart")
    options = parser.parse_args()

    worker = None if options.no_worker else queue.worker(threads=2, grace=2).start()
    server = make_server(queue.middleware(site(options.rows, options.delay)), "127.0.0.1", options.port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"lilqueue demo: http://127.0.0.1:{server.server_port}/  (Ctrl+C stops)", flush=True)
    stop.wait()
    server.shutdown()
    if worker:
        worker.stop()


if __name__ == "__main__":
    main()
