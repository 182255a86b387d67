"""The operators' dashboard over real HTTP: each face on 127.0.0.1 serving the API under
/jobs and the dashboard under /jobs/admin, real ``python -m lilqueue worker`` processes making
succeeded, failed and canceled jobs, and http.client."""

from __future__ import annotations

import logging
import re
import threading
import time
from html.parser import HTMLParser
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pytest

import lilqueue
from lilqueue import JobNotFound
from tests.conftest import wait_for
from tests.http_support import request, serving

ADMIN = "/jobs/admin"
HOSTILE = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>"
FORM = "application/x-www-form-urlencoded"
EVIL = [{"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}]


@pytest.fixture
def dashboard(queue, face):
    """``dashboard(hook=..., **options)`` serves ``queue.middleware(admin=hook)`` or
    ``queue.asgi(admin=hook)``: the API under /jobs, the dashboard under /jobs/admin; returns
    the base URL."""
    with serving(queue, face) as start:
        def serve(hook=lambda native: True, **options) -> str:
            return start(admin=hook, **options)

        yield serve


class Html(HTMLParser):
    """A page's tags (with unescaped attributes) and its text."""

    def __init__(self, body: bytes) -> None:
        super().__init__()
        self.raw = body.decode()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.texts: list[str] = []
        self.feed(self.raw)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.texts.append(data)

    @property
    def text(self) -> str:
        return " ".join("".join(self.texts).split())

    def all(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        return [a for name, a in self.tags if name == tag and all(a.get(k) == v for k, v in attrs.items())]

    def links(self) -> list[str]:
        return [a["href"] for a in self.all("a") if a.get("href")]

    def rows(self) -> list[str]:
        """The job ids of the list's rows, top to bottom."""
        return [a["data-job"] for name, a in self.tags if name == "tr" and a.get("data-job")]


def page(base: str, path: str, status: int = 200, **headers: str) -> Html:
    answer = request(base, "GET", path, headers={"Accept": "text/html", **headers})
    assert answer.status == status, answer
    assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
    return Html(answer.body)


def post_form(base: str, path: str, fields: dict | None = None, origin: dict | None = None, **headers: str):
    """A form POST as a browser sends it from the dashboard's own page, or with the ``origin``
    headers of another site."""
    if origin is None:
        origin = {"Origin": f"http://{urlsplit(base).netloc}", "Sec-Fetch-Site": "same-origin"}
    headers = {"Accept": "text/html", "Content-Type": FORM, **origin, **headers}
    return request(base, "POST", path, urlencode(fields or {}), headers)


def redirected(answer) -> tuple[str, dict[str, list[str]]]:
    assert answer.status == 303, answer
    where = urlsplit(answer.headers["Location"])
    return where.path, parse_qs(where.query)


def finished(queue, job, timeout: float = 20.0):
    done = queue.wait(job.id, timeout=timeout)
    assert done.finished, done
    return done


def states(queue, jobs) -> list[str]:
    return [queue.get(job.id).state for job in jobs]


def test_every_dashboard_request_is_403_when_the_hook_says_no_and_nothing_changes(dashboard, queue, caplog, face):
    asked = []
    base = dashboard(hook=lambda native: asked.append(dict(native)) and False)
    queued = queue.start("add", [1, 2])
    canceled = queue.cancel(queue.start("add", [3, 4]).id)
    for path in ("/", "/jobs", f"/jobs/{queued.id}", f"/jobs/{queued.id}.json", "/static/admin.js", "/no/such/page"):
        if not path.endswith(".json"):  # a .json path is always answered in JSON
            html = request(base, "GET", ADMIN + path, headers={"Accept": "text/html"})
            assert html.status == 403, (path, html)
            assert html.headers["Content-Type"] == "text/html; charset=utf-8"
            shown = Html(html.body)
            assert shown.links() == [] and shown.all("script") == []  # nothing of the dashboard
        as_json = request(base, "GET", ADMIN + path, headers={"Accept": "application/json"})
        assert as_json.status == 403 and as_json.headers["Content-Type"] == "application/problem+json"
        assert as_json.json()["status"] == 403
    for path, fields in ((f"/jobs/{queued.id}/cancel", {}), (f"/jobs/{canceled.id}/retry", {}),
                         (f"/jobs/{canceled.id}/delete", {}), ("/bulk", {"action": "cancel"})):
        assert post_form(base, ADMIN + path, fields).status == 403
    assert states(queue, [queued, canceled]) == ["queued", "canceled"]
    assert len(queue.jobs()) == 2
    # the hook sees where the dashboard is mounted
    if face == "wsgi":
        assert asked[0]["SCRIPT_NAME"] == ADMIN and asked[0]["PATH_INFO"] == "/"
    else:
        assert asked[0]["root_path"] == ADMIN and asked[0]["path"] == ADMIN + "/"
    # a hook that fails refuses too, and the traceback goes to the log only
    base = dashboard(hook=lambda native: 1 / 0)
    answer = request(base, "GET", ADMIN + "/", headers={"Accept": "text/html"})
    assert answer.status == 403 and b"ZeroDivisionError" not in answer.body and b"Traceback" not in answer.body
    assert any("admin hook failed" in r.getMessage() and r.exc_info for r in caplog.records)


def test_the_full_traceback_is_on_the_admin_job_page_and_in_no_public_answer(dashboard, queue, start_worker):
    base = dashboard()
    start_worker()
    job = finished(queue, queue.start("fail", ["disk on fire"]))
    shown = page(base, f"{ADMIN}/jobs/{job.id}")
    (traceback,) = re.findall(r'<pre class="traceback"[^>]*>(.*?)</pre>', shown.raw, re.S)
    assert "Traceback (most recent call last)" in traceback and "raise ValueError(message)" in traceback
    assert "ValueError: disk on fire" in shown.text
    live = request(base, "GET", f"{ADMIN}/jobs/{job.id}.json").json()
    assert "raise ValueError(message)" in live["job"]["error"]["traceback"]
    for path in (f"/jobs/{job.id}", f"/jobs/{job.id}/status", f"/jobs/{job.id}/events",
                 f"{ADMIN}/", f"{ADMIN}/jobs", f"{ADMIN}/jobs?state=failed"):
        answer = request(base, "GET", path, headers={"Accept": "text/html"})
        assert answer.status == 200, (path, answer)
        assert b"disk on fire" in answer.body, path
        assert b"Traceback" not in answer.body and b"raise ValueError" not in answer.body, path


def test_retry_starts_a_new_job_linked_to_the_failed_one_and_logs_who_did_it(dashboard, queue, start_worker,
                                                                             caplog):
    caplog.set_level(logging.INFO, logger="lilqueue.admin")
    base = dashboard(identify=lambda native: "alice")
    start_worker()
    old = finished(queue, queue.start("fail", ["first try"], owner="bob"))
    path, query = redirected(post_form(base, f"{ADMIN}/jobs/{old.id}/retry"))
    assert path == f"{ADMIN}/jobs/{old.id}"
    (new_id,) = query["retried"]
    new = queue.get(new_id)
    assert (new.retry_of, new.task, new.args, new.owner) == (old.id, "fail", ["first try"], "bob")
    assert queue.get(old.id) == old  # a finished job never changes
    assert finished(queue, new).state == "failed"
    shown = page(base, f"{path}?retried={new_id}")
    assert f"{ADMIN}/jobs/{new_id}" in shown.links() and "Retried: the new job is" in shown.text
    assert f"{ADMIN}/jobs/{old.id}" in page(base, f"{ADMIN}/jobs/{new_id}").links()  # retry of
    (record,) = [r for r in caplog.records if r.name == "lilqueue.admin"]
    assert record.levelno == logging.INFO
    assert "'alice'" in record.getMessage() and old.id in record.getMessage() and new_id in record.getMessage()
    # a succeeded job is not retried: the page says why, and nothing is started
    done = finished(queue, queue.start("add", [1, 2]))
    before = len(queue.jobs())
    path, query = redirected(post_form(base, f"{ADMIN}/jobs/{done.id}/retry"))
    assert path == f"{ADMIN}/jobs/{done.id}" and query == {"refused": ["retry"]}
    assert len(queue.jobs()) == before
    assert "Only a failed or canceled job can be retried." in page(base, f"{path}?refused=retry").text


def test_a_retry_that_cannot_start_says_why_and_starts_nothing(dashboard, queue, db_path):
    base = dashboard()
    older = lilqueue.Queue(db_path)  # the app as it was, with a task it no longer has
    older.task(name="retired")(lambda: None)
    gone = older.cancel(older.start("retired").id)
    keyed = queue.cancel(queue.start("add", [1, 2], key="nightly").id)
    holder = queue.start("add", [3, 4], key="nightly")  # an unfinished job holds the key now
    for job, refused, said in ((gone, "retry-task", "its task is no longer registered"),
                               (keyed, "retry-key", "an unfinished job holds this job's key")):
        path, query = redirected(post_form(base, f"{ADMIN}/jobs/{job.id}/retry"))
        assert query == {"refused": [refused]}
        assert said in page(base, f"{path}?refused={refused}").text
    assert {j.id for j in queue.jobs()} == {gone.id, keyed.id, holder.id}
    _, query = redirected(post_form(base, f"{ADMIN}/bulk", {"action": "retry"}))
    assert (query["n"], query["skipped"]) == (["0"], ["2"])

def test_cancel_stops_a_running_job_and_is_refused_once_it_finished(dashboard, queue, start_worker, caplog):
    caplog.set_level(logging.INFO, logger="lilqueue.admin")
    base = dashboard()
    start_worker()
    job = queue.start("sleepy", [30])
    wait_for(lambda: queue.get(job.id).state == "running", what="the job runs")
    path, query = redirected(post_form(base, f"{ADMIN}/jobs/{job.id}/cancel"))
    assert (path, query) == (f"{ADMIN}/jobs/{job.id}", {"done": ["cancel"]})
    assert "Canceled this job." in page(base, f"{path}?done=cancel").text  # one job, not "the jobs"
    assert finished(queue, job, timeout=10).state == "canceled"
    path, query = redirected(post_form(base, f"{ADMIN}/jobs/{job.id}/cancel"))
    assert query == {"refused": ["cancel"]}
    messages = [r.getMessage() for r in caplog.records if r.name == "lilqueue.admin"]
    assert messages[0] == f"'127.0.0.1' canceled job {job.id}"  # no identify hook: the address
    assert messages[1].startswith(f"'127.0.0.1' tried to cancel job {job.id}")


def test_delete_removes_a_finished_job_and_refuses_an_unfinished_one(dashboard, queue):
    base = dashboard()
    queued = queue.start("add", [1, 2])
    canceled = queue.cancel(queue.start("add", [3, 4]).id)
    path, query = redirected(post_form(base, f"{ADMIN}/jobs/{queued.id}/delete"))
    assert (path, query) == (f"{ADMIN}/jobs/{queued.id}", {"refused": ["delete"]})
    assert queue.get(queued.id).state == "queued"
    path, query = redirected(post_form(base, f"{ADMIN}/jobs/{canceled.id}/delete"))
    assert (path, query) == (f"{ADMIN}/jobs", {"done": ["delete"], "n": ["1"]})
    with pytest.raises(JobNotFound):
        queue.get(canceled.id)
    page(base, f"{ADMIN}/jobs/{canceled.id}", status=404)
    assert post_form(base, f"{ADMIN}/jobs/{canceled.id}/delete").status == 404


def test_bulk_actions_act_on_the_jobs_the_filters_match_and_say_how_many(dashboard, queue, start_worker):
    base = dashboard()
    start_worker()
    failed = [queue.start("fail", [f"number {i}"]) for i in range(3)]
    added = [queue.start("add", [i, i]) for i in range(2)]
    for job in failed + added:
        finished(queue, job)
    path, query = redirected(post_form(base, f"{ADMIN}/bulk", {"action": "retry", "task": "fail"}))
    assert path == f"{ADMIN}/jobs" and query == {"task": ["fail"], "done": ["retry"], "n": ["3"]}
    retries = queue.jobs(task="fail", state=["queued", "running", "failed"], limit=10)
    assert sorted(j.retry_of for j in retries if j.retry_of) == sorted(j.id for j in failed)
    assert "Retried 3 jobs." in page(base, f"{path}?task=fail&done=retry&n=3").text
    _, query = redirected(post_form(base, f"{ADMIN}/bulk", {"action": "delete", "task": "add"}))
    assert query["n"] == ["2"]
    for job in added:
        with pytest.raises(JobNotFound):
            queue.get(job.id)
    assert states(queue, failed) == ["failed"] * 3
    # a state the action does not apply to: nothing is done
    _, query = redirected(post_form(base, f"{ADMIN}/bulk", {"action": "retry", "state": "succeeded"}))
    assert query["n"] == ["0"]
    assert post_form(base, f"{ADMIN}/bulk", {"action": "explode"}).status == 400


def test_a_bulk_action_does_at_most_1000_jobs_and_says_that_more_match(dashboard, queue):
    base = dashboard()
    jobs = queue.start_many("noop", [[] for _ in range(1003)])
    _, query = redirected(post_form(base, f"{ADMIN}/bulk", {"action": "cancel", "state": "queued"}))
    assert query == {"state": ["queued"], "done": ["cancel"], "n": ["1000"], "more": ["1"]}
    assert sorted(states(queue, jobs)).count("canceled") == 1000
    assert "More jobs match" in page(base, f"{ADMIN}/jobs?state=queued&done=cancel&n=1000&more=1").text
    _, query = redirected(post_form(base, f"{ADMIN}/bulk", {"action": "cancel", "state": "queued"}))
    assert query["n"] == ["3"] and "more" not in query
    assert set(states(queue, jobs)) == {"canceled"}


@pytest.mark.parametrize("headers", EVIL)
def test_cross_site_posts_are_refused_and_change_nothing(dashboard, queue, headers):
    base = dashboard()
    queued = queue.start("add", [1, 2])
    canceled = queue.cancel(queue.start("add", [3, 4]).id)
    for path, fields in ((f"/jobs/{queued.id}/cancel", {}), (f"/jobs/{canceled.id}/retry", {}),
                         (f"/jobs/{canceled.id}/delete", {}), ("/bulk", {"action": "cancel"}),
                         ("/bulk", {"action": "retry"}), ("/bulk", {"action": "delete"})):
        answer = post_form(base, ADMIN + path, fields, origin=headers)
        assert answer.status == 403, (path, answer)
    assert states(queue, [queued, canceled]) == ["queued", "canceled"]
    assert len(queue.jobs()) == 2
    assert redirected(post_form(base, f"{ADMIN}/jobs/{queued.id}/cancel"))  # the same, same-origin, works
    assert queue.get(queued.id).state == "canceled"


def test_an_action_takes_only_a_form_body_of_at_most_max_body_bytes(dashboard, queue):
    base = dashboard(max_body=1024)
    job = queue.start("add", [1, 2])
    assert post_form(base, f"{ADMIN}/bulk", {"action": "cancel"}, **{"Content-Type": "application/json"}).status == 415
    assert post_form(base, f"{ADMIN}/bulk", {"action": "cancel", "owner": "x" * 2000}).status == 413
    assert request(base, "GET", f"{ADMIN}/bulk", headers={"Accept": "text/html"}).status == 405
    assert queue.get(job.id).state == "queued"


def test_hostile_arguments_errors_log_lines_keys_and_owners_are_escaped_on_every_page(dashboard, queue,
                                                                                       start_worker):
    base = dashboard()
    start_worker()
    job = finished(queue, queue.start("fail", [HOSTILE], key=HOSTILE, owner=HOSTILE))
    queue.store.log_line(job.id, time.time(), "warning", HOSTILE)
    matching = urlencode({"owner": HOSTILE, "task": "fail", "key": HOSTILE})
    paths = {"overview": "/", "list": "/jobs", "matching": f"/jobs?{matching}", "job": f"/jobs/{job.id}",
             "typed": f"/jobs?task={quote(HOSTILE)}"}
    bodies = {name: request(base, "GET", ADMIN + path, headers={"Accept": "text/html"}).body
              for name, path in paths.items()}
    bodies["live"] = request(base, "GET", f"{ADMIN}/jobs/{job.id}.json").json()["html"].encode()
    for name, body in bodies.items():
        assert b"<script>alert" not in body and b"<img" not in body, name
        shown = Html(body)
        assert all(tag["src"].startswith(f"{ADMIN}/static/") for tag in shown.all("script")), name
        assert shown.all("img") == [] and not any(k.startswith("on") for _, attrs in shown.tags for k in attrs), name
        if name != "typed":  # nothing matches there
            assert HOSTILE in shown.text, name  # shown, as text
    def fields(page: str, name: str) -> set[str]:  # the filter form's and the bulk form's
        return {tag["value"] for tag in Html(bodies[page]).all("input", name=name)}

    assert fields("matching", "owner") == fields("matching", "key") == fields("typed", "task") == {HOSTILE}
    assert Html(bodies["job"]).text.count("<script>alert(1)</script>") >= 6  # args, key, owner, error, traceback, log
    assert Html(bodies["matching"]).rows() == [job.id]  # the hostile filters matched it, safely

def test_the_job_list_pages_are_disjoint_and_walk_every_job_newest_first(dashboard, queue):
    base = dashboard()
    started = [job for _ in range(3) for job in queue.start_many("noop", [[] for _ in range(40)])]
    expected = [j.id for j in sorted(started, key=lambda j: (j.created_at, j.id), reverse=True)]
    for job_id in expected[::2]:
        queue.cancel(job_id)
    for query, ids, sizes in (("", expected, [50, 50, 20]), ("?state=canceled", expected[::2], [50, 10])):
        pages, path = [], f"{ADMIN}/jobs{query}"
        while path:
            shown = page(base, path)
            pages.append(shown.rows())
            older = [a["href"] for a in shown.all("a") if "data-older" in a]
            path = older[0] if older else ""
        assert [len(p) for p in pages] == sizes
        assert [job_id for p in pages for job_id in p] == ids

def test_the_job_json_long_poll_answers_as_soon_as_the_job_changes(dashboard, queue, start_worker):
    base = dashboard()
    start_worker()
    job = queue.start("sleepy", [30])
    job = wait_for(lambda: (j := queue.get(job.id)).state == "running" and j, what="the job runs")
    threading.Timer(0.5, queue.cancel, [job.id]).start()
    began = time.monotonic()
    answer = request(base, "GET", f"{ADMIN}/jobs/{job.id}.json?since={job.version}&wait=20")
    assert answer.status == 200 and 0.4 < time.monotonic() - began < 10
    data = answer.json()
    assert data["version"] > job.version
    assert data["job"]["cancel_requested"] or data["job"]["state"] == "canceled"
    final = finished(queue, job)
    began = time.monotonic()
    assert request(base, "GET", f"{ADMIN}/jobs/{job.id}.json?since={final.version}&wait=20").json()["finished"]
    assert time.monotonic() - began < 2  # a finished job answers at once
    # a server that cannot hold the request answers at once and says when to ask again
    unheld = dashboard(hold=0)
    other = queue.start("sleepy", [30])
    began = time.monotonic()
    ahead = queue.get(other.id).version + 5  # past any change the worker makes meanwhile
    answer = request(unheld, "GET", f"{ADMIN}/jobs/{other.id}.json?since={ahead}&wait=20")
    assert answer.status == 200 and answer.headers["Retry-After"] == "1" and time.monotonic() - began < 2
    queue.cancel(other.id)


def test_the_change_long_poll_waits_while_nothing_changes_and_answers_at_a_change(dashboard, queue):
    base = dashboard()
    job = queue.start("sleepy", [30])  # no worker: nothing changes until the cancel below
    mark = request(base, "GET", f"{ADMIN}/changes").json()["mark"]  # no since: at once
    began = time.monotonic()
    quiet = request(base, "GET", f"{ADMIN}/changes?since={mark}&wait=1")
    assert quiet.status == 200 and quiet.json() == {"mark": mark} and time.monotonic() - began >= 0.9
    threading.Timer(0.5, queue.cancel, [job.id]).start()
    began = time.monotonic()
    moved = request(base, "GET", f"{ADMIN}/changes?since={mark}&wait=20")
    assert moved.status == 200 and moved.json()["mark"] != mark and 0.4 < time.monotonic() - began < 2
    other_process = "0123abcd.7"  # a mark another web process gave: answered at once
    began = time.monotonic()
    assert request(base, "GET", f"{ADMIN}/changes?since={other_process}&wait=20").json()["mark"] != other_process
    assert time.monotonic() - began < 2
    for bad, says in (("since=x", '"since" must be given once, as a mark this server gave.'),
                      ("since=1", '"since" must be given once, as a mark this server gave.'),
                      (f"since={mark}&since={mark}", '"since" must be given once, as a mark this server gave.'),
                      ("wait=-1", '"wait" must be given once, as a number >= 0.')):
        answer = request(base, "GET", f"{ADMIN}/changes?{bad}")
        assert answer.status == 400 and answer.headers["Content-Type"].startswith("application/problem+json"), bad
        assert answer.json()["detail"] == says, bad
    unheld = dashboard(hold=0)
    mark = request(unheld, "GET", f"{ADMIN}/changes").json()["mark"]
    began = time.monotonic()
    answer = request(unheld, "GET", f"{ADMIN}/changes?since={mark}&wait=20")
    assert answer.headers["Retry-After"] == "1" and time.monotonic() - began < 2
    assert request(dashboard(hook=lambda native: False), "GET", f"{ADMIN}/changes").status == 403


def test_a_first_mark_moves_for_a_change_made_right_after_it(dashboard, queue):
    """A page takes its first mark without ``since``; a job that changes at once after that, before
    any wait began, still moves the mark (the watcher looks at commits before it gives a first
    mark: before, such a change was never counted and the overview showed old counts for good)."""
    base = dashboard()
    job = queue.start("sleepy", [30])  # no worker: the cancel below is the only change
    mark = request(base, "GET", f"{ADMIN}/changes").json()["mark"]
    queue.cancel(job.id)
    began = time.monotonic()
    moved = request(base, "GET", f"{ADMIN}/changes?since={mark}&wait=5")
    assert moved.status == 200 and moved.json()["mark"] != mark and time.monotonic() - began < 3


def test_the_id_field_opens_that_job_and_an_unknown_id_says_so(dashboard, queue):
    base = dashboard()
    job = queue.start("add", [1, 2])
    answer = request(base, "GET", f"{ADMIN}/jobs?id=+{job.id}+", headers={"Accept": "text/html"})
    assert answer.status == 303 and answer.headers["Location"] == f"{ADMIN}/jobs/{job.id}"
    shown = page(base, f"{ADMIN}/jobs?id=nope")
    assert "No job has the id 'nope'." in shown.text and shown.rows() == [job.id]
    page(base, f"{ADMIN}/jobs?state=lost", status=400)
    page(base, f"{ADMIN}/jobs?after=yesterday", status=400)
    page(base, f"{ADMIN}/jobs/not-an-id", status=404)


def test_the_filters_narrow_the_list_by_task_owner_key_and_creation_time(dashboard, queue):
    base = dashboard()
    early = queue.start("add", [1, 2], owner="ann", key="k1")
    time.sleep(0.05)
    cut = time.time()
    time.sleep(0.05)
    late = queue.start("noop", owner="ben")
    assert page(base, f"{ADMIN}/jobs?task=add").rows() == [early.id]
    assert page(base, f"{ADMIN}/jobs?owner=ben").rows() == [late.id]
    assert page(base, f"{ADMIN}/jobs?key=k1").rows() == [early.id]
    assert page(base, f"{ADMIN}/jobs?after={cut:.3f}").rows() == [late.id]
    assert page(base, f"{ADMIN}/jobs?until={cut:.3f}").rows() == [early.id]


def test_pages_forbid_inline_script_and_framing_and_serve_their_own_files(dashboard, queue):
    base = dashboard()
    job = queue.start("add", [1, 2])
    for path in ("/", "/jobs", f"/jobs/{job.id}"):
        answer = request(base, "GET", ADMIN + path, headers={"Accept": "text/html"})
        csp = answer.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert answer.headers["X-Frame-Options"] == "DENY" and answer.headers["Cache-Control"] == "no-store"
        shown = Html(answer.body)
        assert [urlsplit(s["src"]).path for s in shown.all("script")] == [f"{ADMIN}/static/admin.js"]
        assert not any(k == "style" or k.startswith("on") for _, attrs in shown.tags for k in attrs), path
        assert shown.all("style") == []
    for name, kind in (("admin.js", "text/javascript"), ("admin.css", "text/css")):
        answer = request(base, "GET", f"{ADMIN}/static/{name}")
        assert answer.status == 200 and answer.headers["Content-Type"].startswith(kind)
        again = request(base, "GET", f"{ADMIN}/static/{name}", headers={"If-None-Match": answer.headers["ETag"]})
        assert again.status == 304 and again.body == b""
    assert request(base, "GET", f"{ADMIN}/static/lilqueue.js").status == 404


def test_the_overview_shows_counts_depth_workers_throughput_and_recent_failures(dashboard, queue, start_worker):
    base = dashboard()
    worker = start_worker(threads=1)
    for job in [queue.start("add", [1, 2]), queue.start("add", [2, 3]), queue.start("fail", ["oops"])]:
        finished(queue, job)
    failed = queue.jobs(state="failed")[0]
    busy = queue.start("sleepy", [30])
    wait_for(lambda: queue.get(busy.id).state == "running", what="the worker is busy")
    waiting = [queue.start("noop"), queue.start("noop")]
    shown = page(base, f"{ADMIN}/")
    assert [a["data-count"] for a in shown.all("span") if a.get("data-count")] == list(lilqueue.STATES)
    text = shown.text
    assert "2 queued 1 running 2 succeeded 1 failed 0 canceled" in text
    assert "Queue depth 2; the oldest has waited" in text
    assert "in the last hour: 2 succeeded, 1 failed, 0 canceled" in text
    assert str(worker.pid) in text and f"{ADMIN}/jobs/{busy.id}" in shown.links()  # the worker runs it
    assert f"{ADMIN}/jobs/{failed.id}" in shown.links() and "ValueError: oops" in text
    assert f"{ADMIN}/jobs?state=succeeded&task=add" in shown.links()
    queue.cancel(busy.id)
    for job in waiting:
        finished(queue, job)


def test_the_job_page_labels_the_arguments_and_draws_no_bar_for_a_job_that_reported_no_progress(
        dashboard, queue, start_worker):
    base = dashboard()
    queued = queue.start("import_rows", [7], {"label": "x"})
    quiet = page(base, f"{ADMIN}/jobs/{queued.id}")
    assert quiet.all("progress") == [] and "Not started yet." in quiet.text
    assert "args (positional)[ 7 ] kwargs (by name){ \"label\": \"x\" }" in quiet.text
    start_worker()
    done, reporting = finished(queue, queue.start("add", [1, 2])), finished(queue, queue.start("steps", [4]))
    quiet = page(base, f"{ADMIN}/jobs/{done.id}")
    assert quiet.all("progress") == [] and "It reported no progress." in quiet.text
    assert "100%" not in quiet.text  # succeeded, but it never said how far it was
    assert page(base, f"{ADMIN}/jobs/{reporting.id}").all("progress") == [
        {"data-progress": None, "data-state": "succeeded", "max": "4", "value": "4"}]
