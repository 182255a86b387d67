"""lilqueue's own pages in a real Chromium, side by side: the status page, the dashboard's job
page and a page that lilqueue.js binds write a job alike (its percentage, its bar's color).

They render the same job JSON on either engine, so they run on one SQLite file. Needs Debian's
``chromium`` and the ``playwright`` package (never ``playwright install``); without them these
tests skip, or fail when ``CI=true``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lilqueue.formats import percent
from tests import tasks, test_browser
from tests.conftest import ROOT, wait_for, worker_starter
from tests.http_support import running

browser = test_browser.browser  # the module's Chromium, launched as the demo's browser tests launch it
ADMIN = "/jobs/admin"

CARD = b"""<!doctype html>
<html lang="en"><meta charset="utf-8"><title>card</title><link rel="icon" href="data:,">
<div id="card">
  <progress data-lilqueue-progress max="100"></progress> <span data-lilqueue-percent></span>
  <b data-lilqueue-state></b>
</div>
<script type="module">
  import { bind } from "/jobs/static/lilqueue.js";
  bind("#card", new URLSearchParams(location.search).get("job"));
</script>
</html>"""


PLAIN = b"<!doctype html><title>no icon named</title><p>A page that names no icon."


class Host:
    """The host app: ``/`` a page where lilqueue.js binds the job named in ``?job=``, ``/plain``
    a page without an icon link, 404 for the rest; ``paths`` lists what it was asked for."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def __call__(self, environ, start_response):
        path = environ["PATH_INFO"]
        self.paths.append(path)
        if path not in ("/", "/plain"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [CARD if path == "/" else PLAIN]


@pytest.fixture
def site(tmp_path: Path):
    """A queue on a SQLite file, served with the dashboard in front of a ``Host``, and a worker:
    yields (queue, base URL, location, host)."""
    location = str(tmp_path / "pages.db")
    queue = tasks.build(location)
    starter = worker_starter(location, tmp_path)
    start = next(starter)
    start(threads=2)
    host = Host()
    with running(queue.middleware(host, admin=lambda environ: True)) as base:
        yield queue, base, location, host
    next(starter, None)


def finished(queue, task: str, *args):
    job = queue.wait(queue.start(task, list(args)).id, timeout=20)
    assert job.finished, job
    return job


def shown(browser, url: str, selector: str, ready: str = "() => true") -> str:
    with test_browser.opened(browser, url) as page:
        page.wait_for_function(ready)
        return page.text_content(selector).strip()


def test_the_status_page_the_dashboard_lilqueue_js_and_the_cli_write_a_percentage_alike(browser, site):
    queue, base, location, _ = site
    job = finished(queue, "fail_at", 2, 3)
    written = {
        "status page": shown(browser, f"{base}/jobs/{job.id}/status", "#percent"),
        "dashboard": shown(browser, f"{base}{ADMIN}/jobs/{job.id}", "[data-percent]"),
        "lilqueue.js": shown(browser, f"{base}/?job={job.id}", "[data-lilqueue-percent]",
                             "() => document.querySelector('#card').dataset.state === 'failed'"),
    }
    cli = subprocess.run([sys.executable, "-m", "lilqueue", "show", "tests.tasks:queue", job.id], cwd=ROOT,
                         capture_output=True, text=True, timeout=60, env=dict(os.environ, LILQUEUE_TEST_DB=location))
    written["cli"] = next(line for line in cli.stdout.splitlines() if line.startswith("progress")).split()[2]
    assert written == {"status page": "66%", "dashboard": "66%", "lilqueue.js": "66%", "cli": "(66%)"}, written


def test_lilqueue_js_follows_the_rule_of_lilqueue_formats_percent(browser, site):
    _, base, _, _ = site
    cases = [(163, 300, False), (2, 3, False), (29, 100, False), (0.29, 1, False), (999, 1000, False),
             (0, 10, False), (300, 300, False), (450, 300, False), (-3, 300, False), (5, None, False),
             (5, 0, False), (None, 10, False), (None, None, True), (3, 10, True)]
    with test_browser.opened(browser, f"{base}/?job=none") as page:
        written = page.evaluate("""async (cases) => {
            const { percentText } = await import("/jobs/static/lilqueue.js");
            return cases.map(([current, total, done]) => percentText(current, total, done));
        }""", cases)
    assert written == [percent(current, total, done) for current, total, done in cases]


def bar_colors(browser, base: str, job_id: str) -> dict[str, str]:
    """The color of the job's bar on the status page and on the dashboard's job page."""
    colors = {}
    for place, url, bar in (("status page", f"{base}/jobs/{job_id}/status", "progress"),
                            ("dashboard", f"{base}{ADMIN}/jobs/{job_id}", "[data-progress]")):
        with test_browser.opened(browser, url) as page:
            page.wait_for_selector(bar)
            # Found and read in one turn of the page: the dashboard replaces a live job's bar as
            # it follows it, and a bar read after its replacement has no style ('').
            colors[place] = page.evaluate("bar => getComputedStyle(document.querySelector(bar)).accentColor", bar)
    return colors


def test_a_bar_takes_the_color_of_its_jobs_final_state_on_the_status_page_and_the_dashboard(browser, site):
    queue, base, _, _ = site
    long = queue.start("steps", [10_000, 0.01])
    wait_for(lambda: queue.get(long.id).progress.current, what="progress")
    running = bar_colors(browser, base, long.id)
    canceled = queue.wait(queue.cancel(long.id).id, timeout=15)
    assert canceled.state == "canceled" and canceled.progress.current
    seen = {"running": running, "canceled": bar_colors(browser, base, long.id),
            "failed": bar_colors(browser, base, finished(queue, "fail_at", 1, 3).id),
            "succeeded": bar_colors(browser, base, finished(queue, "steps", 3).id)}
    expected = {"running": "auto", "canceled": test_browser.GREY, "failed": test_browser.RED,
                "succeeded": test_browser.GREEN}  # auto: the browser's own accent while it moves
    assert seen == {state: {"status page": color, "dashboard": color} for state, color in expected.items()}, seen


def test_no_page_of_lilqueue_makes_the_browser_ask_the_host_for_favicon_ico(browser, site):
    queue, base, _, host = site
    job = finished(queue, "fail_at", 1, 3)
    context = browser.new_context()
    try:
        for path in (f"/jobs/{job.id}/status", f"{ADMIN}/", f"{ADMIN}/jobs", f"{ADMIN}/jobs/{job.id}", f"{ADMIN}/nope"):
            context.new_page().goto(base + path)
        context.pages[-1].wait_for_timeout(2000)  # Chromium asks for the icon soon after a page loaded
        asked = list(host.paths)
        # the control, last: Chromium remembers a missing icon and would not ask for it again
        context.new_page().goto(f"{base}/plain")
        wait_for(lambda: "/favicon.ico" in host.paths, what="Chromium asks for a page without an icon link")
    finally:
        context.close()
    assert "/favicon.ico" not in asked, asked
