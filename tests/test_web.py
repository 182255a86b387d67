"""The HTTP endpoints, end to end: a real server on 127.0.0.1 running each face (the WSGI
middleware on lilqueue's threaded server, the ASGI app on uvicorn), a real ``python -m lilqueue
worker`` process, and http.client. The last tests are about WSGI only: a WSGI host and its
environ (their ASGI counterparts are in test_asgi.py), and ``python -m lilqueue serve``."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import time
from urllib.parse import quote

import pytest

from tests import engines
from tests.conftest import ROOT
from tests.http_support import header, post_json, request, running, serving


@pytest.fixture
def serve_middleware(queue, face):
    with serving(queue, face) as start:
        yield start


PROBLEM = "application/problem+json"


def follow(base: str, job: dict, timeout: float = 20.0) -> list[dict]:
    """Long-poll a job until it is finished; returns every snapshot received, in order."""
    seen = [job]
    deadline = time.monotonic() + timeout
    while seen[-1]["state"] not in ("succeeded", "failed", "canceled"):
        assert time.monotonic() < deadline, f"job not finished: {seen[-1]}"
        answer = request(base, "GET", f"/jobs/{job['id']}?since={seen[-1]['version']}&wait=5")
        assert answer.status == 200, answer
        seen.append(answer.json())
    return seen


def assert_problem(answer, status: int) -> dict:
    assert answer.status == status, answer
    assert answer.headers["Content-Type"] == PROBLEM
    assert answer.headers["Cache-Control"] == "no-store"
    problem = answer.json()
    assert set(problem) >= {"type", "title", "status", "detail"}
    assert problem["status"] == status
    assert "Traceback" not in answer.body.decode()
    return problem


def job_count(db_path: str) -> int:
    return engines.sql(db_path, "select count(*) from lilqueue_job")[0][0]


def break_reads(db_path: str) -> None:
    """Make any read of the job database fail from now on."""
    if engines.is_postgres(db_path):
        engines.sql(db_path, "alter table lilqueue_job rename to lilqueue_job_gone")
        return
    for suffix in ("-wal", "-shm", ""):
        if os.path.exists(db_path + suffix):
            os.remove(db_path + suffix)
    os.mkdir(db_path)


def test_a_started_job_shows_its_progress_in_order_its_warnings_and_its_result(serve_middleware, start_worker):
    base = serve_middleware()
    start_worker()
    answer = post_json(base, "/jobs/", {"task": "steps", "args": [6], "kwargs": {"delay": 0.05}})
    assert answer.status == 202
    job = answer.json()
    assert answer.headers["Location"] == f"/jobs/{job['id']}" == job["url"]
    assert answer.headers["Cache-Control"] == "no-store"
    assert job["version"] >= 1 and job["state"] in ("queued", "running")
    seen = follow(base, job)
    versions = [s["version"] for s in seen]
    assert versions == sorted(versions)
    currents = [s["progress"]["current"] for s in seen if s["progress"]["current"] is not None]
    assert currents == sorted(currents) and currents[-1] == 6
    final = seen[-1]
    assert final["state"] == "succeeded" and final["result"] == {"imported": 6}
    assert final["progress"]["percent"] == 100
    assert [line["message"] for line in final["logs"]] == ["cannot import line 3", "cannot import line 6"]
    again = request(base, "GET", f"/jobs/{job['id']}")
    assert again.status == 200 and again.json() == final


def test_a_failed_job_shows_its_error_without_a_traceback(serve_middleware, start_worker):
    base = serve_middleware()
    start_worker()
    job = post_json(base, "/jobs/", {"task": "fail", "args": ["line 17 is bad"]}).json()
    final = follow(base, job)[-1]
    assert final["state"] == "failed"
    assert final["error"] == {"type": "ValueError", "message": "line 17 is bad"}
    assert "traceback" not in json.dumps(final).lower()


def test_a_canceled_queued_job_never_runs_and_a_second_cancel_is_409(serve_middleware, start_worker, queue):
    base = serve_middleware()
    job = post_json(base, "/jobs/", {"task": "add", "args": [1, 2]}).json()
    answer = post_json(base, f"/jobs/{job['id']}/cancel")
    assert answer.status == 202 and answer.json()["state"] == "canceled"
    problem = assert_problem(post_json(base, f"/jobs/{job['id']}/cancel"), 409)
    assert "canceled" in problem["detail"]
    start_worker()
    time.sleep(0.3)
    assert queue.get(job["id"]).state == "canceled" and queue.get(job["id"]).attempts == 0


def test_a_running_job_stops_when_canceled(serve_middleware, start_worker):
    base = serve_middleware()
    start_worker()
    job = post_json(base, "/jobs/", {"task": "sleepy", "args": [30]}).json()
    while job["state"] != "running":
        job = request(base, "GET", f"/jobs/{job['id']}?since={job['version']}&wait=5").json()
    answer = post_json(base, f"/jobs/{job['id']}/cancel")
    assert answer.status == 202 and answer.json()["cancel_requested"] is True
    final = follow(base, answer.json(), timeout=10)[-1]
    assert final["state"] == "canceled"
    assert_problem(post_json(base, f"/jobs/{job['id']}/cancel"), 409)


def test_a_bodyless_cancel_is_accepted_but_a_form_encoded_one_is_not(serve_middleware, queue):
    base = serve_middleware()
    job = queue.start("sleepy", args=[30])
    assert_problem(request(base, "POST", f"/jobs/{job.id}/cancel", b"x=1",
                           {"Content-Type": "application/x-www-form-urlencoded"}), 415)
    assert queue.get(job.id).state == "queued"
    answer = request(base, "POST", f"/jobs/{job.id}/cancel")
    assert answer.status == 202 and answer.json()["state"] == "canceled"


def test_the_same_key_while_unfinished_gives_the_existing_job(serve_middleware, db_path):
    base = serve_middleware()
    first = post_json(base, "/jobs/", {"task": "add", "args": [1, 2], "key": "import-1"})
    second = post_json(base, "/jobs/", {"task": "add", "args": [1, 2], "key": "import-1"})
    assert first.status == 202 and second.status in (200, 202)
    assert first.json()["id"] == second.json()["id"]
    assert job_count(db_path) == 1


BAD_STARTS = [
    (b"{", "application/json", 400),
    (b"[]", "application/json", 400),
    (b'"add"', "application/json", 400),
    (b"", "application/json", 400),
    (b'{"task": 1}', "application/json", 400),
    (b'{"args": [1, 2]}', "application/json", 400),
    (b'{"task": "add", "args": {"a": 1}}', "application/json", 400),
    (b'{"task": "add", "args": "12"}', "application/json", 400),
    (b'{"task": "add", "kwargs": [1, 2]}', "application/json", 400),
    (b'{"task": "add", "args": [1, 2], "key": 5}', "application/json", 400),
    (b'{"task": "add", "args": [1, 2], "when": "now"}', "application/json", 400),
    (b'{"task": "add", "args": [NaN, 1]}', "application/json", 400),
    (b'{"task": "add", "args": [1e999, 1]}', "application/json", 400),
    (b'{"task": "add", "args": [1' + b"0" * 5000 + b', 1]}', "application/json", 400),
    (b'{"task": "add\xff", "args": [1, 2]}', "application/json", 400),
    (b"[" * 30000 + b"]" * 30000, "application/json", 400),
    (b'{"task": "add", "args": [' + b'{"a": ' * 900 + b"1" + b"}" * 900 + b", 1]}", "application/json", 400),
    (b'{"task": "nope"}', "application/json", 404),
    (b'{"task": "__init__"}', "application/json", 404),
    (b'{"task": "add", "args": [1]}', "application/json", 422),
    (b'{"task": "add", "args": [1, 2, 3]}', "application/json", 422),
    (b'{"task": "add", "args": [1], "kwargs": {"c": 2}}', "application/json", 422),
    (b'{"task": "add", "args": [1, 2], "key": ""}', "application/json", 422),
    (b'{"task": "add", "args": [1, 2]}', "text/plain", 415),
    (b"task=add", "application/x-www-form-urlencoded", 415),
    (b'{"task": "add", "args": [1, 2]}', "application/json; charset=latin-1", 415),
    (b'{"task": "add", "args": [1, 2]}', None, 415),
    (b'{"task": "add", "args": ["' + b"x" * 70000 + b'", 2]}', "application/json", 413),
]


@pytest.mark.parametrize(("body", "content_type", "status"), BAD_STARTS)
def test_a_bad_start_request_is_a_4xx_problem_and_writes_nothing(serve_middleware, db_path, body,
                                                                  content_type, status):
    base = serve_middleware()
    headers = {"Content-Type": content_type} if content_type else {}
    assert_problem(request(base, "POST", "/jobs/", body, headers), status)
    assert job_count(db_path) == 0


BAD_IDS = ["abc", "A" * 23, "A" * 21, "A" * 5000, "..%2F..%2Fetc%2Fpasswd", "%00" + "A" * 21,
           "AAAAAAAAAAAAAAAAAAAAA%00", "1'%20OR%20'1'='1'--aaaaaa", "%FF%FE" + "A" * 20, "AAAAAAAAAAAAAAAAAAAAA."]


@pytest.mark.parametrize("job_id", BAD_IDS)
def test_a_malformed_id_is_404_without_touching_the_database(serve_middleware, db_path, job_id):
    base = serve_middleware()
    break_reads(db_path)  # any read of the database now fails
    for method, path in (("GET", ""), ("GET", "?since=1&wait=1"), ("POST", "/cancel"), ("GET", "/events"),
                         ("GET", "/status")):
        body = b"{}" if method == "POST" else None
        answer = request(base, method, f"/jobs/{job_id}{path}", body, {"Content-Type": "application/json"})
        assert_problem(answer, 404)
    well_formed = request(base, "GET", "/jobs/" + "A" * 22)
    assert_problem(well_formed, 503)  # the database is touched for a well-formed id
    assert well_formed.headers["Retry-After"]


def test_a_path_whose_escapes_are_not_utf8_is_a_404_that_says_so(serve_middleware):
    base = serve_middleware()
    for path in ("/jobs/%FF%FE" + "A" * 20, "/jobs/static/%C3"):
        assert assert_problem(request(base, "GET", path), 404)["detail"] == "The path is not valid UTF-8."
    assert_problem(request(base, "GET", "/jobs/%EF%BF%BD" + "A" * 21), 404)["type"].endswith(":job-not-found")


def test_an_unknown_well_formed_id_is_404(serve_middleware):
    base = serve_middleware()
    assert_problem(request(base, "GET", "/jobs/" + "A" * 22), 404)
    assert_problem(post_json(base, "/jobs/" + "A" * 22 + "/cancel"), 404)


@pytest.mark.parametrize("query", ["since=-1", "since=abc", "since=NaN", "since=1.5", "wait=NaN", "wait=-1",
                                   "wait=inf", "wait=1e3", "since=1&since=2", "since=" + "9" * 40, "wait="])
def test_a_bad_since_or_wait_is_400(serve_middleware, queue, query):
    base = serve_middleware()
    job = queue.start("add", [1, 2])
    answer = request(base, "GET", f"/jobs/{job.id}?{query}")
    assert_problem(answer, 400)
    assert answer.json()["detail"] == f'"{query.split("=")[0]}" must be given once, as a number >= 0.'


def test_a_long_wait_is_clamped_to_max_wait(serve_middleware, queue):
    base = serve_middleware(max_wait=0.5)
    job = queue.start("add", [1, 2])
    began = time.monotonic()
    answer = request(base, "GET", f"/jobs/{job.id}?since={job.version}&wait=100000")
    assert answer.status == 200 and answer.json()["version"] == job.version
    assert 0.4 < time.monotonic() - began < 5


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("PUT", "/jobs/AAAAAAAAAAAAAAAAAAAAAA", "GET"), ("DELETE", "/jobs/AAAAAAAAAAAAAAAAAAAAAA", "GET"),
    ("GET", "/jobs/", "POST"), ("GET", "/jobs/AAAAAAAAAAAAAAAAAAAAAA/cancel", "POST"),
    ("POST", "/jobs/tasks", "GET"), ("POST", "/jobs/health", "GET")])
def test_a_wrong_method_is_405_with_allow(serve_middleware, method, path, allow):
    base = serve_middleware()
    answer = request(base, method, path, b"{}", {"Content-Type": "application/json"})
    assert_problem(answer, 405)
    assert allow in answer.headers["Allow"]


@pytest.mark.parametrize("headers", [
    {"Sec-Fetch-Site": "cross-site", "Content-Type": "application/x-www-form-urlencoded"},
    {"Sec-Fetch-Site": "cross-site", "Content-Type": "application/json"},
    {"Sec-Fetch-Site": "same-site", "Content-Type": "application/json"},
    {"Origin": "http://evil.example", "Content-Type": "application/json"},
    {"Origin": "null", "Content-Type": "application/json"},
])
def test_a_cross_site_browser_request_may_not_start_or_cancel(serve_middleware, queue, db_path, headers):
    base = serve_middleware()
    job = queue.start("sleepy", [5])
    body = b"task=add" if "form" in headers["Content-Type"] else b'{"task": "add", "args": [1, 2]}'
    assert_problem(request(base, "POST", "/jobs/", body, headers), 403)
    assert_problem(request(base, "POST", f"/jobs/{job.id}/cancel", b"{}", headers), 403)
    assert job_count(db_path) == 1 and queue.get(job.id).state == "queued"


def test_same_origin_browser_requests_and_plain_clients_may_start(serve_middleware):
    base = serve_middleware()
    host = base.removeprefix("http://")
    for headers in ({"Sec-Fetch-Site": "same-origin"}, {"Origin": base, "Host": host}, {}):
        assert post_json(base, "/jobs/", {"task": "add", "args": [1, 2]}, **headers).status == 202


def test_identify_and_authorize_keep_each_user_to_their_own_jobs(serve_middleware, queue):
    def authorize(native, action, target):
        user = header(native, "X-User")
        if action == "start":
            return user is not None and target != "fail"
        return target.owner == user

    base = serve_middleware(identify=lambda native: header(native, "X-User"), authorize=authorize)
    alice = {"X-User": "alice"}
    job = post_json(base, "/jobs/", {"task": "sleepy", "args": [5]}, **alice).json()
    assert queue.get(job["id"]).owner == "alice"
    assert "owner" not in job
    assert request(base, "GET", f"/jobs/{job['id']}", headers=alice).status == 200
    bob = {"X-User": "bob"}
    for method, path in (("GET", ""), ("GET", "?since=0&wait=1"), ("GET", "/events"), ("GET", "/status"),
                         ("POST", "/cancel")):
        answer = request(base, method, f"/jobs/{job['id']}{path}", b"{}" if method == "POST" else None,
                         {**bob, "Content-Type": "application/json"})
        assert_problem(answer, 404)
    assert queue.get(job["id"]).state == "queued"
    assert_problem(post_json(base, "/jobs/", {"task": "fail"}, **bob), 403)
    assert_problem(post_json(base, "/jobs/", {"task": "add", "args": [1, 2]}), 403)
    names = [t["name"] for t in request(base, "GET", "/jobs/tasks", headers=bob).json()["tasks"]]
    assert "add" in names and "fail" not in names
    keyed = post_json(base, "/jobs/", {"task": "sleepy", "args": [5], "key": "import"}, **alice)
    assert keyed.status == 202
    problem = assert_problem(post_json(base, "/jobs/", {"task": "sleepy", "args": [5], "key": "import"}, **bob), 409)
    assert keyed.json()["id"] not in json.dumps(problem)
    assert post_json(base, f"/jobs/{job['id']}/cancel", **alice).status == 202


def test_tasks_lists_the_startable_tasks_and_their_parameters(serve_middleware):
    answer = request(serve_middleware(), "GET", "/jobs/tasks")
    assert answer.status == 200 and answer.headers["Content-Type"] == "application/json"
    tasks = {t["name"]: t for t in answer.json()["tasks"]}
    assert [(p["name"], p["required"]) for p in tasks["add"]["parameters"]] == [("a", True), ("b", True)]
    assert tasks["steps"]["parameters"][1] == {"name": "delay", "kind": "positional_or_keyword",
                                               "required": False, "default": 0.01}


def test_health_is_503_without_a_fresh_worker_and_200_with_one(serve_middleware, start_worker, queue):
    base = serve_middleware()
    queue.start("add", [1, 2])
    problem = assert_problem(request(base, "GET", "/jobs/health"), 503)
    assert problem["queued"] == 1 and problem["running"] == 0
    start_worker()
    answer = request(base, "GET", "/jobs/health")
    assert answer.status == 200, answer
    assert answer.json()["status"] == "ok" and answer.json()["heartbeat_age"] < 2


def test_openapi_describes_every_endpoint(serve_middleware):
    document = request(serve_middleware(), "GET", "/jobs/openapi.json").json()
    assert document["openapi"].startswith("3.")
    assert document["servers"] == [{"url": "/jobs"}]
    assert set(document["paths"]) == {"/", "/{id}", "/{id}/cancel", "/{id}/events", "/{id}/status", "/tasks",
                                      "/health", "/openapi.json"}
    assert "add" in document["components"]["schemas"]["StartRequest"]["properties"]["task"]["enum"]


def test_the_status_page_works_without_javascript_and_escapes_everything(serve_middleware, start_worker):
    base = serve_middleware()
    job = post_json(base, "/jobs/", {"task": "fail", "args": ["<script>alert(1)</script>"]}).json()
    page = request(base, "GET", f"/jobs/{job['id']}/status")
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
    assert 'http-equiv="refresh"' in page.body.decode()
    start_worker()
    follow(base, job)
    page = request(base, "GET", f"/jobs/{job['id']}/status").body.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>" not in page
    assert 'http-equiv="refresh"' not in page and "failed" in page


def test_the_js_client_is_served_and_nothing_else_is(serve_middleware):
    base = serve_middleware()
    script = request(base, "GET", "/jobs/static/lilqueue.js")
    assert script.status == 200 and script.headers["Content-Type"].startswith("text/javascript")
    for path in ("/jobs/static/web.py", "/jobs/static/..%2Fweb.py", "/jobs/static/../web.py", "/jobs/static/"):
        assert_problem(request(base, "GET", path), 404)


def test_the_js_client_is_cached_and_revalidated_by_its_etag(serve_middleware):
    base = serve_middleware()
    script = request(base, "GET", "/jobs/static/lilqueue.js")
    assert script.headers["Cache-Control"] == "public, max-age=3600" and script.headers["ETag"].startswith('"')
    again = request(base, "GET", "/jobs/static/lilqueue.js", headers={"If-None-Match": script.headers["ETag"]})
    assert again.status == 304 and again.body == b"" and again.headers["ETag"] == script.headers["ETag"]
    stale = request(base, "GET", "/jobs/static/lilqueue.js", headers={"If-None-Match": '"an-old-version"'})
    assert stale.status == 200 and stale.body == script.body
    job = post_json(base, "/jobs/", {"task": "noop"})
    assert job.headers["Cache-Control"] == "no-store"  # jobs are never cached


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example",
                                    "javascript:alert(1)", "reports/7", "/a b", "/a\x00", ""])
def test_a_status_page_next_that_leaves_the_site_is_refused(serve_middleware, queue, target):
    base = serve_middleware()
    job = queue.start("noop")
    problem = assert_problem(request(base, "GET", f"/jobs/{job.id}/status?next={quote(target)}"), 400)
    assert "next" in problem["detail"]


def test_a_status_page_next_on_this_site_is_accepted(serve_middleware, queue):
    base = serve_middleware()
    job = queue.cancel(queue.start("noop").id)  # finished: the page offers to go on
    page = request(base, "GET", f"/jobs/{job.id}/status?next=/reports/{job.id}%3Ftab%3D1")
    assert page.status == 200 and f"/reports/{job.id}?tab=1" in page.body.decode()


@pytest.mark.wsgi_only
def test_a_host_app_gets_every_other_request_untouched(queue):
    seen = []

    def host(environ, start_response):
        seen.append((environ["PATH_INFO"], environ["SCRIPT_NAME"]))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"host"]

    with running(queue.middleware(host)) as base:
        assert request(base, "GET", "/jobsxyz").body == b"host"
        assert request(base, "GET", "/").body == b"host"
        assert request(base, "GET", "/jobs/tasks").status == 200
    assert seen == [("/jobsxyz", ""), ("/", "")]


@pytest.mark.wsgi_only
def test_urls_include_where_the_host_mounted_the_middleware(queue):
    jobs = queue.middleware()

    def host(environ, start_response):  # a dispatcher that mounts the middleware at /api
        path = environ["PATH_INFO"]
        if path.startswith("/api/"):
            environ = dict(environ, SCRIPT_NAME="/api", PATH_INFO=path[4:])
            return jobs(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"no"]

    with running(host) as base:
        answer = post_json(base, "/api/jobs/", {"task": "add", "args": [1, 2]})
        assert answer.status == 202 and answer.headers["Location"] == f"/api/jobs/{answer.json()['id']}"
    jobs.close()


def test_a_bug_in_a_hook_is_a_500_problem_with_the_traceback_only_in_the_log(serve_middleware, queue, caplog):
    def authorize(native, action, target):
        raise RuntimeError("secret detail")

    base = serve_middleware(authorize=authorize)
    job = queue.start("add", [1, 2])
    with caplog.at_level(logging.ERROR, logger="lilqueue.web"):
        answer = request(base, "GET", f"/jobs/{job.id}")
    problem = assert_problem(answer, 500)
    assert "secret" not in answer.body.decode() and problem["type"].endswith("internal-error")
    assert any("secret detail" in (r.exc_text or "") for r in caplog.records)


def test_cors_headers_are_sent_only_to_configured_origins(serve_middleware):
    base = serve_middleware(cors_origins=["https://app.example"])
    allowed = post_json(base, "/jobs/", {"task": "add", "args": [1, 2]}, Origin="https://app.example")
    assert allowed.status == 202
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "Location" in allowed.headers["Access-Control-Expose-Headers"]
    preflight = request(base, "OPTIONS", "/jobs/", headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "POST"})
    assert preflight.status == 204 and "POST" in preflight.headers["Access-Control-Allow-Methods"]
    other = request(base, "GET", "/jobs/tasks", headers={"Origin": "https://evil.example"})
    assert other.status == 200 and "Access-Control-Allow-Origin" not in other.headers
    plain = request(serve_middleware(), "GET", "/jobs/tasks", headers={"Origin": "https://app.example"})
    assert "Access-Control-Allow-Origin" not in plain.headers


@pytest.mark.wsgi_only
def test_python_m_lilqueue_serve_prints_its_url_and_serves_the_endpoints(db_path, queue):
    env = dict(os.environ, LILQUEUE_TEST_DB=db_path)
    command = [sys.executable, "-m", "lilqueue", "serve", "tests.tasks:queue", "--port", "0", "--prefix", "/api/jobs"]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        match = re.fullmatch(r"lilqueue: serving (http://127\.0\.0\.1:\d+)/api/jobs/ \(Ctrl-C to stop\)\n", line)
        assert match, line + server.stderr.read()
        started = post_json(match.group(1), "/api/jobs/", {"task": "add", "args": [1, 2]})
        assert started.status == 202 and started.headers["Location"].startswith("/api/jobs/")
        assert queue.get(started.json()["id"]).state == "queued"
    finally:
        server.terminate()
        server.communicate(timeout=10)
