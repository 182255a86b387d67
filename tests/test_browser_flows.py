"""A pipeline and a batch as one card each, in a real Chromium running lilqueue.js against the
real middleware and a real worker process, and on the no-JavaScript status page."""

from __future__ import annotations

import pytest

from tests.http_support import request, running
from tests.test_browser import ARTIFACTS, browser, opened  # noqa: F401 - the browser fixture

PAGE = b"""<!doctype html>
<div id="card">
  <b data-lilqueue-state></b> <progress data-lilqueue-progress max="100"></progress>
  <span data-lilqueue-message></span> <p data-lilqueue-result hidden></p> <p data-lilqueue-error hidden></p>
  <button data-lilqueue-cancel>Cancel</button>
</div>
<script type="module">
  import { start, bind } from "/jobs/static/lilqueue.js";
  const id = new URLSearchParams(location.search).get("job");
  window.finished = bind("#card", id ? id : start("relay_twice", [5, 1.5]));
</script>"""


def page_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
    return [PAGE]


@pytest.fixture
def site(queue, start_worker):
    queue.pipeline("relay_twice", queue.tasks["relay"].then("relay", 1.5))
    start_worker(threads=2)
    with running(queue.middleware(page_app)) as base:
        yield base


def test_a_pipeline_started_from_the_page_is_one_card_with_its_steps_listed_under_it(browser, site):  # noqa: F811
    with opened(browser, site + "/") as page:
        page.wait_for_function("document.querySelectorAll('#card [data-lilqueue-children] li').length === 2")
        page.wait_for_function("document.querySelector('#card').dataset.state === 'running'"
                               " && document.querySelectorAll(\"#card li[data-state='running']\").length === 1")
        page.wait_for_function("document.querySelector('#card').dataset.state === 'succeeded'", timeout=30_000)
        steps = page.locator("#card [data-lilqueue-children] li")
        assert steps.all_text_contents() == ["relay: succeeded", "relay: succeeded"]
        assert page.locator("[data-lilqueue-result]").text_content() == "7"
        assert page.locator("#card [data-lilqueue-children]").count() == 1  # one list, redrawn in place
        page.screenshot(path=str(ARTIFACTS / "flows-pipeline.png"))


def test_a_batch_is_one_card_counting_its_children_and_cancel_stops_them_all(browser, site, queue):  # noqa: F811
    batch = queue.tasks["relay"].batch([(i, 0 if i < 2 else 30) for i in range(120)])
    with opened(browser, f"{site}/?job={batch.id}") as page:
        page.wait_for_function("document.querySelector('#card [data-lilqueue-children] .lilqueue-child-more')"
                               "?.textContent.includes('of 120 done')")
        assert page.locator("#card [data-lilqueue-children] li").count() == 101  # 100 listed, then the rest counted
        page.wait_for_function("document.querySelectorAll(\"#card li[data-state='succeeded']\").length >= 2")
        page.click("[data-lilqueue-cancel]")
        page.wait_for_function("document.querySelector('#card').dataset.state === 'canceled'", timeout=30_000)
        assert page.locator("#card li[data-state='queued'], #card li[data-state='running']").count() == 0
        page.screenshot(path=str(ARTIFACTS / "flows-batch.png"))
    assert queue.get(batch.id).state == "canceled"


def test_the_status_page_lists_a_flows_children_under_it_without_javascript(queue):
    pipeline = queue.tasks["add"].then("add", 1).start(1, 2)
    batch = queue.tasks["add"].batch([(i, 0) for i in range(150)])
    with running(queue.middleware()) as base:
        page = request(base, "GET", f"/jobs/{pipeline.id}/status").body.decode()
        assert "<h2>Steps</h2>" in page and page.count('class="child-') == 2
        first, second = pipeline.flow.children
        assert f'<a href="../{first.id}/status">add</a>: queued' in page
        assert f'<a href="../{second.id}/status">add</a>: waiting' in page
        page = request(base, "GET", f"/jobs/{batch.id}/status").body.decode()
        assert "Children: 0 of 150 done, 0 failed" in page and page.count('class="child-') == 100
        assert "… 50 more" in page
        child = request(base, "GET", f"/jobs/{first.id}/status")
        assert child.status == 200 and 'id="children"' not in child.body.decode()
