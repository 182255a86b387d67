"""``path("jobs/", include("lilqueue.django.urls"))`` over real HTTP: the whole contract of
docs/http.md under the include, on runserver, gunicorn and uvicorn (``asgi.py``), with Django's
users behind it (real sessions: staff, two users, anonymous)."""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import lilqueue
from tests import engines
from tests.django_support import Site, first_event
from tests.http_support import post_json, request
from tests.servers.harness import ServerProcess, free_port, need

SESSIONS = """
import json
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
sessions = {}
for name in ("staff", "alice", "bob"):
    user = get_user_model().objects.create_user(name, is_staff=name == "staff")  # no password: no hashing
    session = SessionStore()
    session.update({SESSION_KEY: str(user.pk), BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
                    HASH_SESSION_KEY: user.get_session_auth_hash()})
    session.create()
    sessions[name] = [user.pk, session.session_key]
print(json.dumps(sessions))
"""
HOLDS = {"runserver": True, "gunicorn": False, "uvicorn": True}  # gunicorn sync: one request at a time


def _command(site: Site, server: str, port: int) -> list[str]:
    if server == "runserver":
        return site.command("runserver", f"127.0.0.1:{port}", "--noreload")
    if server == "gunicorn":
        return [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1",
                "tests.djangoproject.wsgi:application"]
    return [sys.executable, "-m", "uvicorn", "--port", str(port), "--log-level", "warning",
            "tests.djangoproject.asgi:application"]


@pytest.fixture(params=[("runserver", "sqlite"), ("gunicorn", "sqlite"), ("uvicorn", "sqlite"),
                        ("runserver", "postgres")], ids="-".join)
def site(request, tmp_path):
    server, engine = request.param
    need("django", {"gunicorn": "gunicorn", "uvicorn": "uvicorn"}.get(server, "django"))
    missing = engines.postgres_missing() if engine == "postgres" else None
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required under CI=true: {missing}")
        pytest.skip(missing)
    location = engines.fresh(engine, tmp_path)
    site = Site(tmp_path, location)
    site.users = json.loads(site.shell(SESSIONS))
    site.server = server
    site.queue = lilqueue.Queue(location)
    port = free_port()
    process = ServerProcess(_command(site, server, port), port, tmp_path / "server.log", site.env)
    try:
        site.base = process.wait_ready("/hello")
        yield site
    finally:
        process.stop()
        engines.drop(location)


def as_user(site: Site, name: str | None) -> dict[str, str]:
    return {"Cookie": f"sessionid={site.users[name][1]}"} if name else {}


def test_the_http_contract_through_include_with_djangos_users(site):
    """One test per server: starting each server is most of its cost."""
    _starts_watches_and_cancels(site)
    _jobs_belong_to_their_users_and_the_dashboard_to_staff(site)
    _a_page_of_the_site_starts_a_job_and_shows_its_card(site)
    if site.server == "uvicorn":
        _under_asgi_every_waiter_is_held(site)


def _under_asgi_every_waiter_is_held(site):
    """Under ASGI the view waits as a coroutine, not on a thread of a bounded pool: more
    long-polls than any pool lilqueue kept (40 threads, 32 held) are all held at once."""
    job = post_json(site.base, "/jobs/", {"task": "count_notes"}).json()
    with ThreadPoolExecutor(60) as pool:
        answers = list(pool.map(lambda _: request(site.base, "GET", f"{job['url']}?since=1&wait=1.5"), range(60)))
    assert [a.status for a in answers] == [200] * 60
    assert sum("Retry-After" not in a.headers for a in answers) == 60


def _starts_watches_and_cancels(site):
    started = post_json(site.base, "/jobs/", {"task": "count_notes"})  # no CSRF token: lilqueue's rules
    assert started.status == 202, started
    job = started.json()
    assert started.headers["Location"] == job["url"] == f"/jobs/{job['id']}"
    assert request(site.base, "GET", job["url"]).json()["state"] == "queued"

    polled: dict = {}

    def long_poll() -> None:
        began = time.monotonic()
        polled["answer"] = request(site.base, "GET", f"{job['url']}?since=1&wait=1.5")
        polled["took"] = time.monotonic() - began

    poller = threading.Thread(target=long_poll)
    poller.start()
    time.sleep(0.2)
    began = time.monotonic()
    assert request(site.base, "GET", "/hello").body == b"hello from Django"
    site_took = time.monotonic() - began
    poller.join(10)
    assert site_took < 0.5, f"the site waited {site_took:.2f} s behind a long-poll on {site.server}"
    held = "Retry-After" not in polled["answer"].headers
    assert (polled["answer"].status, held, polled["took"] >= 1.4) == (200, HOLDS[site.server], HOLDS[site.server])

    assert json.loads(first_event(site.base, f"{job['url']}/events").split(b"data: ")[1].split(b"\n")[0])["id"] \
        == job["id"]
    status = request(site.base, "GET", f"{job['url']}/status")
    assert (status.status, status.headers["Content-Type"].split(";")[0]) == (200, "text/html")
    script = request(site.base, "GET", "/jobs/static/lilqueue.js")
    assert script.status == 200 and b"export" in script.body
    assert "count_words" in [t["name"] for t in request(site.base, "GET", "/jobs/tasks").json()["tasks"]]
    assert request(site.base, "GET", "/jobs/openapi.json").status == 200

    assert post_json(site.base, "/jobs/", {"task": "count_notes"}, **{"Sec-Fetch-Site": "cross-site"}).status == 403
    form = request(site.base, "POST", "/jobs/", "task=count_notes",
                   {"Content-Type": "application/x-www-form-urlencoded"})
    assert (form.status, form.headers["Content-Type"]) == (415, "application/problem+json")
    canceled = post_json(site.base, f"{job['url']}/cancel")
    assert (canceled.status, canceled.json()["state"]) == (202, "canceled")
    assert post_json(site.base, f"{job['url']}/cancel").status == 409
    assert request(site.base, "GET", "/jobs/nope/status").status == 404


def _jobs_belong_to_their_users_and_the_dashboard_to_staff(site):
    alice_pk = site.users["alice"][0]
    mine = post_json(site.base, "/jobs/", {"task": "count_notes"}, **as_user(site, "alice")).json()
    assert site.queue.get(mine["id"]).owner == str(alice_pk)
    for who, status in (("alice", 200), ("bob", 404), (None, 404), ("staff", 404)):
        assert request(site.base, "GET", mine["url"], headers=as_user(site, who)).status == status, who
    assert post_json(site.base, f"{mine['url']}/cancel", **as_user(site, "bob")).status == 404
    anonymous = post_json(site.base, "/jobs/", {"task": "count_notes"}).json()
    assert site.queue.get(anonymous["id"]).owner is None
    assert request(site.base, "GET", anonymous["url"], headers=as_user(site, "bob")).status == 200

    for who, status in (("staff", 200), ("alice", 403), (None, 302)):
        answer = request(site.base, "GET", "/jobs/admin/", headers=as_user(site, who))
        assert answer.status == status, (who, answer)
    assert request(site.base, "GET", "/jobs/admin/").headers["Location"] == "/login/?next=/jobs/admin/"
    for who, status in (("staff", 200), ("alice", 403), (None, 403)):
        assert request(site.base, "GET", "/jobs/metrics", headers=as_user(site, who)).status == status, who


def _a_page_of_the_site_starts_a_job_and_shows_its_card(site):
    alice = as_user(site, "alice")["Cookie"]
    form = request(site.base, "GET", "/notes/", headers={"Cookie": alice})
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', form.body).group(1).decode()
    cookie = f"{alice}; csrftoken={form.headers['Set-Cookie'].split('csrftoken=')[1].split(';')[0]}"
    posted = request(site.base, "POST", "/notes/", f"text=one+two+three&csrfmiddlewaretoken={token}",
                     {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
    assert posted.status == 302, posted  # Django's CSRF middleware still guards the site's own forms
    job_id = posted.headers["Location"].rsplit("/", 1)[1]
    assert site.queue.get(job_id).owner == str(site.users["alice"][0])
    page = request(site.base, "GET", posted.headers["Location"], headers={"Cookie": alice}).body.decode()
    assert f'data-lilqueue-card="{job_id}"' in page
    assert 'import { bind } from "/jobs/static/lilqueue.js";' in page
    assert f'href="/jobs/{job_id}/status"' in page
