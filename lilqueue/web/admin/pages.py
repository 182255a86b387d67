"""The overview and the job list, as HTML that reads without JavaScript.

Each page is one string built from ``queue.stats()`` and ``queue.jobs()`` results; the part in
``<div data-refresh>`` is what admin.js fetches again when a job changed (it long-polls
``data-changes``), at most every ``REFRESH_SECONDS``, while the tab is visible.
Every value from a job, a worker or the request is escaped (``layout.e``).

    html = overview(site, queue.stats(), queue.jobs(state="failed", limit=10), tasks=queue.tasks)
    html = job_list(site, filters, jobs, more=True, stats=queue.stats(), tasks=queue.tasks)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ...formats import age, utc
from ...job import Job
from ...states import CANCELED, FAILED, QUEUED, STATES, SUCCEEDED
from .actions import BULK_LIMIT, ELIGIBLE
from .filters import MATCHING, Filters
from .layout import REFRESH_SECONDS, Site, e, error_line, job_link, layout, state, when

THROUGHPUT = (SUCCEEDED, FAILED, CANCELED)  # stacked from the bottom, in this order
BAR, GAP, HEIGHT = 9, 1, 60                 # the throughput strip, in SVG units

# Bulk actions: the button and the jobs it applies to (their states: actions.ELIGIBLE).
BULK = (("retry", "Retry", "failed or canceled"), ("cancel", "Cancel", "queued or running"),
        ("delete", "Delete", "finished"))


def overview(site: Site, stats: Mapping[str, Any], failures: Sequence[Job], *, tasks: Mapping[str, Any] | None = None,
             flash: str = "") -> str:
    states = stats.get("states", {})
    cards = "\n".join(
        f'<a class="card card-{s}" href="{e(site.url("/jobs", f"state={s}"))}">'
        f'<span class="count" data-count="{s}">{states.get(s, 0)}</span> {s}</a>' for s in STATES)
    queued = states.get(QUEUED, 0)
    oldest = stats.get("oldest_queued_age")
    waited = f"; the oldest has waited <strong>{e(age(oldest))}</strong>" if queued and oldest is not None else ""
    body = f"""<h1>Overview</h1>
<div id="live" data-refresh="{REFRESH_SECONDS}" data-changes="{e(site.url("/changes"))}">
<section class="cards">
{cards}
</section>
<p class="depth">Queue depth <strong data-depth>{queued}</strong>{waited}.</p>
{_throughput(stats)}
{_tasks(site, stats, tasks or {})}
{_workers(site, stats, site.heartbeat_timeout)}
<section>
<h2>Recent failures</h2>
{_failures(site, failures)}
</section>
</div>"""
    return layout(site, "Overview", body, flash=flash, section="overview")


def _throughput(stats: Mapping[str, Any]) -> str:
    minutes = list(stats.get("throughput", []))
    totals = {s: sum(m.get(s, 0) for m in minutes) for s in THROUGHPUT}
    peak = max([sum(m.get(s, 0) for s in THROUGHPUT) for m in minutes] + [1])
    bars = []
    for i, minute in enumerate(minutes):
        x, y, parts = i * (BAR + GAP), HEIGHT, []
        for s in THROUGHPUT:
            n = minute.get(s, 0)
            if n:
                h = max(n / peak * HEIGHT, 1.0)
                y -= h
                parts.append(f'<rect class="tp-{s}" x="{x}" y="{y:.2f}" width="{BAR}" height="{h:.2f}"/>')
        label = ", ".join(f"{minute.get(s, 0)} {s}" for s in THROUGHPUT)
        bars.append(f"<g><title>{e(_clock(minute.get('minute')))}: {label}</title>"
                    f'<rect class="tp-slot" x="{x}" y="0" width="{BAR}" height="{HEIGHT}"/>{"".join(parts)}</g>')
    width = max(len(minutes), 1) * (BAR + GAP)
    said = ", ".join(f"{totals[s]} {s}" for s in THROUGHPUT)
    return f"""<section>
<h2>Last hour</h2>
<svg class="throughput" viewBox="0 0 {width} {HEIGHT}" preserveAspectRatio="none" role="img"
 aria-label="Jobs finished per minute in the last hour: {said}">
{"".join(bars)}
</svg>
<p class="legend"><span class="key tp-succeeded"></span> succeeded <span class="key tp-failed"></span> failed
<span class="key tp-canceled"></span> canceled — in the last hour: <span data-throughput>{said}</span>;
failures in 24 h: <strong data-failures-24h>{e(stats.get("failures_24h", 0))}</strong>.</p>
</section>"""


def _clock(minute: Any) -> str:
    at = utc(minute)
    return "" if at is None else f"{at:%H:%M}"


def _tasks(site: Site, stats: Mapping[str, Any], registered: Mapping[str, Any]) -> str:
    counts, totals, durations = stats.get("counts", {}), stats.get("finished_totals", {}), stats.get("durations", {})
    names = sorted(set(counts) | set(totals) | set(registered))
    if not names:
        return "<section>\n<h2>Tasks</h2>\n<p>No task is registered and no job is stored.</p>\n</section>"
    head = "".join(f'<th class="num">{s}</th>' for s in STATES)
    rows = []
    for name in names:
        cells = []
        for s in STATES:
            n = counts.get(name, {}).get(s, 0)
            query = Filters(task=name, state=s).query()
            cells.append(f'<td class="num"><a href="{e(site.url("/jobs", query))}">{n}</a></td>' if n
                         else '<td class="num zero">0</td>')
        ever = sum(totals.get(name, {}).values())
        mean, p95 = _durations(durations.get(name))
        task_url = site.url("/jobs", Filters(task=name).query())
        rows.append(f'<tr data-task="{e(name)}"><th scope="row"><a href="{e(task_url)}">{e(name)}</a>'
                    f'{_next_run(registered.get(name))}</th>'
                    f'{"".join(cells)}<td class="num">{ever}</td><td class="num">{mean}</td>'
                    f'<td class="num">{p95}</td></tr>')
    body = "\n".join(rows)
    return (f'<section>\n<h2>Tasks</h2>\n<div class="scroll">\n<table class="counts">\n<thead><tr><th>task</th>{head}'
            '<th class="num" title="finished since the database was created, pruned jobs included">finished ever</th>'
            '<th class="num">mean time</th><th class="num" title="95 % of the runs took at most this">p95</th>'
            f"</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>\n</div>\n"
            "<p class=\"legend\">Counts are of the jobs stored now; old finished jobs are pruned.</p>\n</section>")


def _next_run(task: Any) -> str:
    """For a periodic task, its schedule and next run under its name."""
    schedule = task.describe()["periodic"] if task is not None and task.periodic is not None else None
    if schedule is None:
        return ""
    at = utc(schedule["next_run"])
    return (f' <small class="next-run" title="{e(schedule["cron"])} ({e(schedule["timezone"])})">'
            f'next {at:%Y-%m-%d %H:%M} UTC</small>')


def _durations(histogram: Mapping[str, Any] | None) -> tuple[str, str]:
    """Mean and 95th percentile (the bucket bound it falls under) of a task's run times."""
    if not histogram or not histogram.get("count"):
        return "–", "–"
    count = histogram["count"]
    mean = age(histogram["sum"] / count)
    bound = next((b for b, below in histogram["buckets"] if below >= 0.95 * count), "+Inf")
    if bound == "+Inf":
        finite = [b for b, _ in histogram["buckets"] if b != "+Inf"]
        return mean, f"&gt; {e(age(finite[-1]))}" if finite else "–"
    return mean, f"≤ {e(age(bound))}"


def _workers(site: Site, stats: Mapping[str, Any], timeout: float) -> str:
    workers = stats.get("workers", [])
    if not workers:
        return '<section>\n<h2>Workers</h2>\n<p class="warning">No worker is running: queued jobs wait.</p>\n</section>'
    rows = []
    for w in workers:
        beat = w.get("heartbeat_age")
        stale = beat is not None and beat > timeout
        marked = ' class="stale"' if stale else ""
        running = ", ".join(f"{job_link(site, r['id'])} {e(r.get('task', ''))}" for r in w.get("running", []))
        rows.append(
            f'<tr{marked}><td><code>{e(w.get("id", ""))}</code></td>'
            f'<td>{e(w.get("hostname", ""))}</td><td class="num">{e(w.get("pid", ""))}</td>'
            f'<td class="num">{e(w.get("threads", ""))}</td><td>{when(w.get("started_at"))}</td>'
            f'<td data-heartbeat>{e(age(beat))}{" (stale)" if stale else ""}</td><td>{running or "idle"}</td></tr>')
    body = "\n".join(rows)
    return ('<section>\n<h2>Workers</h2>\n<div class="scroll">\n<table>\n'
            "<thead><tr><th>worker</th><th>host</th><th>pid</th>"
            "<th>threads</th><th>started</th><th>heartbeat</th><th>running</th></tr></thead>\n"
            f"<tbody>\n{body}\n</tbody>\n</table>\n</div>\n</section>")


def _failures(site: Site, jobs: Sequence[Job]) -> str:
    if not jobs:
        return "<p>No failed job is stored.</p>"
    rows = "\n".join(
        f'<tr data-job="{e(j.id)}"><td>{job_link(site, j.id)}</td><td>{e(j.task)}</td>'
        f'<td>{when(j.finished_at)}</td><td class="error">{error_line(j)}</td></tr>' for j in jobs)
    more = site.url("/jobs", f"state={FAILED}")
    return ('<div class="scroll">\n<table class="failures">\n'
            "<thead><tr><th>job</th><th>task</th><th>failed</th><th>error</th></tr></thead>\n"
            f'<tbody>\n{rows}\n</tbody>\n</table>\n</div>\n<p><a href="{e(more)}">All failed jobs</a></p>')


def job_list(site: Site, filters: Filters, jobs: Sequence[Job], *, more: bool, stats: Mapping[str, Any],
             tasks: Iterable[str] = (), flash: str = "", notice: str = "") -> str:
    """One page of jobs, newest first; ``more`` says whether an older page exists."""
    body = f"""<h1>Jobs</h1>
{_filter_form(site, filters, tasks)}
{f'<p class="notice" role="alert">{e(notice)}</p>' if notice else ""}
<div id="live" data-refresh="{REFRESH_SECONDS}" data-changes="{e(site.url("/changes"))}">
{_tabs(site, filters, stats)}
{_table(site, jobs)}
{_pager(site, filters, jobs, more)}
</div>
{_bulk_form(site, filters) if jobs or filters.active else ""}"""
    return layout(site, "Jobs", body, flash=flash, section="jobs")


def _filter_form(site: Site, filters: Filters, tasks: Iterable[str]) -> str:
    options = "".join(f'<option value="{s}"{" selected" if filters.state == s else ""}>{s}</option>'
                      for s in STATES)
    names = "".join(f'<option value="{e(name)}">' for name in sorted(tasks))

    def text(name: str, label: str, hint: str = "") -> str:
        placeholder = f' placeholder="{e(hint)}"' if hint else ""
        return f'<label>{label} <input name="{name}" value="{e(getattr(filters, name))}"{placeholder}></label>'

    return f"""<form class="filters" method="get" action="{e(site.url("/jobs"))}">
<label>State <select name="state"><option value="">any</option>{options}</select></label>
<label>Task <input name="task" list="task-names" value="{e(filters.task)}"></label>
<datalist id="task-names">{names}</datalist>
{text("owner", "Owner")}
{text("key", "Key")}
{text("after", "Created after", "2026-05-01T10:30 (UTC)")}
{text("until", "Created before", "2026-05-01T12:00 (UTC)")}
<button type="submit">Filter</button> <a href="{e(site.url("/jobs"))}">Clear</a>
</form>
<form class="jump" method="get" action="{e(site.url("/jobs"))}">
<label>Job id <input name="id" size="24" maxlength="200" value="{e(filters.id)}"></label>
<button type="submit">Open</button>
</form>"""


def _tabs(site: Site, filters: Filters, stats: Mapping[str, Any]) -> str:
    counts = stats.get("counts", {}).get(filters.task, {}) if filters.task else stats.get("states", {})
    links = []
    for s in ("", *STATES):
        n = sum(counts.values()) if not s else counts.get(s, 0)
        current = ' aria-current="page"' if filters.state == s else ""
        url = site.url("/jobs", filters.query(state=s, before=""))
        links.append(f'<a href="{e(url)}"{current}>{s or "all"} <span data-tab-count="{s or "all"}">{n}</span></a>')
    return f'<nav class="tabs">{" ".join(links)}</nav>'


def _table(site: Site, jobs: Sequence[Job]) -> str:
    if not jobs:
        return '<p class="empty">No job matches.</p>'
    rows = "\n".join(
        f'<tr data-job="{e(j.id)}"><td>{job_link(site, j.id)}</td><td>{e(j.task)}</td><td>{state(j.state)}</td>'
        f'<td>{when(j.created_at)}</td><td class="num">{j.attempts}</td><td class="error">{error_line(j)}</td></tr>'
        for j in jobs)
    return ('<div class="scroll">\n<table class="jobs">\n<thead><tr><th>job</th><th>task</th><th>state</th>'
            '<th>created (UTC)</th><th>attempts</th><th>error</th></tr></thead>\n'
            f'<tbody>\n{rows}\n</tbody>\n</table>\n</div>')


def _pager(site: Site, filters: Filters, jobs: Sequence[Job], more: bool) -> str:
    links = []
    if filters.before:
        links.append(f'<a href="{e(site.url("/jobs", filters.query(before="")))}" rel="first">Newest</a>')
    if more and jobs:
        older = site.url("/jobs", filters.query(before=jobs[-1].id))
        links.append(f'<a href="{e(older)}" rel="next" data-older>Older</a>')
    return f'<nav class="pager">{" ".join(links)}</nav>' if links else ""


def _bulk_form(site: Site, filters: Filters) -> str:
    fields = "".join(f'<input type="hidden" name="{name}" value="{e(getattr(filters, name))}">'
                     for name in MATCHING if getattr(filters, name))
    which = e(filters.describe())
    buttons = []
    for action, label, which_jobs in BULK:
        if filters.state and filters.state not in ELIGIBLE[action]:
            continue
        applies = filters.state or which_jobs
        confirm = f"{label} every {applies} job that matches ({filters.describe()}), at most {BULK_LIMIT:,}?"
        buttons.append(f'<button type="submit" name="action" value="{action}" data-confirm="{e(confirm)}">'
                       f"{label} all {e(applies)}</button>")
    if not buttons:
        return ""
    return f"""<form class="bulk" method="post" action="{e(site.url("/bulk"))}">
<p>Act on every matching job ({which}; at most {BULK_LIMIT:,} per request):</p>
{fields}{" ".join(buttons)}
</form>"""
