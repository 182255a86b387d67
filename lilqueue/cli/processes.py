"""The verbs that keep a process running: ``worker`` runs jobs; ``serve`` serves the queue's
HTTP endpoints on a threaded server, with a worker in the same process when asked.

    python -m lilqueue worker app:queue --threads 4 --grace 30
    python -m lilqueue serve app:queue --port 8000 --worker 2

Every flag that sets an option of ``Queue.worker`` or ``Queue.middleware`` takes its default
and its help from the table in ``settings.py``.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import ConfigurationError
from ..queue import Queue
from ..settings import MIDDLEWARE, WORKER, Options
from .exits import EXIT_OK, EXIT_USAGE, report
from .loading import add_queue_argument, examples

VERBS = ("worker", "serve")
EXAMPLES = """\
  {prog} worker{queue}
  {prog} worker{queue} --threads 4 --grace 30
  {prog} serve{queue} --port 8000 --prefix /jobs
  {prog} serve{queue} --worker 2   (one process: the endpoints and a worker)
"""
MODULE_EXAMPLE = "  {prog} worker myproject.jobs        (a module holding a single Queue)\n"


def help_examples(prog: str, queue_argument: bool) -> str:
    return examples(EXAMPLES + (MODULE_EXAMPLE if queue_argument else ""), prog, queue_argument)


def add_commands(subparsers: Any, queue_argument: bool = True, prog: str = "python -m lilqueue") -> None:
    """Add ``worker`` and ``serve`` to ``python -m lilqueue``'s sub-parsers (without the
    ``queue`` argument where the queue is known: ``manage.py lilqueue``)."""
    epilog = "examples:\n" + help_examples(prog, queue_argument)
    worker = subparsers.add_parser("worker", help="run jobs", epilog=epilog,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    if queue_argument:
        add_queue_argument(worker)
    _flag(worker, WORKER, "threads", "--threads", "--workers")
    _flag(worker, WORKER, "grace")
    _flag(worker, WORKER, "poll_interval")
    serve = subparsers.add_parser("serve", help="serve the HTTP endpoints on a threaded server",
                                  epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    if queue_argument:
        add_queue_argument(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    serve.add_argument("--prefix", default="/jobs", help="URL prefix of the endpoints (default /jobs)")
    _flag(serve, MIDDLEWARE, "max_waiters")
    serve.add_argument("--worker", type=int, default=0, metavar="THREADS",
                       help="also run a worker with this many threads in the same process (default 0: none)")


def run(options: argparse.Namespace, queue: Queue) -> int:
    """Run ``worker`` or ``serve`` until it is stopped; returns the exit code."""
    try:
        if options.command == "serve":
            return serve(queue, options.host, options.port, options.prefix, options.max_waiters, options.worker)
        queue.worker(threads=options.threads, grace=options.grace, poll_interval=options.poll_interval).run()
    except ConfigurationError as exc:
        return report(exc, EXIT_USAGE)
    return EXIT_OK


def serve(queue: Queue, host: str, port: int, prefix: str, max_waiters: int, worker: int) -> int:
    """``python -m lilqueue serve``: the queue's middleware on a threaded server, and a worker
    in the same process when ``worker`` threads are asked for."""
    from ..web import server

    app = queue.middleware(prefix=prefix, max_waiters=max_waiters, worker=worker or False)

    def ready(listening: server.ThreadingWSGIServer) -> None:
        print(f"lilqueue: serving http://{host}:{listening.server_port}{prefix.rstrip('/')}/"
              " (Ctrl-C to stop)", flush=True)

    if app.embedded is not None:
        app.embedded.start()  # jobs started elsewhere run before this server's first request
    try:
        server.serve(app, host, port, ready=ready)
    finally:
        app.close()
    return EXIT_OK


def _flag(parser: argparse.ArgumentParser, table: Options, name: str, *flags: str) -> None:
    """A flag for option ``name`` of ``table``: its type, default and help from the table."""
    option = table[name]
    parser.add_argument(*(flags or ["--" + name.replace("_", "-")]), dest=name, type=type(option.default),
                        default=option.default, help=f"{option.help} (default {option.default:g})")
