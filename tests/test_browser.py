"""The demo in a real Chromium: ``python demo/app.py`` runs as a process (web server and worker),
the page drives lilqueue.js against the real middleware.

Needs Debian's ``chromium`` and the ``playwright`` package (never ``playwright install``).
Without them these tests skip, or fail when ``CI=true``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from lilqueue.job import ID_PATTERN

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
ROWS, DELAY = 60, 0.04  # an import takes about 2.5 s: long enough to watch and to cancel
TIMEOUT = 20_000  # ms for any one thing to show up on the page
GREEN, RED, GREY = "rgb(46, 139, 87)", "rgb(192, 57, 43)", "rgb(127, 140, 141)"  # bars of the final states


def missing(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (required when CI=true)")
    pytest.skip(reason)


class Demo:
    """``python demo/app.py --port 0`` as a process; ``url`` is what it printed."""

    def __init__(self, db_path: Path, *args: str) -> None:
        self.db_path = db_path
        env = dict(os.environ, DEMO_DB=str(db_path), PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen([sys.executable, "demo/app.py", "--port", "0", *args], cwd=ROOT, env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        found = threading.Event()
        self.url = ""

        def read() -> None:
            for line in self.process.stdout:
                self.lines.append(line)
                match = re.search(r"http://127\.0\.0\.1:\d+/", line)
                if match and not self.url:
                    self.url = match.group(0)
                    found.set()
            found.set()

        self.reader = threading.Thread(target=read, daemon=True)
        self.reader.start()
        if not found.wait(20) or not self.url:
            self.stop()
            raise AssertionError(f"the demo printed no URL:\n{self.output()}")

    def output(self) -> str:
        return "".join(self.lines)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"the demo did not stop on SIGTERM:\n{self.output()}") from None
        finally:
            self.reader.join(5)
            self.process.stdout.close()


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("the playwright package is not installed")
    if not os.path.exists(CHROMIUM):
        missing(f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    demo = Demo(tmp_path_factory.mktemp("demo") / "demo.db", "--rows", str(ROWS), "--delay", str(DELAY))
    yield demo
    demo.stop()


@pytest.fixture(scope="module")
def idle_demo(tmp_path_factory):
    """The demo started with ``--no-worker``: its jobs stay queued until a test runs a worker."""
    demo = Demo(tmp_path_factory.mktemp("idle") / "demo.db", "--rows", "5", "--delay", "0.01", "--no-worker")
    yield demo
    demo.stop()


@contextmanager
def opened(browser, url: str, width: int = 900):
    """A page on ``url`` in a fresh context; JavaScript errors on it fail the test."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(url)
        yield page
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def page(browser, demo):
    with opened(browser, demo.url) as page:
        yield page


@pytest.fixture
def idle_page(browser, idle_demo):
    with opened(browser, idle_demo.url) as page:
        yield page


def card(n: int) -> str:
    """JS for the n-th job card from the top (the newest is 0)."""
    return f"document.querySelectorAll('#jobs .job')[{n}]"


def wait_state(page, n: int, state: str) -> None:
    page.wait_for_function(f"{card(n)}?.dataset.state === '{state}'")


def text(page, n: int, name: str) -> str:
    return page.evaluate(f"{card(n)}.querySelector('[data-lilqueue-{name}]').textContent")


def bar(page, n: int) -> dict:
    return page.evaluate(f"(bar => ({{ value: bar.value, indeterminate: bar.matches(':indeterminate') }}))"
                         f"({card(n)}.querySelector('progress'))")


def accent(page, n: int) -> str:
    """The color the n-th card's bar is drawn in."""
    return page.evaluate(f"getComputedStyle({card(n)}.querySelector('progress')).accentColor")


def bind_card(page, task: str, kwargs: dict) -> None:
    """Start a job and bind it to a new card from the page's own template, as its buttons do."""
    page.evaluate("""async ([task, kwargs]) => {
        const { start, bind } = await import('/jobs/static/lilqueue.js');
        const card = document.querySelector('#job').content.firstElementChild.cloneNode(true);
        document.querySelector('#jobs').prepend(card);
        bind(card, start(task, [], kwargs));
    }""", [task, kwargs])


def test_an_import_moves_the_bar_to_100_shows_warnings_as_they_arrive_and_the_result(page):
    page.click("#import")
    page.wait_for_function(f"{card(0)}?.dataset.state === 'running'"
                           f" && {card(0)}.querySelector('progress').value > 0")
    # a warning is on the page while the job is still running
    page.wait_for_function(f"{card(0)}.querySelector('.lilqueue-log-warning') && {card(0)}.dataset.state === 'running'")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "demo-running.png"), full_page=True)
    wait_state(page, 0, "succeeded")
    assert page.evaluate(f"{card(0)}.querySelector('progress').value") == 100
    assert text(page, 0, "percent") == "100%"
    assert accent(page, 0) == GREEN
    warnings = page.evaluate(f"[...{card(0)}.querySelectorAll('[data-lilqueue-logs] li')].map(li => li.textContent)")
    assert "cannot import line 17: 'ken16 at example.com' is not an email address" in warnings
    assert text(page, 0, "result") == f"{ROWS - len(warnings)} customers imported, {len(warnings)} lines skipped"
    assert page.is_disabled(".job [data-lilqueue-cancel]")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "demo-import.png"), full_page=True)
    page.click(".job [data-status-page]")  # the same job on the page that needs no JavaScript
    # a locator, not wait_for_function: the status page's CSP forbids the eval that a string
    # predicate polled in the page needs (it failed whenever the poll met the new page)
    page.locator("#state").filter(has_text="succeeded").wait_for()


def test_a_new_card_is_still_and_cannot_cancel_until_its_job_is_bound(page):
    page.route("**/jobs/", lambda route: None)  # the start's POST never answers: no job comes
    page.click("#import")
    page.wait_for_function(f"{card(0)}?.isConnected")
    assert page.evaluate(f"""(card => ({{cancel: card.querySelector('[data-lilqueue-cancel]').disabled,
        animated: card.querySelector('progress').matches(':indeterminate')}}))({card(0)})""") == {
        "cancel": True, "animated": False}


def test_cancel_on_a_running_import_shows_canceled(page):
    page.click("#import")
    page.wait_for_function(f"{card(0)}?.dataset.state === 'running' && {card(0)}.querySelector('progress').value > 0")
    page.click(".job [data-lilqueue-cancel]")
    wait_state(page, 0, "canceled")
    assert page.evaluate(f"{card(0)}.querySelector('progress').value") < 100
    assert text(page, 0, "state") == "canceled"
    assert page.is_disabled(".job [data-lilqueue-cancel]")
    assert accent(page, 0) == GREY  # a bar stopped by a cancel is not a running one


def test_a_failing_task_shows_its_error(page):
    page.click("#sync")
    wait_state(page, 0, "failed")
    assert text(page, 0, "error") == "ConnectionError: supplier.example.com did not answer within 30 s"
    assert page.is_visible(".job [data-lilqueue-error]")
    assert page.is_hidden(".job [data-lilqueue-result]")
    assert accent(page, 0) == RED
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "demo-failed.png"), full_page=True)


def test_two_jobs_on_one_page_progress_independently(page):
    page.click("#import")
    page.wait_for_function(f"{card(0)}?.dataset.state === 'running'")
    page.click("#import")
    both_moving = ("[0, 1].every(n => document.querySelectorAll('#jobs .job')[n]?.dataset.state === 'running'"
                   " && document.querySelectorAll('#jobs .job')[n].querySelector('progress').value > 0)")
    page.wait_for_function(both_moving)
    ids = page.evaluate(f"[{card(0)}.dataset.lilqueueJob, {card(1)}.dataset.lilqueueJob]")
    assert ids[0] != ids[1]
    page.click(f"[data-lilqueue-job='{ids[0]}'] [data-lilqueue-cancel]")  # the newer one
    wait_state(page, 0, "canceled")
    wait_state(page, 1, "succeeded")
    assert page.evaluate(f"{card(1)}.querySelector('progress').value") == 100
    assert page.evaluate(f"{card(0)}.querySelector('progress').value") < 100
    assert text(page, 0, "result") == ""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "demo-two-jobs.png"), full_page=True)


def test_jobs_started_before_a_reload_show_up_again_and_carry_on(page):
    page.click("#sync")
    page.click("#import")
    page.wait_for_function(f"{card(0)}?.dataset.state === 'running' && {card(0)}.querySelector('progress').value > 0")
    ids = page.evaluate("[...document.querySelectorAll('#jobs .job')].map(c => c.dataset.lilqueueJob)")
    page.reload()
    wait_state(page, 0, "succeeded")
    wait_state(page, 1, "failed")
    assert page.evaluate("[...document.querySelectorAll('#jobs .job')].map(c => c.dataset.lilqueueJob)") == ids
    assert text(page, 0, "percent") == "100%"


def test_an_unknown_task_shows_the_servers_problem_detail_and_fires_lilqueue_error(page):
    detail = page.evaluate("""async () => {
        const { bind, start } = await import('/jobs/static/lilqueue.js');
        const box = document.createElement('div');
        box.innerHTML = '<p data-lilqueue-error hidden></p>';
        document.body.append(box);
        const fired = new Promise(resolve => box.addEventListener('lilqueue:error', e => resolve(e.detail.error)));
        await bind(box, start('no_such_task'));
        const error = await fired;
        return { status: error.status, problem: error.problem, shown: box.textContent, hidden: box.firstChild.hidden };
    }""")
    assert detail["status"] == 404
    assert detail["problem"]["status"] == 404 and detail["problem"]["detail"]
    assert detail["shown"] == detail["problem"]["detail"]
    assert detail["hidden"] is False


def test_cancel_of_a_finished_job_rejects_with_the_409_problem(page):
    result = page.evaluate("""async () => {
        const { start, watch, cancel } = await import('/jobs/static/lilqueue.js');
        const job = await watch(await start('import_csv', [], { rows: 1, delay: 0 }));
        return cancel(job.id).then(() => 'resolved', (error) => ({ status: error.status, title: error.problem.title }));
    }""")
    assert result["status"] == 409 and result["title"]


def test_watch_long_polls_with_the_last_version_and_stops_when_aborted(page):
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    result = page.evaluate("""async () => {
        const { start, watch } = await import('/jobs/static/lilqueue.js');
        const job = await start('import_csv', [], { rows: 200, delay: 0.05 });
        const controller = new AbortController();
        const seen = [];
        const outcome = await watch(job, { signal: controller.signal, onUpdate: (j) => {
            seen.push(j.version);
            if (j.state === 'running' && j.progress.current > 2) controller.abort();
        }}).then(() => 'finished', (error) => error.name);
        return { outcome, seen, id: job.id };
    }""")
    assert result["outcome"] == "AbortError"
    assert result["seen"] == sorted(set(result["seen"]))  # every update is newer than the one before
    polls = [url for url in requests if f"/jobs/{result['id']}?" in url]
    assert polls[0].endswith(f"?since={result['seen'][0]}&wait=25")
    count = len(polls)
    page.evaluate(f"fetch('/jobs/{result['id']}/cancel', {{method: 'POST', headers: {{'Content-Type': "
                  "'application/json'}, body: '{}'})")
    page.wait_for_function(f"fetch('/jobs/{result['id']}').then(r => r.json()).then(j => j.state === 'canceled')",
                           polling=100)
    assert len([url for url in requests if f"/jobs/{result['id']}?" in url]) == count  # no poll after abort


def test_watch_waits_while_the_page_is_hidden_and_resumes_when_it_is_shown(page):
    result = page.evaluate("""async () => {
        const { start, watch, get } = await import('/jobs/static/lilqueue.js');
        let hidden = true;
        Object.defineProperty(document, 'hidden', { configurable: true, get: () => hidden });
        const job = await start('import_csv', [], { rows: 5, delay: 0.01 });
        const updates = [];
        const finished = watch(job.id, { onUpdate: (j) => updates.push(j.state) });
        let now = job;
        while (now.state !== 'succeeded') {
            await new Promise(r => setTimeout(r, 50));
            now = await get(job.id);
        }
        const whileHidden = updates.length;
        hidden = false;
        document.dispatchEvent(new Event('visibilitychange'));
        const last = await finished;
        return { whileHidden, updates, state: last.state };
    }""")
    assert result["whileHidden"] == 0
    assert result["updates"] == ["succeeded"]
    assert result["state"] == "succeeded"


def test_watch_backs_off_after_server_errors_and_still_follows_the_job_to_the_end(page):
    failures = {"left": 2}

    def flaky(route):
        if failures["left"] and "?since=" in route.request.url:
            failures["left"] -= 1
            route.fulfill(status=503, content_type="text/html", body="<h1>502 Bad Gateway</h1>")
        else:
            route.continue_()

    page.route(re.compile(rf".*/jobs/{ID_PATTERN.pattern}\?.*"), flaky)
    state = page.evaluate("""async () => {
        const { start, watch } = await import('/jobs/static/lilqueue.js');
        const job = await start('import_csv', [], { rows: 5, delay: 0.01 });
        return (await watch(job)).state;
    }""")
    assert state == "succeeded"
    assert failures["left"] == 0


def test_watch_waits_as_long_as_retry_after_says_when_a_200_answer_was_not_held(page, demo):
    polls: list[float] = []

    def unheld(route):
        polls.append(time.monotonic())
        if len(polls) == 1:  # the real job, answered at once as a server that cannot hold answers
            answer = route.fetch(url=route.request.url.replace("wait=25", "wait=0"))
            polls[0] = time.monotonic()  # the page has no answer before this: its wait begins later
            route.fulfill(response=answer, headers={**answer.headers, "retry-after": "2"})
            return
        if len(polls) == 2:  # end the job, so that watch() returns
            job_id = re.search(rf"/jobs/({ID_PATTERN.pattern})\?", route.request.url).group(1)
            urllib.request.urlopen(urllib.request.Request(f"{demo.url}jobs/{job_id}/cancel", b"", method="POST"))
        route.continue_()

    page.route(re.compile(rf".*/jobs/{ID_PATTERN.pattern}\?since=.*"), unheld)
    state = page.evaluate("""async () => {
        const { start, watch } = await import('/jobs/static/lilqueue.js');
        return (await watch(await start('import_csv', [], { rows: 200, delay: 0.05 }))).state;
    }""")
    assert state == "canceled"
    assert polls[1] - polls[0] >= 1.8, polls


def test_the_warnings_heading_counts_them_and_the_list_follows_the_newest_unless_scrolled_up(page):
    bind_card(page, "import_csv", {"rows": 300, "delay": 0.02})
    logs = f"{card(0)}.querySelector('[data-lilqueue-logs]')"
    page.wait_for_function(f"(list => list.scrollHeight > list.clientHeight + 20"
                           f" && list.scrollTop + list.clientHeight >= list.scrollHeight - 2)({logs})")
    page.evaluate(f"{logs}.scrollTop = 0")  # the reader goes back to an older line...
    count = page.evaluate(f"{logs}.children.length")
    page.wait_for_function(f"{logs}.children.length > {count}")
    assert page.evaluate(f"{logs}.scrollTop") == 0  # ...and stays there while new lines arrive
    wait_state(page, 0, "succeeded")
    count = page.evaluate(f"{logs}.children.length")
    assert count > 20
    assert page.evaluate(f"{card(0)}.querySelector('[data-warnings]').textContent") == f"Warnings ({count})"
    assert page.is_visible(".job [data-warnings]")


def test_no_card_is_wider_than_a_390_px_screen(browser, demo):
    with opened(browser, demo.url, width=390) as page:
        page.click("#sync")
        page.click("#import")
        page.wait_for_function(f"{card(0)}.dataset.state === 'running' && {card(0)}.querySelector('.lilqueue-log')"
                               f" && {card(1)}.dataset.state === 'running'")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "demo-390.png"), full_page=True)
        outside = page.evaluate("""() => [...document.querySelectorAll('#jobs .job')].flatMap(card => {
            const box = card.getBoundingClientRect();
            const out = [...card.querySelectorAll('*')].filter(e => e.getClientRects().length).filter(e => {
                const r = e.getBoundingClientRect();
                return r.left < box.left - 0.5 || r.right > box.right + 0.5;
            }).map(e => e.outerHTML.slice(0, 60));
            return card.scrollWidth > card.clientWidth ? [...out, 'the card scrolls'] : out;
        })""")
        assert outside == []
        assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_the_status_page_of_a_succeeded_job_sends_the_browser_on_to_next(page, demo):
    job_id = page.evaluate("""async () => {
        const { start, watch } = await import('/jobs/static/lilqueue.js');
        return (await watch(await start('import_csv', [], { rows: 1, delay: 0 }))).id;
    }""")
    page.goto(f"{demo.url}jobs/{job_id}/status?next=%2Freport%3Fx%3D1%26y%3D2")
    page.wait_for_url(f"{demo.url}report?x=1&y=2")


def test_a_job_canceled_before_it_ran_leaves_an_empty_bar_that_does_not_move(idle_page):
    idle_page.click("#import")
    wait_state(idle_page, 0, "queued")
    idle_page.click(".job [data-lilqueue-cancel]")
    wait_state(idle_page, 0, "canceled")
    assert bar(idle_page, 0) == {"value": 0, "indeterminate": False}
    assert text(idle_page, 0, "percent") == ""


def test_the_status_page_reloads_itself_with_its_query_string(idle_page, idle_demo):
    idle_page.click("#import")
    wait_state(idle_page, 0, "queued")
    job_id = idle_page.evaluate(f"{card(0)}.dataset.lilqueueJob")
    url = f"{idle_demo.url}jobs/{job_id}/status?next=%2Freports%2F7%3Ftab%3D1"
    idle_page.goto(url)
    with idle_page.expect_request(lambda request: "/status" in request.url) as reload:
        pass
    assert reload.value.url == url and reload.value.is_navigation_request()


def test_a_queued_job_says_after_3_s_that_no_worker_runs_and_shows_progress_once_one_does(idle_page, idle_demo):
    idle_page.click("#import")
    wait_state(idle_page, 0, "queued")
    began = time.monotonic()
    assert idle_page.evaluate(f"{card(0)}.dataset.noWorker") == "false"  # a worker may be about to take it
    assert text(idle_page, 0, "message") == ""
    # no update arrives while the job waits (the long-poll holds): the hint comes from a timer
    idle_page.wait_for_function(f"{card(0)}.dataset.noWorker === 'true'", timeout=10_000)
    assert time.monotonic() - began > 2
    assert text(idle_page, 0, "message") == "waiting for a worker — none is running"
    assert bar(idle_page, 0) == {"value": 0, "indeterminate": False}
    env = dict(os.environ, DEMO_DB=str(idle_demo.db_path), PYTHONUNBUFFERED="1")
    worker = subprocess.Popen([sys.executable, "-m", "lilqueue", "worker", "demo.app:queue", "--threads", "1"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        wait_state(idle_page, 0, "succeeded")
    finally:
        worker.terminate()
        worker.wait(15)
    assert idle_page.evaluate(f"{card(0)}.dataset.noWorker") == "false"
    assert text(idle_page, 0, "message") == "importing line 6 of 6"
    assert bar(idle_page, 0) == {"value": 100, "indeterminate": False}


def test_the_demo_stops_cleanly_on_sigterm(tmp_path):
    demo = Demo(tmp_path / "demo.db", "--rows", "5", "--delay", "0.01")
    assert demo.stop() == 0, demo.output()


def test_a_delayed_start_says_when_it_will_run_then_runs(page):
    page.evaluate("""async () => {
        const { start, bind } = await import('/jobs/static/lilqueue.js');
        const card = document.querySelector('#job').content.firstElementChild.cloneNode(true);
        document.querySelector('#jobs').prepend(card);
        bind(card, start('import_csv', [5, 0.01], {}, { delay: 2 }));
    }""")
    message = f"{card(0)}.querySelector('[data-lilqueue-message]').textContent"
    page.wait_for_function(f"{card(0)}?.dataset.state === 'queued' && {message}.startsWith('starts at')")
    shown = time.monotonic()
    wait_state(page, 0, "succeeded")
    assert time.monotonic() - shown > 0.5  # it waited for its time, not started at once
