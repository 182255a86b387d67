"""The browser's scripts carry the facts they share with Python (the long-poll wait, the
no-worker grace, the state names) from Python's one source, and write none of them again."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from lilqueue.settings import MIDDLEWARE
from lilqueue.states import FINISHED, QUEUED, STATES, SUCCEEDED
from lilqueue.web import staticfiles
from lilqueue.web.presence import NO_WORKER_GRACE
from tests.http_support import request, serving

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted((ROOT / "lilqueue" / "web").glob("**/static/*.js"))
FILLED = re.compile(rb"/\*facts\*/(.*?)/\*end\*/")


def served_facts(body: bytes) -> dict:
    (found,) = FILLED.findall(body)
    return json.loads(found)


def test_the_served_scripts_carry_the_middlewares_wait_the_grace_and_the_state_names(queue):
    with serving(queue) as start:
        base = start(max_wait=7, admin=lambda environ: True)
        script = request(base, "GET", "/jobs/static/lilqueue.js")
        page = request(base, "GET", "/jobs/admin/", headers={"Accept": "text/html"}).body.decode()
        admin_src = re.search(r'<script src="([^"]+)"', page).group(1).replace("&amp;", "&")
        admin = request(base, "GET", admin_src)
        default = request(start(), "GET", "/jobs/static/lilqueue.js")
    shown = served_facts(script.body)
    assert shown["wait"] == 7 and served_facts(admin.body)["wait"] == 7
    assert served_facts(default.body)["wait"] == MIDDLEWARE.max_wait
    assert shown["no_worker_grace"] == NO_WORKER_GRACE
    assert set(shown["states"].values()) == set(STATES)
    assert (shown["states"]["QUEUED"], shown["states"]["SUCCEEDED"]) == (QUEUED, SUCCEEDED)
    assert shown["finished"] == list(FINISHED)
    # Each answer names the bytes it carries: the ETag, and the dashboard's ?v= for its script.
    assert script.headers["ETag"] == f'"{hashlib.sha256(script.body).hexdigest()[:16]}"'
    assert parse_qs(urlsplit(admin_src).query)["v"] == [hashlib.sha256(admin.body).hexdigest()[:16]]
    assert script.headers["ETag"] != default.headers["ETag"]  # another wait, other bytes, another tag


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda path: path.name)
def test_a_script_writes_no_shared_fact_outside_its_one_placeholder(path):
    """A state name as a quoted string, or the wait or the grace as a literal (in seconds from
    10 up, or in milliseconds), outside the placeholder the server fills. A grace of 3 s is
    looked for only as 3000: a bare 3 is too common to forbid."""
    text = path.read_text()
    assert text.count(staticfiles.PLACEHOLDER.decode()) == 1
    known = staticfiles.facts(MIDDLEWARE.max_wait)
    names = "|".join(STATES)
    quoted = re.findall(rf"""(["'`])({names})\1""", text)
    assert quoted == [], f"{path.name} spells states: {quoted}"
    for name in ("wait", "no_worker_grace"):
        seconds = known[name]
        numbers = [f"{seconds * 1000:g}"] + ([f"{seconds:g}"] if seconds >= 10 else [])
        found = [n for n in numbers if re.search(rf"(?<![\w.]){re.escape(n)}(?![\w.])", text)]
        assert found == [], f"{path.name} writes {name} as {found}"


def test_the_scripts_are_valid_javascript_before_and_after_filling(tmp_path):
    node = shutil.which("node")
    if node is None:
        pytest.skip("no node to check the syntax with")
    for path in SCRIPTS:
        for name, data in (("raw", path.read_bytes()), ("filled", staticfiles.asset(path, 25.0).data)):
            copy = tmp_path / f"{name}-{path.stem}.mjs"  # .mjs: lilqueue.js is an ES module
            copy.write_bytes(data)
            checked = subprocess.run([node, "--check", str(copy)], capture_output=True, text=True)
            assert checked.returncode == 0, (path.name, name, checked.stderr)
