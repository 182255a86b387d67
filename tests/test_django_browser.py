"""The Django demo in Chromium: the form posts with Django's CSRF token, the page it lands on
shows ``{% lilqueue_card %}`` live (progress moving while the worker inside runserver imports),
and its Cancel button stops the job through ``lilqueue.django.urls``."""

from __future__ import annotations

import pytest

from tests import test_browser
from tests.django_support import demo_server
from tests.servers.harness import need

browser = test_browser.browser  # the module's Chromium, launched as the demo's browser tests launch it


@pytest.fixture
def demo_site(tmp_path):
    need("django")
    server = demo_server(tmp_path)
    try:
        yield server.wait_ready("/")
    finally:
        server.stop()


def test_the_django_demo_card_shows_an_import_live_and_cancels_it(browser, demo_site):
    with test_browser.opened(browser, demo_site + "/") as page:
        page.click("form button")
        page.wait_for_url("**/imports/*")
        page.wait_for_function("document.querySelector('[data-lilqueue-progress]').value > 0")
        assert page.inner_text("[data-lilqueue-state]") == "running"
        assert int(page.inner_text("[data-lilqueue-percent]").rstrip("%")) < 100
        page.click("[data-lilqueue-cancel]")
        page.wait_for_function("document.querySelector('[data-lilqueue-state]').textContent === 'canceled'")
