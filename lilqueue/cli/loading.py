"""The Queue a command line names: ``module:attribute`` (a dotted attribute path too), or a
module holding exactly one Queue.

    queue = load_queue("app:queue")       # raises QueueNotFound, saying what is wrong
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from ..errors import QueueNotFound
from ..queue import Queue


def add_queue_argument(parser: argparse.ArgumentParser) -> None:
    """The positional ``queue`` argument every verb but ``bench`` takes."""
    parser.add_argument("queue", help="module:attribute of the Queue (or a module with one Queue)")


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
