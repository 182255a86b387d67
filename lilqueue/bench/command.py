"""``python -m lilqueue bench``: which engines to measure, and the tables it prints.

    python -m lilqueue bench [--quick] [--engine E] [--postgres URL] [--json FILE]

``--engine`` (or ``$LILQUEUE_BENCH_ENGINE``): ``auto`` (the default) measures SQLite, and
PostgreSQL too when a server answers at the URL; when none does it says so in one line and
measures SQLite only (also under CI=true: the test suite, not the benchmark, insists on
PostgreSQL there). ``sqlite``, ``postgres`` and ``both`` measure what they say; ``postgres`` and
``both`` fail when the server does not answer. ``--postgres`` (or ``$LILQUEUE_BENCH_POSTGRES``,
else ``$LILQUEUE_TEST_POSTGRES``, else ``postgresql://postgres@127.0.0.1:5432/test``): the
server; each contestant gets a fresh schema there, dropped afterwards. ``--json FILE`` (``-``:
standard output, the tables then going to stderr) also writes every figure as JSON
(``report.py``); a FILE that cannot be written is an error before anything is measured.

Each engine's table is followed by its "flat costs as the table grows" figures (``growth.py``);
SQLite's then by the web faces on one uvicorn process, the ASGI face beside the WSGI face through
a2wsgi (``asgi.py``; left out in one line when uvicorn or a2wsgi is not installed).
SIGTERM stops a run as Ctrl-C does: its worker and web processes are stopped and its schemas
dropped before it exits (143).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

from .figures import Figure, Plan, render
from .pgserver import server_url, unreachable
from .report import STDOUT, Report, unwritable

ENGINES = ("auto", "sqlite", "postgres", "both")
EXIT_ERROR = 2
EXIT_TERMINATED = 128 + signal.SIGTERM


def choose(engine: str, url: str) -> tuple[list[str], str | None]:
    """The engines to measure, and a note to print; raises ValueError for an unusable choice."""
    if engine not in ENGINES:
        raise ValueError(f"--engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if engine == "sqlite":
        return ["sqlite"], None
    why = unreachable(url)
    if why is None:
        return (["postgres"] if engine == "postgres" else ["sqlite", "postgres"]), None
    if engine == "auto":
        return ["sqlite"], f"PostgreSQL: {why}; measuring SQLite only ($LILQUEUE_BENCH_POSTGRES names a server)"
    raise ValueError(f"--engine {engine}: {why}")


def main(quick: bool, engine: str | None = None, postgres: str | None = None,
         json_path: str | None = None) -> int:
    problem = None if json_path is None else unwritable(json_path)
    if problem:
        print(f"lilqueue bench: {problem}", file=sys.stderr)
        return EXIT_ERROR
    url = server_url(postgres)
    try:
        engines, note = choose(engine or os.environ.get("LILQUEUE_BENCH_ENGINE") or "auto", url)
    except ValueError as exc:
        print(f"lilqueue bench: {exc}", file=sys.stderr)
        return EXIT_ERROR
    plan = Plan.quick() if quick else Plan.full()
    report = Report("quick" if quick else "full")
    stdout = sys.stdout
    # With the JSON on standard output, everything else goes to stderr: stdout stays pure JSON.
    with contextlib.redirect_stdout(sys.stderr) if json_path == STDOUT else contextlib.nullcontext():
        if note:
            print(note)
        try:
            with _terminable():
                measure(engines, plan, url, report)
        except _Terminated:
            print("lilqueue bench: stopped by SIGTERM", file=sys.stderr)
            return EXIT_TERMINATED
    if json_path is not None:
        try:
            report.write(json_path, stdout)
        except OSError as exc:
            print(f"lilqueue bench: --json {json_path}: cannot write there ({exc.strerror})", file=sys.stderr)
            return EXIT_ERROR
    return 0


def measure(engines: list[str], plan: Plan, url: str, report: Report) -> None:
    """Measure ``engines``, print their tables, and add their figures to ``report``."""
    from .growth import postgres_growth, sqlite_growth

    if "sqlite" in engines:
        from .run import run

        figures = run(plan)
        print()
        print(render(figures))
        print("\nratio > 1: lilqueue better (more jobs/s, or less time/CPU/memory)")
        report.add("sqlite", figures, "SqliteHuey")
        print()
        _growth(report, "sqlite", sqlite_growth(plan), plan)
        print()
        _faces(report, plan)
    if "postgres" in engines:
        from .pgrun import run_postgres

        if "sqlite" in engines:
            print()
        figures = run_postgres(plan, url)
        print()
        print(render(figures, peer="PostgresHuey"))
        print("\nratio > 1: lilqueue on PostgreSQL better than raw PostgresHuey")
        report.add("postgres", figures, "PostgresHuey")
        print()
        _growth(report, "postgres", postgres_growth(plan, url), plan)


def _growth(report: Report, engine: str, figures: list[Figure], plan: Plan) -> None:
    print()
    print(render(figures, peer="empty table", ours=f"{plan.growth_rows:,} jobs"))
    print("\nratio: speed on the full table / on the empty one (1.0x: flat)")
    report.add(engine, figures, "empty table")


def _faces(report: Report, plan: Plan) -> None:
    from .asgi import PEER, asgi_vs_wsgi, missing

    why = missing()
    if why:
        print(why)
        return
    figures = asgi_vs_wsgi(plan)
    print()
    print(render(figures, peer=PEER, ours="ASGI face"))
    print("\nratio > 1: the ASGI face better; both under uvicorn on SQLite, one process")
    report.add("sqlite", figures, PEER)


class _Terminated(BaseException):
    """SIGTERM during a run: unwinds it like KeyboardInterrupt, through every cleanup."""


@contextlib.contextmanager
def _terminable():
    received = []

    def terminated(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, previous)  # a second SIGTERM ends the cleanup too
        received.append(signum)
        raise _Terminated

    try:
        previous = signal.signal(signal.SIGTERM, terminated)
    except ValueError:  # not the main thread: leave the signal alone
        yield
        return
    try:
        yield
    except Exception as exc:
        # The signal can land inside a query; the driver's cleanup then fails ("another command
        # is already in progress") and its error replaces ours. It is still a stop by SIGTERM.
        if received:
            raise _Terminated from exc
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
