"""``python -m lilqueue``: the worker, the web server, the operators' verbs (``commands.py``)
and the benchmark.

Every flag that sets an option of ``Queue.worker`` or ``Queue.middleware`` takes its default
and its help from the table in ``settings.py``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from . import commands as verbs
from .commands import EXIT_OK, EXIT_USAGE
from .errors import ConfigurationError, QueueNotFound
from .queue import Queue
from .settings import MIDDLEWARE, WORKER, Options

EXIT_NO_QUEUE = 3   # the module:attribute given does not lead to a Queue (0, 2, 4, 5: commands.py)

EPILOG = """examples:
  python -m lilqueue worker app:queue
  python -m lilqueue worker app:queue --threads 4 --grace 30
  python -m lilqueue worker myproject.jobs        (a module holding a single Queue)
  python -m lilqueue serve app:queue --port 8000 --prefix /jobs
  python -m lilqueue serve app:queue --worker 2   (one process: the endpoints and a worker)
  python -m lilqueue bench --quick
"""


def load_queue(spec: str) -> Queue:
    """Import ``module:attribute`` (or a module holding exactly one Queue) and return the Queue."""
    module_name, _, attr = spec.partition(":")
    if not module_name or module_name.startswith("."):  # import_module raises ValueError/TypeError
        raise QueueNotFound(spec, f"{spec!r} does not name a module: use module:attribute")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise QueueNotFound(spec, f"cannot import module {module_name!r}: {exc}") from exc
    if attr:
        found, path = module, module_name
        for part in attr.split("."):
            if not hasattr(found, part):
                raise QueueNotFound(spec, f"{path!r} has no attribute {part!r}")
            found, path = getattr(found, part), f"{path}.{part}"
        if not isinstance(found, Queue):
            raise QueueNotFound(spec, f"{spec!r} is not a lilqueue.Queue (found {type(found).__name__})")
        return found
    queues = [v for v in vars(module).values() if isinstance(v, Queue)]
    if len(queues) != 1:
        raise QueueNotFound(spec, f"module {module_name!r} holds {len(queues)} Queue objects;"
                                  " name one as module:attribute")
    return queues[0]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lilqueue", epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     description="Background jobs with live progress, on one SQLite file.")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    commands = parser.add_subparsers(dest="command", required=True)
    worker = commands.add_parser("worker", help="run jobs", epilog=EPILOG,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    worker.add_argument("queue", help="module:attribute of the Queue (or a module with one Queue)")
    _flag(worker, WORKER, "threads", "--threads", "--workers")
    _flag(worker, WORKER, "grace")
    _flag(worker, WORKER, "poll_interval")
    serve = commands.add_parser("serve", help="serve the HTTP endpoints on a threaded server",
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    serve.add_argument("queue", help="module:attribute of the Queue (or a module with one Queue)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    serve.add_argument("--prefix", default="/jobs", help="URL prefix of the endpoints (default /jobs)")
    _flag(serve, MIDDLEWARE, "max_waiters")
    serve.add_argument("--worker", type=int, default=0, metavar="THREADS",
                       help="also run a worker with this many threads in the same process (default 0: none)")
    verbs.add_commands(commands)
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


def _flag(parser: argparse.ArgumentParser, table: Options, name: str, *flags: str) -> None:
    """A flag for option ``name`` of ``table``: its type, default and help from the table."""
    option = table[name]
    parser.add_argument(*(flags or ["--" + name.replace("_", "-")]), dest=name, type=type(option.default),
                        default=option.default, help=f"{option.help} (default {option.default:g})")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    options = parser.parse_args(argv)
    logging.basicConfig(level=options.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if options.command == "bench":
        from .bench import main as bench
        return bench(quick=options.quick, engine=options.engine, postgres=options.postgres,
                     json_path=options.json_path)
    try:
        queue = load_queue(options.queue)
    except QueueNotFound as exc:
        print(f"lilqueue: {exc}", file=sys.stderr)
        return EXIT_NO_QUEUE
    if options.command in verbs.VERBS:
        return verbs.run(options, queue)
    try:
        if options.command == "serve":
            return serve(queue, options.host, options.port, options.prefix, options.max_waiters, options.worker)
        queue.worker(threads=options.threads, grace=options.grace, poll_interval=options.poll_interval).run()
    except ConfigurationError as exc:
        print(f"lilqueue: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def serve(queue: Queue, host: str, port: int, prefix: str, max_waiters: int, worker: int) -> int:
    """``python -m lilqueue serve``: the queue's middleware on a threaded server, and a worker
    in the same process when ``worker`` threads are asked for."""
    from .web import server

    app = queue.middleware(prefix=prefix, max_waiters=max_waiters, worker=worker or False)

    def ready(listening: server.ThreadingWSGIServer) -> None:
        print(f"lilqueue: serving http://{host}:{listening.server_port}{prefix.rstrip('/')}/"
              " (Ctrl-C to stop)", flush=True)

    if app.embedded is not None:
        app.embedded.ensure()  # jobs started elsewhere run before this server's first request
    try:
        server.serve(app, host, port, ready=ready)
    finally:
        app.close()
    return EXIT_OK
