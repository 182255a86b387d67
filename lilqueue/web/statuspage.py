"""``GET {prefix}/{id}/status``: a job's state as a plain HTML page that needs no JavaScript.

While the job is unfinished the page reloads itself (``<meta http-equiv="refresh">`` without a
URL, so the reload keeps the query string). Once it succeeded, a ``next_url`` sends the person
on at once; after a failure or a cancel the page shows the outcome and a link there. Everything
taken from the job or the request is escaped.

    statuspage.render(job, next_url="/reports/abc?x=1", no_worker=not workers_alive)
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from html import escape

from ..formats import percent
from ..job import PIPELINE, Job
from ..states import QUEUED, SUCCEEDED
from .icon import LINK
from .presence import NO_WORKER_GRACE

REFRESH_SECONDS = 2

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
{icon}
{refresh}<title>{task} – {state}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; }}
progress {{ width: 100%; height: 1.2rem; }}
progress[data-state=succeeded] {{ accent-color: #2e8b57; }} progress[data-state=failed] {{ accent-color: #c0392b; }}
progress[data-state=canceled] {{ accent-color: #7f8c8d; }}
.state {{ font-weight: bold; }} .error {{ color: #a00; }}
.log-warning {{ color: #8a5a00; }} .log-error {{ color: #a00; }}
pre {{ background: #f4f4f4; padding: .5rem; overflow-x: auto; }}
</style>
</head>
<body>
<h1>{task}</h1>
<p>State: <span class="state" id="state">{state}</span>{canceling}</p>
<p>{bar} <span id="percent">{percent}</span></p>
<p id="message">{message}</p>
{flow}{outcome}
{next_link}{logs}<p><small>Job <code>{job_id}</code>, version {version}. {refresh_note}</small></p>
</body>
</html>
"""


def render(job: Job, *, next_url: str | None = None, no_worker: bool = False) -> str:
    """The page for ``job``. ``next_url``, a same-origin path the caller checked, is where the
    person goes once the job ended; ``no_worker`` says that no worker has sent a heartbeat lately."""
    progress = job.progress
    age = datetime.now(UTC) - job.created_at
    stalled = no_worker and job.state == QUEUED and age > timedelta(seconds=NO_WORKER_GRACE)
    shown = percent(progress.current, progress.total, done=job.state == SUCCEEDED)
    message = "Waiting for a worker — none is running." if stalled else progress.message or ""
    if job.error is not None:
        outcome = (f'<p class="error">Failed: <strong>{escape(job.error.type)}</strong>: '
                   f"{escape(job.error.message)}</p>")
    elif job.result is not None:
        outcome = f"<h2>Result</h2>\n<pre>{escape(json.dumps(job.result, indent=2))}</pre>"
    else:
        outcome = ""
    if not job.finished:
        refresh = f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">\n'
    elif job.state == SUCCEEDED and next_url:
        refresh = f'<meta http-equiv="refresh" content="0; url={escape(next_url)}">\n'
    else:
        refresh = ""
    ended = job.finished and next_url
    return PAGE.format(
        refresh=refresh, icon=LINK,
        task=escape(job.task), state=escape(job.state), job_id=escape(job.id), version=job.version,
        canceling=" (cancel requested)" if job.cancel_requested and not job.finished else "",
        bar=_bar(job, stalled), percent=escape(shown), message=escape(message), flow=_flow(job), outcome=outcome,
        next_link=f'<p><a href="{escape(next_url)}">Continue</a></p>\n' if ended else "",
        logs=_logs(job),
        refresh_note="" if job.finished else f"This page reloads every {REFRESH_SECONDS} s.",
    )


def _logs(job: Job) -> str:
    """The log lines under a heading; nothing at all for a job that wrote none."""
    if not job.logs and not job.logs_dropped:
        return ""
    lines = "\n".join(f'<li class="log-{escape(line.level)}">{escape(line.level)}: {escape(line.message)}</li>'
                      for line in job.logs)
    dropped = f"<p>{job.logs_dropped} older lines dropped.</p>\n" if job.logs_dropped else ""
    return f'<h2>Log</h2>\n<ul id="logs">\n{lines}\n</ul>\n{dropped}'


def _flow(job: Job) -> str:
    """A pipeline's steps or a batch's children under its card, each linked to its own page."""
    flow = job.flow
    if flow is None:
        return ""
    items = "\n".join(f'<li class="child-{escape(child.state or "waiting")}"><a href="../{escape(child.id)}/status">'
                      f"{escape(child.task)}</a>: {escape(child.state or 'waiting')}</li>" for child in flow.children)
    listed = sum(1 for child in flow.children if child.step < flow.total)
    more = f"<li>… {flow.total - listed} more</li>\n" if flow.total > listed else ""
    title = "Steps" if flow.kind == PIPELINE else f"Children: {flow.done} of {flow.total} done, {flow.failed} failed"
    return f'<h2>{title}</h2>\n<ol id="children">\n{items}\n{more}</ol>\n'


def _bar(job: Job, stalled: bool) -> str:
    """Full once succeeded; the last known value otherwise; animated only while something may
    move; colored by the job's state (``data-state``), so a failed bar is not a running one."""
    progress, state = job.progress, f'data-state="{escape(job.state)}"'
    if job.state == SUCCEEDED:
        return f'<progress {state} max="1" value="1"></progress>'
    if progress.total:
        return f'<progress {state} max="{_num(progress.total)}" value="{_num(progress.current or 0)}"></progress>'
    if job.finished or stalled:
        return f'<progress {state} max="1" value="0"></progress>'
    return f"<progress {state}></progress>"  # indeterminate: no total known


def _num(value: float) -> str:
    return escape(f"{value:g}")
