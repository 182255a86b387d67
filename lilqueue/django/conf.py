"""``settings.LILQUEUE``: what it may hold, its checks, and the Queue and middleware options it
gives.

    LILQUEUE = {
        "DATABASE": "/srv/mysite/jobs.sqlite3",   # or "postgresql://app@db/app?schema=jobs"
        "RETENTION": 7 * 86400,                    # any Queue option, upper-cased
        "IMMEDIATE": True,                         # tests: each start() runs the job at once
        "ADMIN": "mysite.access.is_operator",      # who sees the dashboard (default: is_staff)
    }

Without ``DATABASE``: Django's default database decides. A SQLite file gets a sibling,
``lilqueue.sqlite3`` in the same directory (an absolute path, whatever the working directory);
PostgreSQL gets the same database, schema ``lilqueue``. Any other engine needs ``DATABASE``.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.utils.module_loading import import_string
from huey import MemoryHuey

from ..errors import ConfigurationError
from ..queue import Queue
from ..settings import MIDDLEWARE, QUEUE
from ..store.pgdatabase import SCHEMES, Location
from .connections import around_job

QUEUE_OPTIONS = {name.upper(): name for name in QUEUE}           # HEARTBEAT_TIMEOUT -> heartbeat_timeout
WEB_OPTIONS = {name.upper(): name for name in MIDDLEWARE}        # MAX_WAITERS, HOLD, WORKER, ...
HOOKS = {"IDENTIFY": "identify", "AUTHORIZE": "authorize", "ADMIN": "admin", "METRICS": "metrics"}
OTHERS = ("DATABASE", "NAME", "IMMEDIATE", "CORS_ORIGINS")
KNOWN = (*OTHERS, *QUEUE_OPTIONS, *WEB_OPTIONS, *HOOKS)
DEFAULT_FILE = "lilqueue.sqlite3"
DEFAULT_SCHEMA = "lilqueue"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with ``LILQUEUE``; ``id`` is the system check's (``lilqueue.E002``)."""
    id: str
    message: str
    hint: str | None = None


def raw() -> Any:
    return getattr(settings, "LILQUEUE", {})


def problems(config: Any) -> list[Problem]:
    """Everything wrong with a ``LILQUEUE`` value, each once; empty when the queue can be built."""
    if not isinstance(config, dict):
        return [Problem("lilqueue.E001", f"LILQUEUE must be a dict, not {type(config).__name__}",
                        'e.g. LILQUEUE = {"DATABASE": BASE_DIR / "jobs.sqlite3"}')]
    found = []
    unknown = sorted(str(k) for k in config if k not in KNOWN)
    if unknown:
        found.append(Problem("lilqueue.E002", f"unknown LILQUEUE option(s): {', '.join(unknown)}",
                             f"options: {', '.join(KNOWN)}"))
    try:
        database(config)
    except ConfigurationError as exc:
        found.append(Problem("lilqueue.E003", f"LILQUEUE['DATABASE']: {exc}",
                             "a file path, or a postgresql:// URL"))
    for key, check in _value_checks(config):
        try:
            check()
        except ConfigurationError as exc:
            found.append(Problem("lilqueue.E004", f"LILQUEUE[{key!r}]: {exc}"))
    for key in HOOKS:
        if key in config:
            try:
                hook(config, key)
            except ConfigurationError as exc:
                found.append(Problem("lilqueue.E005", f"LILQUEUE[{key!r}]: {exc}",
                                     "a callable, or the dotted path of one"))
    return found


def _value_checks(config: dict) -> list[tuple[str, Any]]:
    checks = [(key, lambda key=key: QUEUE.check(QUEUE_OPTIONS[key], config[key]))
              for key in QUEUE_OPTIONS if key in config]
    checks += [(key, lambda key=key: MIDDLEWARE.check(WEB_OPTIONS[key], config[key]))
               for key in WEB_OPTIONS if key in config]
    if "NAME" in config:
        checks.append(("NAME", lambda: _text("NAME", config["NAME"])))
    if "IMMEDIATE" in config:
        checks.append(("IMMEDIATE", lambda: _flag("IMMEDIATE", config["IMMEDIATE"])))
    if "CORS_ORIGINS" in config:
        checks.append(("CORS_ORIGINS", lambda: _origins(config["CORS_ORIGINS"])))
    return checks


def database(config: dict) -> str:
    """Where the jobs live: ``DATABASE``, else beside Django's default database."""
    location = config.get("DATABASE")
    if location is None:
        return default_database()
    if not isinstance(location, (str, os.PathLike)) or not os.fspath(location):
        raise ConfigurationError(f"must be a file path or a postgresql:// URL, not {location!r}")
    location = os.fspath(location)
    if isinstance(location, bytes):
        raise ConfigurationError(f"must be a file path or a postgresql:// URL, not {location!r}")
    if location.startswith(SCHEMES):
        Location.parse(location)
    elif "://" in location and not location.startswith("sqlite:///"):
        raise ConfigurationError(f"unknown database URL {location.split('://')[0]}://..."
                                 " (a file path, sqlite:///path or postgresql://...)")
    return location


@functools.cache
def default_database() -> str:
    """``lilqueue.sqlite3`` beside Django's SQLite file, or Django's PostgreSQL database in
    schema ``lilqueue``. Read once, when Django starts: the test runner later renames
    Django's database (an in-memory one for SQLite), not the queue's."""
    django_db = getattr(settings, "DATABASES", {}).get("default", {})
    engine, name = django_db.get("ENGINE", ""), django_db.get("NAME")
    if engine.endswith("sqlite3") and name and not str(name).startswith((":memory:", "file:")):
        return str(Path(name).resolve().parent / DEFAULT_FILE)
    if engine.endswith("postgresql") and name:
        user = quote(django_db.get("USER") or "", safe="")
        password = quote(django_db.get("PASSWORD") or "", safe="")
        login = f"{user}:{password}@" if password else f"{user}@" if user else ""
        port = f":{django_db['PORT']}" if django_db.get("PORT") else ""
        return f"postgresql://{login}{django_db.get('HOST') or ''}{port}/{quote(name, safe='')}" \
               f"?schema={DEFAULT_SCHEMA}"
    raise ConfigurationError("is needed: Django's default database is neither a SQLite file nor PostgreSQL")


def hook(config: dict, key: str) -> Any:
    """The callable a hook option names (a callable, or its dotted path); None when absent."""
    value = config.get(key)
    if isinstance(value, str):
        try:
            value = import_string(value)
        except ImportError as exc:
            raise ConfigurationError(f"cannot import {config[key]!r}: {exc}") from None
    if value is not None and not callable(value):
        raise ConfigurationError(f"must be callable, not {value!r}")
    return value


def build_queue() -> Queue:
    """The Queue ``LILQUEUE`` describes, or while it is wrong a ``Misconfigured`` one."""
    config = raw()
    found = problems(config)
    if found:
        return Misconfigured(ConfigurationError(f"{found[0].message} (python manage.py check lists them all)"))
    options = {QUEUE_OPTIONS[k]: v for k, v in config.items() if k in QUEUE_OPTIONS}
    return Queue(database(config), name=config.get("NAME", "lilqueue"), immediate=config.get("IMMEDIATE", False),
                 around_job=around_job, **options)


class Misconfigured(Queue):
    """The queue while ``LILQUEUE`` is wrong. Tasks still register on it, so that every module
    imports (a view importing ``tasks.py``) and ``manage.py check`` can list the problems;
    whatever needs the database or an option raises the first problem as ConfigurationError."""

    def __init__(self, error: ConfigurationError) -> None:  # not Queue.__init__: that opens the database
        self.error = error
        self.path, self.name, self.around_job = "", "lilqueue", None
        self.tasks, self.pipelines = {}, {}
        self._immediate = None
        self._registry = MemoryHuey("lilqueue")  # task classes are made on it; nothing ever runs there

    @property
    def store(self) -> Any:
        raise self.error

    @property
    def huey(self) -> Any:
        return self._registry

    def __getattr__(self, name: str) -> Any:
        raise self.error

    def __repr__(self) -> str:
        return f"<Queue misconfigured: {self.error}>"


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{name} must be a non-empty string, not {value!r}")
    return value


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigurationError(f"{name} must be True or False, not {value!r}")
    return value


def _origins(value: Any) -> list[str]:
    origins = [value] if isinstance(value, str) else value
    if not isinstance(origins, (list, tuple)) or not all(isinstance(o, str) for o in origins):
        raise ConfigurationError(f"CORS_ORIGINS must be a list of origins, not {value!r}")
    return list(origins)
