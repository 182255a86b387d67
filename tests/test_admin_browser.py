"""The operators' dashboard in a real Chromium, against a real server and real worker processes.

Needs Debian's ``chromium`` and the ``playwright`` package (never ``playwright install``).
Without them these tests skip, or fail when ``CI=true``. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import contextlib

import pytest

from tests import test_browser
from tests.http_support import running
from tests.test_admin import ADMIN, finished

ARTIFACTS = test_browser.ARTIFACTS
browser = test_browser.browser  # the module's Chromium, launched as the demo's browser tests launch it


@pytest.fixture
def base(queue):
    with running(queue.middleware(admin=lambda environ: True)) as url:
        yield url


@contextlib.contextmanager
def opened(browser, url: str):
    """``test_browser.opened`` (JavaScript errors fail the test), and errors in the console too:
    that is where Chromium reports what the Content-Security-Policy blocked."""
    with test_browser.opened(browser, url, width=1200) as page:
        problems: list[str] = []
        def console(message) -> None:
            if message.type == "error":
                problems.append(f"{message.text} ({message.location.get('url')})")

        page.on("console", console)
        yield page
        assert not problems, f"console errors: {problems}"


# The pages forbid eval (script-src 'self'): give wait_for_function arrow functions, which
# Playwright calls as they are, never expression strings, which it evaluates.


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def count(page, state: str) -> str:
    return page.text_content(f"[data-count={state}]")


def test_the_overview_shows_counts_and_a_failing_job_appears_in_recent_failures(browser, base, queue,
                                                                               start_worker):
    start_worker()
    for job in [queue.start("add", [1, 2]), queue.start("steps", [3]), queue.start("fail", ["disk full"])]:
        finished(queue, job)
    with opened(browser, f"{base}{ADMIN}/") as page:
        assert (count(page, "succeeded"), count(page, "failed"), count(page, "queued")) == ("2", "1", "0")
        page.evaluate("window.notReloaded = true")
        late = finished(queue, queue.start("fail", ["the network is down"]))
        # the overview refreshes by itself while it is visible
        page.wait_for_function("() => document.querySelector('[data-count=failed]').textContent === '2'")
        assert page.evaluate("window.notReloaded") is True
        link = page.locator(f".failures a[href='{ADMIN}/jobs/{late.id}']")
        assert link.is_visible()
        assert "ValueError: the network is down" in page.text_content(f".failures tr[data-job='{late.id}']")
        screenshot(page, "admin-overview.png")
        link.click()
        page.wait_for_selector(".traceback")
        assert page.url.endswith(f"{ADMIN}/jobs/{late.id}")


def test_retry_on_a_failed_jobs_page_creates_a_new_job_that_the_page_links_to(browser, base, queue, start_worker):
    start_worker()
    old = finished(queue, queue.start("fail", ["first try"]))
    with opened(browser, f"{base}{ADMIN}/jobs/{old.id}") as page:
        assert page.is_hidden("[data-action=cancel]")  # only what fits a failed job
        page.click("[data-action=retry]")
        link = page.wait_for_selector(".flash a")
        new_id = link.text_content()
        new = queue.get(new_id)
        assert new.retry_of == old.id and new.id != old.id
        assert page.url == f"{base}{ADMIN}/jobs/{old.id}"  # the message is not kept for a reload
        link.click()
        page.wait_for_url(f"**{ADMIN}/jobs/{new_id}")
        assert page.text_content("[data-retry-of]") == old.id
        page.wait_for_selector("#job[data-finished=true] .state-failed")  # the retry ran and failed again


def test_the_job_page_follows_a_running_job_without_reloading(browser, base, queue, start_worker):
    start_worker()
    job = queue.start("steps", [40], {"delay": 0.1})
    polls: list[str] = []
    with opened(browser, f"{base}{ADMIN}/jobs/{job.id}") as page:
        page.on("request", lambda request: polls.append(request.url))
        page.evaluate("window.notReloaded = true")
        # a job still queued when the page opens has no bar yet ("Not started yet."): it comes
        page.wait_for_function("() => document.querySelector('[data-progress]')?.value >= 10")
        first = page.evaluate("document.querySelector('[data-progress]').value")
        page.wait_for_function(f"() => document.querySelector('[data-progress]').value > {first}")
        assert page.text_content(".status .state") == "running"
        page.wait_for_function("() => document.querySelectorAll('[data-logs] tbody tr').length >= 3")
        screenshot(page, "admin-job.png")
        page.wait_for_selector("#job[data-finished=true] .state-succeeded")
        assert page.evaluate("window.notReloaded") is True
        assert page.evaluate("document.querySelector('[data-progress]').value") == 40
        assert page.text_content("[data-result]") == '{\n  "imported": 40\n}'
    assert polls and all(f"{ADMIN}/jobs/{job.id}.json?since=" in url for url in polls)


def test_the_job_list_filters_and_pages_to_older_jobs(browser, base, queue, start_worker):
    start_worker()
    jobs = [queue.start("fail", [f"row {i} is bad"]) for i in range(3)]
    jobs += [queue.start("add", [i, i]) for i in range(55)]
    for job in jobs:
        finished(queue, job)
    queue.cancel(queue.start("sleepy", [1]).id)
    with opened(browser, f"{base}{ADMIN}/jobs") as page:
        assert page.locator("table.jobs tbody tr").count() == 50
        screenshot(page, "admin-jobs.png")
        page.click("a[data-older]")
        page.wait_for_url("**before=*")
        assert page.locator("table.jobs tbody tr").count() == 9
        page.select_option("select[name=state]", "failed")
        page.click(".filters button[type=submit]")
        page.wait_for_url("**state=failed*")
        shown = page.eval_on_selector_all("table.jobs tbody tr", "rows => rows.map(r => r.dataset.job)")
        assert shown == [j.id for j in reversed(jobs[:3])]


def test_the_job_list_refreshes_only_while_the_tab_is_visible(browser, base, queue, start_worker):
    start_worker()
    first = finished(queue, queue.start("fail", ["early"]))
    with opened(browser, f"{base}{ADMIN}/jobs?state=failed") as page:
        assert page.eval_on_selector_all("table.jobs tbody tr", "rows => rows.map(r => r.dataset.job)") == [first.id]
        # The page's first question (no since) answered: its mark is from before the late job.
        page.wait_for_function("""() => performance.getEntriesByType('resource')
            .some(e => e.name.includes('wait=25') && !e.name.includes('since='))""")
        # What the rule saves is the page itself, fetched again: count those. Its long-polls for
        # changes go on meanwhile (the first may be answered at once when the server's watcher,
        # started by it, finds a newer mark than the page was given).
        requests: list[str] = []
        page.on("request", lambda request: "/changes?" in request.url or requests.append(request.url))
        page.evaluate("""() => {
            window.hiddenTab = true;
            Object.defineProperty(document, 'visibilityState', {configurable: true,
                get: () => window.hiddenTab ? 'hidden' : 'visible'});
        }""")
        late = finished(queue, queue.start("fail", ["late"]))
        page.wait_for_timeout(7000)  # the change came: a visible tab would have fetched the page
        assert requests == [] and page.locator(f"tr[data-job='{late.id}']").count() == 0
        page.evaluate("window.hiddenTab = false; document.dispatchEvent(new Event('visibilitychange'))")
        page.wait_for_selector(f"tr[data-job='{late.id}']")  # one refresh, at once, brings it
        assert len(requests) == 1 and requests[0].endswith(f"{ADMIN}/jobs?state=failed")


# Elements outside a scrolling box that end past the viewport's right edge, and scrolling boxes
# that end past their card's: what spills out at this width.
SPILLS = """() => {
    const right = (el) => el.getBoundingClientRect().right;
    const out = [...document.querySelectorAll('body *')]
        .filter((el) => !el.parentElement.closest('.scroll') && right(el) > innerWidth + 0.5);
    const boxes = [...document.querySelectorAll('.scroll')]
        .filter((box) => right(box) > right(box.closest('section, #job, #live')) + 0.5);
    return [...out, ...boxes].map((el) => `${el.tagName}.${el.className} ends at ${Math.round(right(el))}`);
}"""


@pytest.mark.parametrize(("width", "header_at_most"), [(390, 48), (1280, 60)])
def test_the_dashboard_fits_a_phone_and_a_desktop_its_tables_scrolling_inside_their_cards(
        browser, base, queue, start_worker, width, header_at_most):
    start_worker()
    for job in [queue.start("add", [1, 2]), queue.start("steps", [3]), queue.start("fail_at", [163, 300]),
                queue.start("fail", ["could not write /var/lib/app/exports/2026-12-04/customers-large-export.csv"])]:
        finished(queue, job)
    failed = queue.jobs(state="failed", limit=1)[0]
    for name, path in (("overview", "/"), ("jobs", "/jobs"), ("job", f"/jobs/{failed.id}")):
        with test_browser.opened(browser, f"{base}{ADMIN}{path}", width=width) as page:
            page.wait_for_selector("main")
            if name != "job":
                page.wait_for_selector(".live-toggle")  # the widest part of the header, added by admin.js
            screenshot(page, f"admin-{name}-{width}.png")
            assert page.evaluate("() => document.documentElement.scrollWidth") <= width, name
            assert page.evaluate(SPILLS) == [], name
            header = page.evaluate("() => document.querySelector('header').getBoundingClientRect().height")
            assert header <= header_at_most, (name, header)
    if width == 390:  # the wide Tasks table is there, and scrolls in its card (a refresh may swap it: wait)
        with test_browser.opened(browser, f"{base}{ADMIN}/", width=width) as page:
            page.wait_for_function("""() => {
                const box = document.querySelector('table.counts').closest('.scroll');
                return box.scrollWidth > box.clientWidth && box.clientWidth > 300;
            }""")
