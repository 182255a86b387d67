"""Helpers of the reliability suite: reading the database and the execution records
directly, without lilqueue, so a check does not trust the code it checks. Every helper works on
both engines (a SQLite file, or a PostgreSQL URL with its own schema; see tests/engines.py)."""

from __future__ import annotations

import collections
import os
import pickle
import random
import re
import signal
import subprocess
import sys
from pathlib import Path

from tests import engines
from tests.conftest import ROOT, wait_for

FINISHED = ("succeeded", "failed", "canceled")


def rows(db_path: str, sql: str, params=()) -> list[tuple]:
    return engines.sql(db_path, sql, params)


def states(db_path: str) -> dict[str, str]:
    return dict(rows(db_path, "select id, state from lilqueue_job"))


def count_state(db_path: str, state: str) -> int:
    return rows(db_path, "select count(*) from lilqueue_job where state = ?", (state,))[0][0]


def unfinished(db_path: str) -> int:
    return rows(db_path, "select count(*) from lilqueue_job where state in ('queued', 'running')")[0][0]


def integrity(db_path: str) -> str:
    """"ok", or what is damaged: SQLite's ``PRAGMA integrity_check`` on the file; on PostgreSQL,
    amcheck on the test's schema (see ``postgres_integrity``)."""
    if engines.is_postgres(db_path):
        return postgres_integrity(db_path)
    return rows(db_path, "pragma integrity_check")[0][0]


def postgres_integrity(db_path: str) -> str:
    """PostgreSQL's counterpart of ``integrity_check``: amcheck's ``verify_heapam`` on every table
    of the test's schema (lilqueue's and Huey's, with their TOAST data) and ``bt_index_check``
    with ``heapallindexed`` on every B-tree index (each index holds every row of its table, and
    only valid entries). amcheck is installed inside this transaction, which is then rolled back:
    the shared database is left as it was (two checks at once queue on the extension's name)."""
    import psycopg

    from lilqueue.store.pgdatabase import Location

    schema = Location.parse(db_path).schema
    conn = psycopg.connect(engines.POSTGRES)  # one transaction, rolled back at the end
    try:
        conn.execute("set local lock_timeout = '30s'")
        installed = conn.execute("select extnamespace::regnamespace::text from pg_extension"
                                 " where extname = 'amcheck'").fetchone()
        if installed:
            where = installed[0]
        else:
            try:
                conn.execute(f"create extension amcheck with schema {schema}")
            except psycopg.Error as exc:
                return f"cannot check: amcheck is not available ({exc})"
            where = schema
        relations = conn.execute(
            "select c.relname, c.relkind, a.amname from pg_class c join pg_namespace n on n.oid = c.relnamespace"
            " left join pg_am a on a.oid = c.relam where n.nspname = %s and c.relkind in ('r', 'i')"
            " order by c.relname", (schema,)).fetchall()
        tables = [name for name, kind, _ in relations if kind == "r"]
        indexes = [name for name, kind, method in relations if kind == "i" and method == "btree"]
        if not tables or not indexes:
            return f"nothing to check in schema {schema}"
        damage = []
        for name in tables:
            for found in conn.execute(f"select blkno, offnum, msg from {where}.verify_heapam(%s::regclass)",
                                      (f"{schema}.{name}",)):
                damage.append(f"{name}: block {found[0]} item {found[1]}: {found[2]}")
        for name in indexes:
            try:
                conn.execute(f"select {where}.bt_index_check(%s::regclass, true)", (f"{schema}.{name}",))
            except psycopg.Error as exc:
                damage.append(f"{name}: {exc}".strip())
                break  # the transaction is aborted
    finally:
        conn.rollback()
        conn.close()
    return "ok" if not damage else "; ".join(damage)


def runs(db_path: str) -> dict[str, list[tuple[int, str]]]:
    """job id -> [(attempt, event)] from the lines the ``recorded``/``show_pid`` tasks append."""
    found: dict[str, list[tuple[int, str]]] = collections.defaultdict(list)
    path = engines.side_file(db_path, ".runs")
    if not os.path.exists(path):
        return found
    with open(path) as lines:
        for line in lines:
            job_id, attempt, event, _pid = line.split()
            found[job_id].append((int(attempt), event))
    return found


def duplicates(db_path: str, interrupted: frozenset[tuple[str, int]] = frozenset()) -> list[str]:
    """Jobs some attempt of which started twice, or that ran to the end twice.

    ``interrupted`` holds the (job id, attempt) pairs that were running when their worker was
    killed: such an attempt may have reached its end and died before its outcome was written, so
    its end line does not count (the next attempt is the retry it was owed)."""
    bad = []
    for job_id, events in runs(db_path).items():
        starts = [a for a, e in events if e == "start"]
        ends = [a for a, e in events if e == "end" and (job_id, a) not in interrupted]
        if len(starts) != len(set(starts)) or len(ends) > 1:
            bad.append(job_id)
    return bad


def start_recorded(queue, seed: int, total: int, seconds: tuple[float, float], chunk: int) -> None:
    """``total`` jobs that record each run outside the database, a third of them with retries,
    each sleeping a random time within ``seconds``; started ``chunk`` at a time."""
    rng = random.Random(seed)
    plain, retrying = [], []
    for i in range(total):
        (retrying if i % 3 == 0 else plain).append([round(rng.uniform(*seconds), 3)])
    for first in range(0, max(len(plain), len(retrying)), chunk):
        queue.start_many("recorded", plain[first:first + chunk])
        queue.start_many("recorded_retry", retrying[first:first + chunk])


def check_killed_run(db_path: str, total: int, interrupted: set[tuple[str, int]]) -> dict[str, int]:
    """After runs of ``recorded``/``recorded_retry`` jobs whose workers were killed while holding
    the ``interrupted`` (job id, attempt) pairs: every job is terminal; one not held at a kill ran
    once; a held one failed as WorkerLost or, with a retry left, ran again and succeeded; every
    attempt started at most once, and each started unless a killed worker held it (a claim commits
    before the task's first line); no job ran twice. Returns what it counted."""
    jobs = {r[0]: r[1:] for r in rows(db_path, "select id, task, state, attempts, error_type, error_message"
                                               " from lilqueue_job")}
    executions = runs(db_path)
    held = {job_id for job_id, _ in interrupted}
    assert len(jobs) == total, "a job row disappeared"
    assert all(state in FINISHED for _, state, *_ in jobs.values()), "a job was left unfinished"
    counted = {"failed_worker_lost": 0, "rerun_after_loss": 0, "claimed_but_not_started_at_kill": 0}
    for job_id, (task, state, attempts, error_type, error_message) in jobs.items():
        starts = [a for a, e in executions[job_id] if e == "start"]
        if job_id not in held:
            assert (state, attempts, starts) == ("succeeded", 1, [1]), (job_id, task, state, attempts, starts)
        elif state == "failed":
            assert error_type == "WorkerLost" and "worker lost" in error_message, (job_id, error_type)
            assert attempts == (1 if task == "recorded" else 2)
            counted["failed_worker_lost"] += 1
        else:
            assert (task, state) == ("recorded_retry", "succeeded") and attempts == 2, (job_id, task, state)
            counted["rerun_after_loss"] += 1
        assert len(starts) == len(set(starts)) and set(starts) <= set(range(1, attempts + 1)), (job_id, starts)
        unstarted = set(range(1, attempts + 1)) - set(starts)
        assert unstarted <= {a for j, a in interrupted if j == job_id}, (job_id, attempts, starts)
        assert attempts - 1 <= len(starts) <= attempts
        counted["claimed_but_not_started_at_kill"] += len(unstarted)
    assert duplicates(db_path, frozenset(interrupted)) == []
    counted["executions"] = sum(len([e for e in v if e[1] == "start"]) for v in executions.values())
    return counted


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
    return queued_and_messages(db_path)[1]


def queued_and_messages(db_path: str) -> tuple[set[str], collections.Counter]:
    """The ids of the queued jobs and the messages per job id, read in ONE snapshot: a commit of
    a process killed a moment ago may still land, and it must land in both or in neither."""
    conn = engines.connect(db_path)
    found: collections.Counter = collections.Counter()
    try:
        if engines.is_postgres(db_path):
            conn.execute("begin isolation level repeatable read")
        else:
            conn.execute("begin")
        queued = {r[0] for r in conn.execute("select id from lilqueue_job where state = 'queued'").fetchall()}
        for table in ("task", "schedule"):
            for (data,) in conn.execute(f"select data from {engines.huey_table(db_path, table)}").fetchall():
                found[pickle.loads(data).id] += 1  # Huey's default serializer: a pickled Message
        conn.execute("commit")
    finally:
        conn.close()
    return queued, found


def stray_tracebacks(log: str) -> list[str]:
    """The records of a worker's log that carry a traceback, other than a failed task's: the
    worker logs those on purpose, once each, after its line "job ID TASK failed after ..."."""
    records = re.split(r"(?m)^(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} )", log)
    return [r for r in records if "Traceback (most recent call last)" in r
            and not re.match(r"\S+ \S+ (ERROR|WARNING) lilqueue\.worker: job \S+ \S+ failed after ", r)]
