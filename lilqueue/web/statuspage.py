"""``GET {prefix}/{id}/status``: a job's state as a plain HTML page that needs no JavaScript.

While the job is unfinished the page reloads itself (``<meta http-equiv="refresh">``).
Everything taken from the job is escaped.
"""

from __future__ import annotations

import json
from html import escape

from ..job import Job

REFRESH_SECONDS = 2

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
{refresh}<title>{task} – {state}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; }}
progress {{ width: 100%; height: 1.2rem; }}
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
{outcome}
<h2>Log</h2>
<ul id="logs">
{logs}
</ul>
{dropped}
<p><small>Job <code>{job_id}</code>, version {version}. {refresh_note}</small></p>
</body>
</html>
"""


def render(job: Job) -> str:
    progress = job.progress
    if progress.total:
        bar = f'<progress max="{_num(progress.total)}" value="{_num(progress.current or 0)}"></progress>'
    elif job.finished:
        bar = '<progress max="1" value="1"></progress>'
    else:
        bar = "<progress></progress>"  # indeterminate: no total known
    percent = "" if progress.percent is None else f"{progress.percent:g} %"
    if job.error is not None:
        outcome = (f'<p class="error">Failed: <strong>{escape(job.error.type)}</strong>: '
                   f"{escape(job.error.message)}</p>")
    elif job.result is not None:
        outcome = f"<h2>Result</h2>\n<pre>{escape(json.dumps(job.result, indent=2))}</pre>"
    else:
        outcome = ""
    logs = "\n".join(f'<li class="log-{escape(line.level)}">{escape(line.level)}: {escape(line.message)}</li>'
                     for line in job.logs)
    return PAGE.format(
        refresh="" if job.finished else f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">\n',
        task=escape(job.task), state=escape(job.state), job_id=escape(job.id), version=job.version,
        canceling=" (cancel requested)" if job.cancel_requested and not job.finished else "",
        bar=bar, percent=escape(percent), message=escape(progress.message or ""), outcome=outcome,
        logs=logs, dropped=f"<p>{job.logs_dropped} older lines dropped.</p>" if job.logs_dropped else "",
        refresh_note="" if job.finished else f"This page reloads every {REFRESH_SECONDS} s.",
    )


def _num(value: float) -> str:
    return escape(f"{value:g}")
