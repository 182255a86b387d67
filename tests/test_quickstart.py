"""The README's quick start as a new user runs it: its ``app.py`` copied from the README into an
empty folder, ``flask --app app run``, the page in a real Chromium. Before any job its bar is
still and its Cancel off; Import binds a job that runs and can be canceled.

Needs Debian's ``chromium`` and the ``playwright`` package (never ``playwright install``).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests import test_browser
from tests.conftest import ROOT

browser = test_browser.browser


def quick_start_app() -> str:
    """The one Python block of the README's "Quick start" section."""
    section = (ROOT / "README.md").read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    return code


@pytest.fixture
def quick_start(tmp_path: Path):
    """``flask --app app run --port 0`` in a folder holding only the README's app.py: yields the
    URL it printed and the lines of its log so far."""
    (tmp_path / "app.py").write_text(quick_start_app())
    process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "run", "--port", "0"], cwd=tmp_path,
                               env=dict(os.environ, PYTHONUNBUFFERED="1"), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    found = threading.Event()
    url: list[str] = []

    def read() -> None:
        for line in process.stdout:
            lines.append(line)
            match = re.search(r"http://127\.0\.0\.1:\d+", line)
            if match and not url:
                url.append(match.group(0))
                found.set()
        found.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert found.wait(30) and url, "".join(lines)
        yield url[0], lines
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(5)
        process.stdout.close()


def test_the_quick_start_page_is_idle_until_a_job_is_bound_then_its_job_runs_and_cancels(browser, quick_start):
    url, log = quick_start
    with test_browser.opened(browser, url + "/") as page:
        idle = page.evaluate("""() => ({
            cancel: document.querySelector('[data-lilqueue-cancel]').disabled,
            animated: document.querySelector('[data-lilqueue-progress]').matches(':indeterminate')})""")
        assert idle == {"cancel": True, "animated": False}
        page.click("#go")
        page.wait_for_function("() => document.querySelector('#import').dataset.state === 'running'"
                               " && document.querySelector('[data-lilqueue-progress]').value > 0")
        assert page.is_enabled("[data-lilqueue-cancel]")
        page.click("[data-lilqueue-cancel]")
        page.wait_for_function("() => document.querySelector('#import').dataset.state === 'canceled'")
        assert page.is_disabled("[data-lilqueue-cancel]")
    assert not [line for line in log if "favicon.ico" in line], "".join(log)
