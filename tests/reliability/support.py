"""Helpers of the reliability suite: reading the SQLite file and the execution records
directly, without lilqueue, so a check does not trust the code it checks."""

from __future__ import annotations

import collections
import os
import pickle
import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, wait_for

FINISHED = ("succeeded", "failed", "canceled")


def rows(db_path: str, sql: str, params=()) -> list[tuple]:
    conn = sqlite3.connect(db_path, timeout=30)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def states(db_path: str) -> dict[str, str]:
    return dict(rows(db_path, "select id, state from lilqueue_job"))


def count_state(db_path: str, state: str) -> int:
    return rows(db_path, "select count(*) from lilqueue_job where state = ?", (state,))[0][0]


def unfinished(db_path: str) -> int:
    return rows(db_path, "select count(*) from lilqueue_job where state in ('queued', 'running')")[0][0]


def integrity(db_path: str) -> str:
    return rows(db_path, "pragma integrity_check")[0][0]


def runs(db_path: str) -> dict[str, list[tuple[int, str]]]:
    """job id -> [(attempt, event)] from the lines the ``recorded``/``show_pid`` tasks append."""
    found: dict[str, list[tuple[int, str]]] = collections.defaultdict(list)
    path = db_path + ".runs"
    if not os.path.exists(path):
        return found
    with open(path) as lines:
        for line in lines:
            job_id, attempt, event, _pid = line.split()
            found[job_id].append((int(attempt), event))
    return found


def duplicates(db_path: str) -> list[str]:
    """Jobs some attempt of which started twice, or that ran to the end twice."""
    bad = []
    for job_id, events in runs(db_path).items():
        starts = [a for a, e in events if e == "start"]
        ends = [a for a, e in events if e == "end"]
        if len(starts) != len(set(starts)) or len(ends) > 1:
            bad.append(job_id)
    return bad


def wait_until(predicate, timeout: float, interval: float = 0.05, what: str = "condition"):
    """``wait_for`` with the slower polling these heavier tests want."""
    return wait_for(predicate, timeout, interval, what)


class ServerProcess:
    """``python -m lilqueue serve tests.tasks:queue --port 0`` in its own process group."""

    def __init__(self, db_path: str, log_path: Path, log_level: str = "info") -> None:
        self.log_path = log_path
        self._log = open(log_path, "ab")
        env = dict(os.environ, LILQUEUE_TEST_DB=db_path, PYTHONUNBUFFERED="1")
        command = [sys.executable, "-m", "lilqueue", "--log-level", log_level, "serve", "tests.tasks:queue",
                   "--port", "0"]
        self.process = subprocess.Popen(command, cwd=ROOT, env=env,
                                        stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        found = wait_until(self._address, timeout=20, interval=0.02, what="server listening")
        self.base, self.prefix = found

    def _address(self):
        if self.process.poll() is not None:
            raise AssertionError(f"server exited with {self.process.returncode}:\n{self.output()}")
        for line in self.output().splitlines():
            if "serving http://" in line:
                url = line.split("serving ", 1)[1].split()[0].rstrip("/")
                scheme, _, rest = url.partition("://")
                host, _, path = rest.partition("/")
                return f"{scheme}://{host}", "/" + path
        return None

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(10)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except Exception:
                pass
        self.kill()
        self._log.close()


def messages_by_job(db_path: str) -> collections.Counter:
    """How many Huey messages (queued or scheduled) each job id has."""
    found: collections.Counter = collections.Counter()
    for table in ("task", "schedule"):
        for (data,) in rows(db_path, f"select data from {table}"):
            found[pickle.loads(data).id] += 1  # Huey's default serializer: a pickled Message
    return found


def stray_tracebacks(log: str) -> list[str]:
    """The records of a worker's log that carry a traceback, other than a failed task's: the
    worker logs those on purpose, once each, after its line "job ID TASK failed after ..."."""
    records = re.split(r"(?m)^(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} )", log)
    return [r for r in records if "Traceback (most recent call last)" in r
            and not re.match(r"\S+ \S+ (ERROR|WARNING) lilqueue\.worker: job \S+ \S+ failed after ", r)]
