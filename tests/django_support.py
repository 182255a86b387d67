"""Running the test project as its users would: ``manage.py`` commands as processes, on a
Django database of the test's own and lilqueue's database of the test's engine.

    site = Site(tmp_path, db_path)       # migrated
    site.manage("lilqueue", "stats")     # a CompletedProcess
    site.shell("print(1)")
    worker = site.worker(tmp_path / "worker.log", "--threads", "1")   # manage.py lilqueue worker
    first_event(base, f"/jobs/{job_id}/events")   # b"id: 3\nevent: job\ndata: {...}\n\n"
"""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from tests.conftest import WorkerProcess
from tests.servers.harness import ServerProcess, free_port

ROOT = Path(__file__).resolve().parents[1]
MANAGE = ROOT / "tests" / "djangoproject" / "manage.py"


class Site:
    def __init__(self, tmp_path: Path, lilqueue_db: str | None = None, migrate: bool = True) -> None:
        self.tmp_path = tmp_path
        self.env = dict(os.environ, DJANGO_DB=str(tmp_path / "db.sqlite3"), PYTHONUNBUFFERED="1",
                        DJANGO_SETTINGS_MODULE="tests.djangoproject.settings")
        if lilqueue_db is not None:
            self.env["LILQUEUE_TEST_DB"] = lilqueue_db
        if migrate:
            self.manage("migrate", "-v0", check=True)

    def command(self, *args: str) -> list[str]:
        return [sys.executable, str(MANAGE), *args]

    def manage(self, *args: str, check: bool = False, env: dict | None = None) -> subprocess.CompletedProcess:
        done = subprocess.run(self.command(*args), cwd=ROOT, env=env or self.env, capture_output=True, text=True,
                              timeout=60)
        if check and done.returncode:
            raise AssertionError(f"manage.py {' '.join(args)} ended with {done.returncode}:\n{done.stderr}")
        return done

    def worker(self, log_path: Path, *args: str) -> WorkerProcess:
        """A real ``manage.py lilqueue worker`` process (stopped by its ``close()``)."""
        return ManageWorker(self, log_path, list(args))

    def shell(self, code: str) -> str:
        return self.manage("shell", "-c", code, check=True).stdout.splitlines()[-1]  # after its banner


class ManageWorker(WorkerProcess):
    def __init__(self, site: Site, log_path: Path, args: list[str]) -> None:
        self.db_path = site.env.get("LILQUEUE_TEST_DB", "")
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.process = subprocess.Popen(site.command("lilqueue", "worker", *args), cwd=ROOT, env=site.env,
                                        stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)


def first_event(base: str, path: str, timeout: float = 10.0) -> bytes:
    """The first event of the stream at ``path``, as bytes (its ``data:`` line included)."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request("GET", path)
        answer = conn.getresponse()
        assert (answer.status, answer.headers["Content-Type"].split(";")[0]) == (200, "text/event-stream")
        data = b""
        while b"\ndata:" not in data or not data.endswith(b"\n\n"):
            data += answer.read1(65536)
        return data
    finally:
        conn.close()


def demo_server(tmp_path: Path) -> ServerProcess:
    """demo/django_project started by its one command (runserver, migrating first), on a Django
    database of the test's own; lilqueue's file lands beside it. Then ``wait_ready("/")``."""
    port = free_port()
    return ServerProcess([sys.executable, "demo/django_project/manage.py", "runserver", f"127.0.0.1:{port}",
                          "--noreload"], port, tmp_path / "server.log",
                         dict(os.environ, DEMO_DB=str(tmp_path / "db.sqlite3")))
