"""``queue.middleware(app, admin=hook, metrics=hook)``, and ``queue.asgi`` alike: the dashboard
and the metrics are off without a hook (404), refused by it (403), served under the prefix when
it says yes."""

from __future__ import annotations

import pytest

from tests.http_support import header, request, serving


def host(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"host"]


def operator(native) -> bool:
    return header(native, "X-Operator") == "yes"


@pytest.fixture
def serve(queue, face):
    with serving(queue, face) as start:
        yield start


@pytest.mark.parametrize("path", ["/jobs/admin/", "/jobs/admin", "/jobs/admin/jobs", "/jobs/metrics"])
def test_without_a_hook_the_operator_pages_do_not_exist(serve, path):
    base = serve(host)
    answer = request(base, "GET", path, headers={"X-Operator": "yes"})
    assert answer.status == 404 and answer.headers["Content-Type"] == "application/problem+json"


def test_the_hook_decides_who_sees_the_dashboard_and_the_metrics(serve, queue):
    base = serve(host, admin=operator)
    queue.start("noop")
    for path in ("/jobs/admin/", "/jobs/metrics"):
        assert request(base, "GET", path).status == 403
        assert request(base, "GET", path, headers={"X-Operator": "no"}).status == 403
    page = request(base, "GET", "/jobs/admin/", headers={"X-Operator": "yes"})
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
    scraped = request(base, "GET", "/jobs/metrics", headers={"X-Operator": "yes"})
    assert scraped.status == 200 and 'lilqueue_jobs{task="noop",state="queued"} 1' in scraped.body.decode()
    assert request(base, "GET", "/hello").body == b"host"  # the host's own routes are untouched


def test_metrics_may_have_a_hook_of_their_own(serve):
    base = serve(host, admin=operator, metrics=lambda native: header(native, "Authorization") == "Bearer s3")
    assert request(base, "GET", "/jobs/metrics", headers={"X-Operator": "yes"}).status == 403
    assert request(base, "GET", "/jobs/metrics", headers={"Authorization": "Bearer s3"}).status == 200
    assert request(base, "GET", "/jobs/admin/", headers={"Authorization": "Bearer s3"}).status == 403


@pytest.mark.parametrize("hook", ["yes", 1])
def test_a_hook_that_is_not_callable_is_a_configuration_error(queue, hook, face):
    with pytest.raises(Exception, match="must be callable") as raised:
        (queue.middleware if face == "wsgi" else queue.asgi)(admin=hook)
    assert type(raised.value).__name__ == "ConfigurationError"
