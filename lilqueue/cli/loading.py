"""The Queue a command line names: ``module:attribute`` (a dotted attribute path too), or a
module holding exactly one Queue.

    queue = load_queue("app:queue")       # raises QueueNotFound, saying what is wrong

With ``DJANGO_SETTINGS_MODULE`` set, Django is set up first (``django.setup()``), so a Django
site's task modules can import its models (``manage.py lilqueue`` does the same).
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


def examples(template: str, prog: str, queue_argument: bool) -> str:
    """Help examples written for the command as it is called: ``{prog}`` its name,
    ``{queue}`` the queue argument where it takes one (``manage.py lilqueue`` knows its queue)."""
    return template.format(prog=prog, queue=" app:queue" if queue_argument else "")


def load_queue(spec: str) -> Queue:
    """Import ``module:attribute`` (or a module holding exactly one Queue) and return the Queue."""
    module_name, _, attr = spec.partition(":")
    if not module_name or module_name.startswith("."):  # import_module raises ValueError/TypeError
        raise QueueNotFound(spec, f"{spec!r} does not name a module: use module:attribute")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    if os.environ.get("DJANGO_SETTINGS_MODULE"):
        _set_django_up(spec)
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


def _set_django_up(spec: str) -> None:
    try:
        import django

        django.setup()
    except ImportError as exc:
        raise QueueNotFound(spec, f"DJANGO_SETTINGS_MODULE is set but Django cannot be set up: {exc}") from exc
    except Exception as exc:  # ImproperlyConfigured, or an error in the settings module
        raise QueueNotFound(spec, f"Django cannot be set up ({type(exc).__name__}: {exc});"
                                  " python manage.py lilqueue worker says more") from exc
