"""A job's page for operators: arguments, progress, result, logs, who started it, its retry
link, the actions that fit its state, and the FULL traceback (the public job JSON never has
one). The part that changes is ``fragment(site, job)``; the long-poll endpoint serves it again
with each new version, and admin.js puts it in place, so the page follows a running job.

    html = page(site, job, flash="")
    data = live(site, job)      # {"version", "finished", "html", "job"} for /jobs/<id>.json
"""

from __future__ import annotations

from typing import Any

from ...formats import age, percent
from ...job import Job
from ...states import CANCELED, FAILED, RUNNING, SUCCEEDED
from .layout import Site, e, job_link, layout, pretty, state, when


def page(site: Site, job: Job, *, flash: str = "") -> str:
    follow = site.url(f"/jobs/{job.id}.json")
    body = f"""<h1>{e(job.task)} <code class="job-id">{e(job.id)}</code></h1>
<div id="job" data-follow="{e(follow)}" data-version="{job.version}" data-finished="{str(job.finished).lower()}">
{fragment(site, job)}
</div>"""
    return layout(site, f"{job.task} {job.id}", body, flash=flash, section="jobs")


def live(site: Site, job: Job) -> dict[str, Any]:
    """What the job page's long-poll answers: the new fragment, and the job for scripts."""
    return {"version": job.version, "finished": job.finished, "html": fragment(site, job), "job": details(job)}


def details(job: Job) -> dict[str, Any]:
    """The job as an operator sees it: the public JSON plus owner, retry link and traceback."""
    data = job.to_dict()
    data["owner"] = job.owner
    if job.error is not None:
        data["error"] = dict(data["error"], traceback=job.error.traceback)
    return data


def fragment(site: Site, job: Job) -> str:
    canceling = " <em>(cancel requested)</em>" if job.cancel_requested and not job.finished else ""
    return f"""<p class="status">{state(job.state)}{canceling}</p>
{_actions(site, job)}
{_progress(job)}
<dl class="facts">
<dt>task</dt><dd>{e(job.task)}</dd>
<dt>attempts</dt><dd data-attempts>{job.attempts}</dd>
<dt>owner</dt><dd>{e(job.owner) if job.owner is not None else "–"}</dd>
<dt>key</dt><dd>{f"<code>{e(job.key)}</code>" if job.key is not None else "–"}</dd>
<dt>retry of</dt><dd data-retry-of>{job_link(site, job.retry_of) if job.retry_of else "–"}</dd>
<dt>created</dt><dd>{when(job.created_at)}</dd>
<dt>started</dt><dd>{when(job.started_at)}</dd>
<dt>finished</dt><dd>{when(job.finished_at)}</dd>
<dt>took</dt><dd>{_took(job)}</dd>
<dt>version</dt><dd data-version>{job.version}</dd>
</dl>
<h2>Arguments</h2>
<dl class="arguments">
<dt>args (positional)</dt><dd><pre class="json" data-args>{pretty(job.args)}</pre></dd>
<dt>kwargs (by name)</dt><dd><pre class="json" data-kwargs>{pretty(job.kwargs)}</pre></dd>
</dl>
{_outcome(job)}
{_logs(job)}"""


def _actions(site: Site, job: Job) -> str:
    forms = []
    if job.state in (FAILED, CANCELED):
        forms.append(_button(site, job, "retry", "Retry", "Start this job again as a new job"))
    if not job.finished:
        forms.append(_button(site, job, "cancel", "Cancel", "Cancel this job"))
    if job.finished:
        forms.append(_button(site, job, "delete", "Delete", "Delete this job for good",
                             confirm=f"Delete job {job.id} for good?"))
    return f'<div class="actions">{"".join(forms)}</div>'


def _button(site: Site, job: Job, action: str, label: str, title: str, confirm: str = "") -> str:
    asked = f' data-confirm="{e(confirm)}"' if confirm else ""
    return (f'<form method="post" action="{e(site.url(f"/jobs/{job.id}/{action}"))}">'
            f'<button type="submit" class="{action}" title="{e(title)}" data-action="{action}"{asked}>'
            f"{label}</button></form>")


def _progress(job: Job) -> str:
    """A bar for a job that reported a total; an animated one for a running job that has not
    (yet); no bar, but words, for a job that is not running and never reported a total."""
    p = job.progress
    if p.total:
        bar = (f'<progress data-progress data-state="{e(job.state)}" max="{e(f"{p.total:g}")}" '
               f'value="{e(f"{p.current or 0:g}")}"></progress>')
    elif job.state == RUNNING:
        bar = f'<progress data-progress data-state="{RUNNING}"></progress>'
    else:
        said = ("Not started yet." if not job.finished else "It reported no progress." if p.current is None
                else f"It reported {p.current:g}, of no total.")
        bar = f'<span class="no-progress" data-no-progress>{e(said)}</span>'
    shown = percent(p.current, p.total, done=job.state == SUCCEEDED) if p.total else ""
    counted = f"({p.current:g} of {p.total:g})" if p.current is not None and p.total else ""
    return (f'<div class="progress">{bar} <span data-percent>{e(shown)}</span> <span>{e(counted)}</span>\n'
            f'<p data-message>{e(p.message or "")}</p></div>')


def _took(job: Job) -> str:
    if job.started_at is None or job.finished_at is None:
        return "–"
    return e(age((job.finished_at - job.started_at).total_seconds()))


def _outcome(job: Job) -> str:
    parts = []
    if job.result is not None:
        parts.append(f'<h2>Result</h2>\n<pre class="json" data-result>{pretty(job.result)}</pre>')
    if job.error is not None:
        parts.append(f'<h2>Error</h2>\n<p class="error" data-error><strong>{e(job.error.type)}</strong>: '
                     f"{e(job.error.message)}</p>")
        if job.error.traceback:
            parts.append(f'<pre class="traceback" data-traceback>{e(job.error.traceback)}</pre>')
    return "\n".join(parts)


def _logs(job: Job) -> str:
    if not job.logs and not job.logs_dropped:
        return "<h2>Log</h2>\n<p>No log lines.</p>"
    rows = "\n".join(f'<tr class="log-{e(line.level)}"><td>{when(line.ts)}</td><td>{e(line.level)}</td>'
                     f"<td>{e(line.message)}</td></tr>" for line in job.logs)
    dropped = f"<p>{job.logs_dropped} older lines were dropped.</p>\n" if job.logs_dropped else ""
    return (f'<h2>Log</h2>\n{dropped}<div class="scroll">\n<table class="logs" data-logs>\n'
            "<thead><tr><th>time (UTC)</th><th>level</th><th>message</th></tr></thead>\n"
            f"<tbody>\n{rows}\n</tbody>\n</table>\n</div>")
