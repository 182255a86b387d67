"""The plain status page (``lilqueue.web.statuspage.render``) on real jobs: started through a
queue on a SQLite file and run by real worker processes."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from html.parser import HTMLParser

import pytest

from lilqueue import Job
from lilqueue.web.statuspage import render
from tests.conftest import wait_for

NEXT = "/reports/abc?x=1&y=2"
HINT = "Waiting for a worker — none is running."


class Page(HTMLParser):
    """The tags of a rendered page and their (unescaped) attributes."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]

    @property
    def refresh(self) -> str | None:
        found = [m["content"] for m in self.all("meta") if m.get("http-equiv") == "refresh"]
        return found[0] if found else None

    @property
    def links(self) -> list[str | None]:
        return [a.get("href") for a in self.all("a")]

    @property
    def bar(self) -> dict[str, str | None]:
        (bar,) = self.all("progress")
        return bar


@pytest.fixture
def run(queue, start_worker):
    """Run a task on a real worker to its end: ``run("add", 1, 2)`` returns the finished job."""
    start_worker(threads=1)

    def run(task: str, *args) -> Job:
        job = queue.wait(queue.start(task, args).id, timeout=15)
        assert job.finished, job
        return job

    return run


def canceled_while_queued(queue):
    """A job canceled before any worker could take it: its body is held back a minute, so a
    worker running beside the test cannot finish it first."""
    job = queue.get(queue.cancel(queue.start("noop", delay=60).id).id)
    assert job.state == "canceled", job
    return job


def test_an_unfinished_job_reloads_the_same_url_every_two_seconds(queue):
    job = queue.get(queue.start("noop").id)
    page = Page(render(job, next_url=NEXT))
    assert page.refresh == "2"  # no url: the browser reloads this URL, query string included
    assert page.links == []
    assert "value" not in page.bar  # indeterminate: nothing is known yet


def test_a_succeeded_job_with_next_url_sends_the_person_on_and_links_there(run):
    html = render(run("add", 1, 2), next_url=NEXT)
    page = Page(html)
    assert page.refresh == f"0; url={NEXT}"
    assert page.links == [NEXT]
    assert '<a href="/reports/abc?x=1&amp;y=2">Continue</a>' in html


def test_a_failed_job_with_next_url_shows_its_error_and_a_link_but_stays(run):
    html = render(run("fail", "boom"), next_url=NEXT)
    page = Page(html)
    assert page.refresh is None
    assert page.links == [NEXT]
    assert "ValueError" in html and "boom" in html


def test_a_canceled_job_with_next_url_links_there_but_stays(queue):
    page = Page(render(canceled_while_queued(queue), next_url=NEXT))
    assert page.refresh is None
    assert page.links == [NEXT]


def test_a_finished_job_without_next_url_neither_moves_on_nor_links(run):
    page = Page(render(run("add", 1, 2)))
    assert page.refresh is None
    assert page.links == []


def test_a_job_that_ends_without_progress_has_a_full_bar_only_when_it_succeeded(queue, run):
    succeeded, failed = run("noop"), run("fail", "boom")
    assert succeeded.progress.total is None and failed.progress.total is None
    assert Page(render(succeeded)).bar == {"data-state": "succeeded", "max": "1", "value": "1"}
    assert '<span id="percent">100%</span>' in render(succeeded)
    assert Page(render(failed)).bar == {"data-state": "failed", "max": "1", "value": "0"}
    assert '<span id="percent"></span>' in render(failed)
    assert Page(render(canceled_while_queued(queue))).bar == {"data-state": "canceled", "max": "1", "value": "0"}


def test_a_canceled_job_keeps_the_progress_it_reached(queue, start_worker):
    start_worker(threads=1)
    job = queue.start("steps", [10_000, 0.01])
    wait_for(lambda: queue.get(job.id).progress.current, what="progress")
    job = queue.wait(queue.cancel(job.id).id, timeout=15)
    assert job.state == "canceled" and job.progress.current
    assert Page(render(job)).bar == {"data-state": "canceled", "max": "10000", "value": f"{job.progress.current:g}"}


def test_a_queued_job_older_than_3_s_without_a_worker_says_so_and_does_not_animate(queue):
    job = queue.get(queue.start("noop").id)
    old = dataclasses.replace(job, created_at=job.created_at - timedelta(seconds=5))
    html = render(old, no_worker=True)
    assert HINT in html
    assert Page(html).bar == {"data-state": "queued", "max": "1", "value": "0"}
    assert Page(html).refresh == "2"  # it keeps looking: a worker may come


def test_the_no_worker_hint_needs_a_job_queued_for_more_than_3_s_and_no_worker(queue, start_worker):
    young = queue.get(queue.start("noop").id)
    old = dataclasses.replace(young, created_at=young.created_at - timedelta(seconds=5))
    quiet = [render(young, no_worker=True), render(old, no_worker=False)]
    start_worker(threads=1)
    running = queue.start("sleepy", [10])
    running = wait_for(lambda: (job := queue.get(running.id)).state == "running" and job, what="running")
    quiet.append(render(dataclasses.replace(running, created_at=running.created_at - timedelta(seconds=5)),
                        no_worker=True))
    queue.cancel(running.id)
    for html in quiet:
        assert HINT not in html
        assert "value" not in Page(html).bar


def test_a_hostile_next_url_is_escaped_in_the_refresh_and_in_the_link(queue, run):
    hostile = '/a"><script>alert(1)</script>'
    for job in (run("add", 1, 2), run("fail", "boom"), canceled_while_queued(queue)):
        html = render(job, next_url=hostile)
        page = Page(html)
        assert "<script>" not in html and "/a&quot;&gt;&lt;script&gt;" in html
        assert page.all("script") == []
        assert page.links == [hostile]  # the same URL once the browser unescapes it
        if job.state == "succeeded":
            assert page.refresh == f"0; url={hostile}"


def test_the_log_heading_shows_only_above_log_lines(run):
    quiet, chatty = render(run("add", 1, 2)), render(run("steps", 3))
    assert "Log</h2>" not in quiet and 'id="logs"' not in quiet
    assert "<h2>Log</h2>" in chatty and "warning: cannot import line 3" in chatty
