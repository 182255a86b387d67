"""What every dashboard page shares: the frame (head, navigation, the one stylesheet and
script), the flash messages that follow an action, the error pages, and the small HTML formatters.
Every value taken from a job, a worker or a request is escaped here or by the caller with ``e``.

    site = Site(base="/jobs/admin", assets={"admin.css": "3f2a…"}, heartbeat_timeout=30.0)
    layout(site, "Jobs", "<p>…</p>", flash=flash(site, "done=retry&n=3", clean="/jobs/admin/jobs"))
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import quote

from ...formats import count, utc
from ...job import ID_PATTERN, Job
from ..icon import LINK
from ..problems import Problem
from .actions import BULK_LIMIT
from .filters import params

REFRESH_SECONDS = 2  # the overview and the list reload their data at most this often, on a change

# What an action came back with (``done``/``refused`` in the query string) -> what to say.
DONE = {"retry": "Retried", "cancel": "Canceled", "delete": "Deleted"}
REFUSED = {
    "retry": "Only a failed or canceled job can be retried.",
    "retry-key": "Not retried: an unfinished job holds this job's key.",
    "retry-task": "Not retried: its task is no longer registered, or no longer takes these arguments.",
    "cancel": "This job has already finished: there is nothing to cancel.",
    "delete": "Only a finished job can be deleted: cancel it first.",
}
FLASH_PARAMS = ("done", "n", "skipped", "more", "retried", "refused")


def e(value: object) -> str:
    """Escaped for HTML text and quoted attribute values."""
    return escape(str(value), quote=True)


@dataclasses.dataclass(frozen=True)
class Site:
    """Where the dashboard is mounted, the versions of its two static files, and the queue's
    heartbeat timeout (a worker silent longer is shown as stale)."""

    base: str  # the SCRIPT_NAME the dashboard answers under, e.g. /jobs/admin
    assets: Mapping[str, str]
    heartbeat_timeout: float

    def url(self, path: str = "/", query: str = "") -> str:
        """An absolute path on this site (not yet HTML-escaped)."""
        # SCRIPT_NAME is decoded, in WSGI's latin-1 str of the raw bytes: quote those bytes
        base = quote(self.base.encode("latin-1", "replace"), safe="/:@!$&'()*+,;=-._~")
        return base + path + (f"?{query}" if query else "")

    def asset(self, name: str) -> str:
        return self.url(f"/static/{name}", f"v={self.assets[name]}")


PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · lilqueue admin</title>
{icon}
<link rel="stylesheet" href="{css}">
<script src="{js}" defer></script>
</head>
<body>
<header>
<a class="brand" href="{home}">lilqueue admin</a>
<nav><a href="{home}"{on_home}>Overview</a> <a href="{jobs}"{on_jobs}>Jobs</a></nav>
</header>
<main>
{flash}{body}
</main>
</body>
</html>
"""


def layout(site: Site, title: str, body: str, *, flash: str = "", section: str = "") -> str:
    """A whole page; ``title`` is plain text, ``body`` and ``flash`` are HTML."""
    current = ' aria-current="page"'
    return PAGE.format(title=e(title), icon=LINK, css=e(site.asset("admin.css")), js=e(site.asset("admin.js")),
                       home=e(site.url("/")), jobs=e(site.url("/jobs")), flash=flash, body=body,
                       on_home=current if section == "overview" else "",
                       on_jobs=current if section == "jobs" else "")


def flash(site: Site, query: str, clean: str) -> str:
    """The message an action's redirect carries (``done=retry&n=3``, ``retried=<id>``), built
    from fixed words: a crafted link can change a number, never the text. ``clean`` is this
    page's URL without them, which the script puts in the address bar."""
    try:
        values = params(query)
    except Problem:
        return ""
    first = {name: values[name][0] for name in FLASH_PARAMS if name in values}
    done, refused, retried = first.get("done"), first.get("refused"), first.get("retried")
    if retried and ID_PATTERN.fullmatch(retried):
        text = f'Retried: the new job is <a href="{e(site.url(f"/jobs/{retried}"))}"><code>{e(retried)}</code></a>.'
    elif refused in REFUSED:
        text = e(REFUSED[refused])
    elif done in DONE:
        n, skipped = _count(first.get("n")), _count(first.get("skipped"))
        # a count comes from a bulk action; none, from one job's own page
        text = f"{DONE[done]} this job." if n is None else f"{DONE[done]} {count(n, 'job')}."
        if skipped:
            text += f" {skipped} skipped: they had changed meanwhile, or their task no longer runs them."
        if first.get("more") == "1":
            text += f" More jobs match: each request acts on at most {BULK_LIMIT:,}; submit again for the next ones."
    else:
        return ""
    return f'<p class="flash" role="status" data-clean-url="{e(clean)}">{text}</p>\n'


def _count(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() and len(text) <= 7 else None


def error_page(site: Site | None, status: int, title: str, detail: str) -> str:
    """A small page for an error a browser asked for (no traceback, ever)."""
    body = f"<h1>{e(status)} {e(title)}</h1>\n<p>{e(detail)}</p>"
    if site is None:  # refused before anything of the dashboard is shown: no links, no script
        return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
                f"{LINK}</head>\n<body>\n{body}\n</body></html>\n")
    return layout(site, title, body + f'\n<p><a href="{e(site.url("/"))}">Back to the overview</a></p>')


def when(value: datetime | float | str | None) -> str:
    """A moment as ``<time>`` in UTC; a dash when there is none."""
    at = utc(value)
    if at is None:
        return "–"
    return f'<time datetime="{e(at.isoformat())}">{at:%Y-%m-%d %H:%M:%S}</time>'


def pretty(value: Any) -> str:
    """JSON as an operator reads it: indented, Unicode kept, escaped."""
    return e(json.dumps(value, indent=2, ensure_ascii=False))


def state(name: str) -> str:
    return f'<span class="state state-{e(name)}">{e(name)}</span>'


def job_link(site: Site, job_id: str) -> str:
    return f'<a href="{e(site.url(f"/jobs/{job_id}"))}"><code>{e(job_id)}</code></a>'


def error_line(job: Job, limit: int = 160) -> str:
    """``ValueError: boom`` cut to ``limit`` characters: the list's view of an error."""
    if job.error is None:
        return ""
    text = f"{job.error.type}: {job.error.message}"
    return e(text if len(text) <= limit else text[: limit - 1] + "…")
