"""What only the PostgreSQL engine does: URLs and schemas, setup by processes starting together,
per-connection settings, and the notifications that wake watchers (with their fallback).
Everything else runs on both engines through the ``db_path`` fixture."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

import lilqueue
from lilqueue.store.commits import RECONNECT
from lilqueue.store.pgdatabase import Location
from tests import engines, tasks
from tests.conftest import ROOT, wait_for


def tables_in(url: str) -> set[str]:
    schema = Location.parse(url).schema
    return {r[0] for r in engines.sql(url, "select table_name from information_schema.tables"
                                           " where table_schema = ?", (schema,))}


def test_a_postgresql_url_creates_lilqueues_and_hueys_tables_in_its_own_schema(pg_url):
    queue = tasks.build(pg_url)
    assert tables_in(pg_url) == {"lilqueue_job", "lilqueue_log", "lilqueue_worker", "lilqueue_stat", "lilqueue_slot",
                                 "lilqueue_huey_task", "lilqueue_huey_schedule", "lilqueue_huey_kv",
                                 "lilqueue_huey_counter"}
    job = queue.start("add", [2, 3])
    assert engines.sql(pg_url, "select id, state from lilqueue_job") == [(job.id, "queued")]
    assert engines.sql(pg_url, "select count(*) from lilqueue_huey_task")[0][0] == 1
    assert repr(queue).startswith("<Queue 'postgresql://") and "schema=" in repr(queue)


@pytest.mark.parametrize("url, says", [
    ("postgresql://postgres@127.0.0.1/test?schema=Bad-Name", "schema must be a lower-case SQL name"),
    ("postgresql://postgres@127.0.0.1/test?schema=1abc", "schema must be"),
    ("mysql://root@127.0.0.1/test", "unknown database URL mysql://"),
])
def test_a_bad_schema_or_an_unknown_url_is_a_configuration_error(url, says):
    with pytest.raises(lilqueue.ConfigurationError, match=says):
        lilqueue.Queue(url)


def test_an_unreachable_server_is_a_one_line_error_that_hides_the_password():
    with pytest.raises(lilqueue.ConfigurationError) as raised:
        lilqueue.Queue("postgresql://postgres:s3cret@127.0.0.1:1/test?connect_timeout=2")
    message = str(raised.value)
    assert "\n" not in message and "s3cret" not in message and "postgres:***@127.0.0.1:1" in message


def test_processes_opening_a_fresh_schema_at_the_same_moment_all_succeed(pg_url):
    code = f"import lilqueue; lilqueue.Queue({pg_url!r}); print('opened')"
    starters = [subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True) for _ in range(4)]
    outputs = [p.communicate(timeout=60)[0] for p in starters]
    assert [p.returncode for p in starters] == [0] * 4, outputs
    assert "lilqueue_job" in tables_in(pg_url)


def test_each_connection_carries_the_schema_the_lock_timeout_and_the_commit_mode(pg_url):
    queue = lilqueue.Queue(pg_url, synchronous="normal", busy_timeout=3.5)
    settings = {name: queue.database.execute_sql(f"show {name}").fetchone()[0]
                for name in ("search_path", "lock_timeout", "synchronous_commit")}
    queue.database.close()
    assert settings == {"search_path": Location.parse(pg_url).schema, "lock_timeout": "3500ms",
                        "synchronous_commit": "off"}


def running_job(queue):
    job = queue.start("add", [1, 1])
    claim = queue.store.claim("test-worker", time.time())
    assert claim and claim.id == job.id
    return job


def notified(commits, job_id: str, timeout: float = 5.0) -> bool:
    """Wait until ``commits`` names ``job_id`` (a set containing it, not a sweep's None)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ids = commits.jobs()
        if ids is not None and job_id in ids:
            return True
        time.sleep(0.005)
    return False


def test_a_change_to_a_job_is_notified_with_its_id(pg_url):
    queue = tasks.build(pg_url)
    job = running_job(queue)
    commits = queue.store.commits()
    try:
        assert commits.jobs() in (set(), None)
        queue.store.record(job.id, "test-worker", (1, 2, "half"), [], 0, None)
        assert notified(commits, job.id)
        other = queue.start("add", [2, 2])
        assert notified(commits, "")  # new jobs: the doorbell of idle workers
        queue.cancel(other.id)
        assert notified(commits, other.id)
    finally:
        commits.close()


def test_a_lost_listen_connection_is_reported_as_any_change_and_listening_resumes(pg_url):
    queue = tasks.build(pg_url)
    job = running_job(queue)
    commits = queue.store.commits()
    try:
        channel = Location.parse(pg_url).channel
        killed = engines.sql(pg_url, "select pg_terminate_backend(pid) from pg_stat_activity"
                                     " where query = ?", (f'listen "{channel}"',))
        assert killed == [(True,)]
        assert wait_for(lambda: commits.jobs() is None, timeout=5, what="the loss reported as 'anything changed'")
        time.sleep(RECONNECT)
        commits.jobs()  # listens again
        queue.store.record(job.id, "test-worker", (2, 2, "done"), [], 0, None)
        assert notified(commits, job.id)
    finally:
        commits.close()


def test_a_role_that_may_not_create_schemas_uses_a_schema_prepared_for_it(pg_url):
    tasks.build(pg_url)  # the owner (postgres) creates the tables once
    schema = Location.parse(pg_url).schema
    role = f"lq_app_{schema}"
    engines.sql(pg_url, f"create role {role} login")
    try:
        for grant in (f"grant usage on schema {schema} to {role}",
                      f"grant select, insert, update, delete on all tables in schema {schema} to {role}",
                      f"grant usage on all sequences in schema {schema} to {role}"):
            engines.sql(pg_url, grant)
        as_app = pg_url.replace("postgres@", f"{role}@", 1)
        queue = tasks.build(as_app)
        job = queue.start("add", [20, 22])
        worker = queue.worker(threads=1).start()
        try:
            assert queue.wait(job.id, timeout=15).result == 42
        finally:
            worker.stop()
        queue.database.close_all()
    finally:
        engines.sql(pg_url, f"drop owned by {role}")
        engines.sql(pg_url, f"drop role {role}")
