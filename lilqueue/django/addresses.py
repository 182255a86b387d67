"""Where a worker finds a Django task again, and the closed door it keeps: only a Django
``Task`` at the recorded module path runs.

    where = address(build_report, "default")
    # {"module": "reports.tasks", "name": "build_report", "queue": "default", "backend": "default"}
    resolve(where) is build_report
"""

from __future__ import annotations

import importlib
from typing import Any

from .tasks_api import InvalidTask, Task


def address(task: Any, alias: str) -> dict[str, str]:
    """``task``'s module and name, and the backend and queue it is enqueued on."""
    return {"module": task.func.__module__, "name": task.func.__qualname__, "queue": task.queue_name,
            "backend": alias}


def resolve(where: Any) -> Any:
    """The Django ``Task`` at ``where``'s module and name, or InvalidTask. Nothing but that
    module is imported, and nothing found there is used unless it is a ``Task`` whose function
    lives at that very path: not a plain function, not a class, not a task re-exported from
    another module."""
    if not isinstance(where, dict) or not all(isinstance(where.get(k), str) for k in ("module", "name")):
        raise InvalidTask(f"not the address of a Django task: {where!r}")
    path = f"{where['module']}.{where['name']}"
    try:
        found: Any = importlib.import_module(where["module"])
        for part in where["name"].split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError, TypeError, ValueError) as exc:  # relative or empty names too
        raise InvalidTask(f"no Django task at {path!r}: {exc}") from None
    if not isinstance(found, Task) or found.module_path != path:
        raise InvalidTask(f"{path!r} is not a Django task (a function decorated with @task): it is not run")
    return found
