"""The operator verbs of ``python -m lilqueue``: look at jobs, retry, cancel and purge them,
and see what the workers do.

    python -m lilqueue jobs app:queue --state failed        # one job a line, its id first
    python -m lilqueue show app:queue rLAqBFfzF8HX46O-kdAogw
    python -m lilqueue retry app:queue rLAqBFfzF8HX46O-kdAogw   # prints the new job's id
    python -m lilqueue purge app:queue --state failed --older-than 7d

``command.py`` adds the sub-commands with ``add_commands(subparsers)`` and, once it has loaded
the queue, runs one with ``run(options, queue)``, which returns the exit code (``exits.py``).
Every error is one line on stderr that starts with ``lilqueue: ``; ``jobs``, ``show``, ``stats``
and ``workers`` print JSON instead of text with ``--json``.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import re
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ..formats import age, count, iso, percent
from ..job import Job
from ..queue import Queue
from ..states import FINISHED, RUNNING, STATES
from .exits import EXIT_FAILED, EXIT_OK, LEGEND, code_of, report
from .loading import add_queue_argument, examples

EXAMPLES = """\
  {prog} jobs{queue} --state failed --limit 20
  {prog} jobs{queue} --before rLAqBFfzF8HX46O-kdAogw   (the page after that job)
  {prog} show{queue} rLAqBFfzF8HX46O-kdAogw
  {prog} retry{queue} rLAqBFfzF8HX46O-kdAogw
  {prog} purge{queue} --state failed --older-than 7d
  {prog} stats{queue} --json
"""

DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
ERROR_WIDTH = 80  # characters of an error in a ``jobs`` line


def add_commands(subparsers: Any, queue_argument: bool = True, prog: str = "python -m lilqueue") -> None:
    """Add the operator sub-commands to ``python -m lilqueue``'s sub-parsers (without the
    ``queue`` argument where the queue is known: ``manage.py lilqueue``)."""
    limit = inspect.signature(Queue.jobs).parameters["limit"].default
    epilog = "examples:\n" + examples(EXAMPLES, prog, queue_argument) + "\n" + LEGEND

    def verb(name: str, help: str) -> argparse.ArgumentParser:
        return _verb(subparsers, name, help, queue_argument, epilog)

    jobs = verb("jobs", "list jobs, newest first, one a line: id, state, task, created, attempts, error")
    jobs.add_argument("--state", action="append", metavar="STATE",
                      help=f"only jobs in this state ({', '.join(STATES)}); repeatable")
    jobs.add_argument("--task", help="only jobs of this task")
    jobs.add_argument("--owner", help="only jobs started by this owner")
    jobs.add_argument("--limit", type=int, default=limit, metavar="N", help=f"at most N jobs (default {limit})")
    jobs.add_argument("--before", metavar="ID", help="the page after this job (the last id of the previous page)")
    _json_flag(jobs)
    show = verb("show", "one job: arguments, progress, logs, error with its traceback, times")
    show.add_argument("id", help="the job's id")
    _json_flag(show)
    retry = verb("retry", "start a failed or canceled job again, as a new job; prints its id")
    retry.add_argument("id", help="the failed or canceled job's id")
    cancel = verb("cancel", "cancel a queued job, or ask a running one to stop")
    cancel.add_argument("id", help="the job's id")
    _json_flag(verb("stats", "counts per task and state, oldest queued job, workers, throughput"))
    _json_flag(verb("workers", "the workers: heartbeat, threads, the jobs they run"))
    purge = verb("purge", "delete finished jobs (their counts stay in the metrics' totals)")
    purge.add_argument("--state", action="append", metavar="STATE",
                       help=f"only jobs in this state ({', '.join(FINISHED)}; default all three); repeatable")
    purge.add_argument("--older-than", metavar="DURATION",
                       help="only jobs that finished longer ago than this: 30s, 15m, 12h, 7d, 2w")
    purge.add_argument("--all", action="store_true", help="no age limit: every finished job (of --state)")
    purge.add_argument("--task", help="only jobs of this task")


def run(options: argparse.Namespace, queue: Queue) -> int:
    """Run the operator sub-command ``options.command`` on ``queue``; returns the exit code."""
    try:
        VERBS[options.command](queue, options)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader left (``jobs ... | head``): what it did not read is of no use to anyone.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:
        code = code_of(exc)
        if code is None and isinstance(exc, queue.store.errors):
            code = EXIT_FAILED
        if code is None:
            raise
        return report(exc, code)
    return EXIT_OK


def parse_duration(text: str) -> float:
    """``"30s"``, ``"15m"``, ``"12h"``, ``"7d"``, ``"2w"`` (or ``"1.5h"``) in seconds."""
    match = DURATION.fullmatch(text.strip())
    if not match:
        raise ValueError(f"--older-than must be a duration such as 30s, 15m, 12h or 7d, not {text!r}")
    return float(match[1]) * UNIT_SECONDS[match[2]]


def _jobs(queue: Queue, options: argparse.Namespace) -> None:
    found = queue.jobs(state=options.state, task=options.task, limit=options.limit, owner=options.owner,
                       before=options.before)
    if options.json:
        return _print_json([_job_json(job) for job in found])
    width = max((len(job.task) for job in found), default=0)
    for job in found:
        error = _short(f"{job.error.type}: {job.error.message}") if job.error else ""
        print(f"{job.id}  {job.state:<9}  {job.task:<{width}}  {_when(job.created_at)}"
              f"  attempts={job.attempts}  {error}".rstrip())


def _show(queue: Queue, options: argparse.Namespace) -> None:
    job = queue.get(options.id)
    if options.json:
        return _print_json(_job_json(job))
    state = job.state + (" (cancel requested)" if job.cancel_requested and job.state == RUNNING else "")
    finished = _when(job.finished_at)
    if job.finished_at and job.started_at:
        finished += f" (took {age((job.finished_at - job.started_at).total_seconds())})"
    fields = [("id", job.id), ("task", job.task), ("state", state), ("attempts", job.attempts),
              ("args", json.dumps(job.args)), ("kwargs", json.dumps(job.kwargs)),
              ("owner", job.owner), ("key", job.key), ("retry_of", job.retry_of),
              ("created", _when(job.created_at)), ("started", _when(job.started_at)),
              ("finished", finished),
              ("progress", _progress(job)),
              ("result", json.dumps(job.result) if job.state == "succeeded" else None),
              ("logs", count(len(job.logs), "line") + (f" ({job.logs_dropped} older dropped)"
                                                         if job.logs_dropped else ""))]
    for name, value in fields:
        print(f"{name:<9} {'-' if value is None or value == '' else value}")
    for line in job.logs:
        print(f"  {_when(line.ts)}  {line.level:<7}  {line.message}")
    if job.error:
        print(f"{'error':<9} " + f"{job.error.type}: {job.error.message}".replace("\n", "\n" + " " * 10))
        for line in (job.error.traceback or "").rstrip().splitlines():
            print(f"  {line}")


def _retry(queue: Queue, options: argparse.Namespace) -> None:
    print(queue.retry(options.id).id)


def _cancel(queue: Queue, options: argparse.Namespace) -> None:
    job = queue.cancel(options.id)
    print(f"{job.id}  {job.state}" + ("  (cancel requested: it stops at its next check)"
                                      if job.state == RUNNING else ""))


def _stats(queue: Queue, options: argparse.Namespace) -> None:
    stats = queue.stats()
    if options.json:
        return _print_json(stats)
    rows = [["task", *STATES]]
    rows += [[task, *(str(counts.get(state, 0)) for state in STATES)]
             for task, counts in sorted(stats["counts"].items())]
    rows.append(["all", *(str(stats["states"][state]) for state in STATES)])
    widths = [max(len(cell) for cell in column) for column in zip(*rows, strict=True)]
    for row in rows:
        print("  ".join([row[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True))]))
    oldest = stats["oldest_queued_age"]
    hour = {state: sum(minute[state] for minute in stats["throughput"]) for state in FINISHED}
    now = stats["throughput"][-1]
    live = sum(worker["live"] for worker in stats["workers"])
    print()
    print(f"oldest queued    {'none queued' if oldest is None else age(oldest) + ' ago'}")
    print(f"failures (24 h)  {stats['failures_24h']}")
    print(f"last 60 min      {_finished(hour)} ({sum(hour.values()) / 60:.1f}/min)")
    print(f"this minute      {_finished(now)}")
    print(f"workers          {live} live" + (f", {len(stats['workers']) - live} silent"
                                              if live < len(stats["workers"]) else ""))
    _print_workers(queue, stats["workers"], indent="  ")


def _workers(queue: Queue, options: argparse.Namespace) -> None:
    workers = queue.workers()
    if options.json:
        return _print_json(workers)
    _print_workers(queue, workers)


def _print_workers(queue: Queue, workers: list[dict[str, Any]], indent: str = "") -> None:
    for worker in workers:
        print(f"{indent}{worker['id']}  {worker['hostname']}  pid={worker['pid']}  threads={worker['threads']}"
              f"  started {_when(worker['started_at'])}  heartbeat {age(worker['heartbeat_age'])} ago"
              f"  running={len(worker['running'])}" + ("" if worker["live"] else "  (silent: presumed dead)"))
        for job in worker["running"]:
            print(f"{indent}  {job['id']}  {job['task']}  since {_when(job['started_at'])}")


def _finished(counts: dict[str, int]) -> str:
    return ", ".join(f"{counts[state]} {state}" for state in FINISHED)


def _purge(queue: Queue, options: argparse.Namespace) -> None:
    if options.all == (options.older_than is not None):
        raise ValueError("purge needs --older-than DURATION (such as 7d) or --all, and not both")
    older_than = None if options.all else parse_duration(options.older_than)
    deleted = queue.purge(**({"states": options.state} if options.state else {}), older_than=older_than,
                          task=options.task)
    print(f"{count(deleted, 'job')} deleted")


VERBS: dict[str, Callable[[Queue, argparse.Namespace], None]] = {
    "jobs": _jobs, "show": _show, "retry": _retry, "cancel": _cancel,
    "stats": _stats, "workers": _workers, "purge": _purge,
}


def _verb(subparsers: Any, name: str, help: str, queue_argument: bool, epilog: str) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(name, help=help, description=help, epilog=epilog,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    if queue_argument:
        add_queue_argument(parser)
    return parser


def _json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def _job_json(job: Job) -> dict[str, Any]:
    """The HTTP API's shape, plus what only operators see: arguments, owner, traceback."""
    shape = {**job.to_dict(), "args": job.args, "kwargs": job.kwargs, "owner": job.owner}
    if job.error:
        shape["error"]["traceback"] = job.error.traceback
    return shape


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2))


def _progress(job: Job) -> str | None:
    progress = job.progress
    if progress.current is None and progress.message is None:
        return None
    text = "" if progress.current is None else f"{progress.current:g}"
    if progress.total is not None:
        text += f"/{progress.total:g}"
    if shown := percent(progress.current, progress.total):
        text += f" ({shown})"
    return f"{text} {progress.message or ''}".strip()


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= ERROR_WIDTH else text[:ERROR_WIDTH - 3] + "..."


def _when(moment: datetime | str | None) -> str | None:
    """To the second, in UTC: one word, so that ``jobs`` lines split into columns."""
    return iso(moment, "seconds")
