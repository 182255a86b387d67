"""``python -m lilqueue``: the parser of every verb, and ``main``, which loads the queue a verb
names, runs the verb and returns its exit code.

    python -m lilqueue worker app:queue --threads 4    # processes.py: worker, serve
    python -m lilqueue jobs app:queue --state failed   # operators.py: jobs, show, retry, ...
    python -m lilqueue bench --quick                   # lilqueue.bench, imported for it alone

    main(["worker"], prog="manage.py lilqueue", queue=queue)   # a framework's command: the queue known
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from ..errors import QueueNotFound
from ..queue import Queue
from . import operators, processes
from .exits import EXIT_NO_QUEUE, LEGEND, report
from .loading import examples, load_queue

DESCRIPTION = "Background jobs with live progress, on a SQLite file or on PostgreSQL."
EXAMPLES = processes.EXAMPLES + operators.EXAMPLES + "  {prog} bench --quick\n"


def build_parser(prog: str = "python -m lilqueue", queue_argument: bool = True) -> argparse.ArgumentParser:
    epilog = "examples:\n" + examples(EXAMPLES, prog, queue_argument) + "\n" + LEGEND
    parser = argparse.ArgumentParser(prog=prog, epilog=epilog, description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    commands = parser.add_subparsers(dest="command", required=True)
    processes.add_commands(commands, queue_argument, prog)
    operators.add_commands(commands, queue_argument, prog)
    bench = commands.add_parser("bench", help="measure lilqueue against raw Huey (SqliteHuey, PostgresHuey)"
                                                  " side by side")
    bench.add_argument("--quick", action="store_true", help="a short run (about two minutes), as CI does")
    bench.add_argument("--engine", choices=("auto", "sqlite", "postgres", "both"), default=None,
                       help="auto (default): SQLite, and PostgreSQL too when a server answers")
    bench.add_argument("--postgres", metavar="URL", default=None,
                       help="the PostgreSQL server (default: $LILQUEUE_BENCH_POSTGRES, else 127.0.0.1:5432)")
    bench.add_argument("--json", metavar="FILE", dest="json_path", default=None,
                       help="also write every figure to FILE as JSON (-: standard output, the tables to stderr)")
    return parser


def main(argv: Sequence[str] | None = None, *, prog: str = "python -m lilqueue", queue: Queue | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv``), run the verb; returns the exit code. With
    ``queue``, the verbs take no ``queue`` argument: they act on that one."""
    options = build_parser(prog, queue_argument=queue is None).parse_args(argv)
    logging.basicConfig(level=options.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if options.command == "bench":
        from ..bench import main as bench
        return bench(quick=options.quick, engine=options.engine, postgres=options.postgres,
                     json_path=options.json_path)
    if queue is None:
        try:
            queue = load_queue(options.queue)
        except QueueNotFound as exc:
            return report(exc, EXIT_NO_QUEUE)
    if options.command in processes.VERBS:
        return processes.run(options, queue)
    return operators.run(options, queue)
