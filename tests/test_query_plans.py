"""No statement lilqueue sends scans the whole job table, on a file that holds many finished jobs
and ANALYZE's statistics of them. The statistics are where plans go wrong: an index of all jobs
by state tells the planner that each state holds a fifth of the table, and a count of a task's
queued and running jobs then read every row (it did, on every start of a task with
``max_pending``). The partial indexes by state (store/schema.py) are counted as what they
hold, so the planner takes them, if the query names the state in their words.

Every statement is recorded as sent (its text and parameters, from the connections' cursors)
while the store goes through its paths, and its plan asked of SQLite with those parameters."""

from __future__ import annotations

import re
import sqlite3
import time
from datetime import UTC, datetime

import pytest

from lilqueue.bench.history import fill
from lilqueue.states import FINISHED, QUEUED, RUNNING, STATES, SUCCEEDED
from lilqueue.store import Final, Outcome
from tests import tasks

pytestmark = pytest.mark.sqlite_only
WORKER = "plans:1:test"
FULL_SCAN = re.compile(r"SCAN lilqueue_job(?! USING)")


class Recording(sqlite3.Connection):
    """A connection that keeps every statement its cursors run, with its parameters."""
    sent: list[tuple[str, tuple]] = []

    def cursor(self, factory: type = sqlite3.Cursor) -> sqlite3.Cursor:
        return super().cursor(RecordingCursor)

    def execute(self, sql: str, params: tuple = ()) -> sqlite3.Cursor:
        return self.cursor().execute(sql, params)

    def executemany(self, sql: str, rows: list) -> sqlite3.Cursor:
        return self.cursor().executemany(sql, rows)


class RecordingCursor(sqlite3.Cursor):
    def execute(self, sql: str, params: tuple = ()) -> sqlite3.Cursor:
        Recording.sent.append((sql, tuple(params)))
        return super().execute(sql, params)

    def executemany(self, sql: str, rows: list) -> sqlite3.Cursor:
        rows = list(rows)
        if rows:
            Recording.sent.append((sql, tuple(rows[0])))
        return super().executemany(sql, rows)


@pytest.fixture
def recorded(tmp_path):
    path = str(tmp_path / "full.db")
    fill(path, 20_000)  # finished jobs of five tasks over three days
    queue = tasks.build(path)
    queue.database.execute_sql("analyze")
    database = queue.store.database
    database.close_all()
    database.connect_params["factory"] = Recording
    Recording.sent = []
    yield queue
    database.close_all()


def go_through_the_paths(queue) -> None:
    """Starts, claims, finishes, cancels, limits, flows, periodic slots, the operators' reads
    and deletes, reaping: each path of the store once or more."""
    store = queue.store
    store.register(WORKER, "test", 1, 4, time.time())
    started = [queue.start("noop") for _ in range(4)]
    queue.start_many("add", [(1, 2)] * 3)
    queue.start("add", (1, 2), key="once")
    queue.start("bounded")
    queue.start("slotted", (0,))
    queue.start("slotted", (0,))
    queue.start("slotted", (0,))
    queue.tasks["add"].then("add", 1).start(1, 2)
    queue.tasks["add"].batch([(1, 2)] * 3)
    queue.cancel(started[3].id)
    claims = [claim for claim in (store.claim(WORKER, time.time()) for _ in range(8)) if claim]
    assert len(claims) >= 6
    store.record(claims[0].id, WORKER, (1, 2, "half"), [(time.time(), "warning", "line 17")], 0, None)
    queue.cancel(claims[1].id)
    store.cancel_requests(WORKER)
    for claim in claims[2:]:
        store.finish(claim, WORKER, Outcome(SUCCEEDED, result="3"), Final(), time.time(), claim_next=True)
    store.release_parked()
    queue.start_slot(queue.tasks["noop"], datetime.now(UTC).replace(second=0, microsecond=0))
    store.log_line(started[0].id, time.time(), "info", "a note")
    queue.get(started[0].id)
    store.versions([job.id for job in started])
    store.counts()
    for state in (*STATES, None):
        page = queue.jobs(state, limit=20)
        assert page, f"no {state} job listed"
        queue.jobs(state, limit=20, before=page[-1].id)
        queue.jobs(state, task="add", limit=20)
    queue.stats()
    queue.workers()
    store.reap(time.time() - 3600, time.time())
    store.release_due()
    store.has_due()
    queue.retry(started[3].id)  # canceled while queued
    queue.purge(older_than=2.5 * 86400)


def test_no_statement_scans_the_job_table(recorded):
    queue = recorded
    go_through_the_paths(queue)
    statements = {sql: params for sql, params in Recording.sent
                  if "lilqueue_job" in sql and sql.split(None, 1)[0].lower() in ("select", "update", "delete",
                                                                                 "insert", "with")}
    assert len(statements) > 30, "the paths above send more kinds of statements than that"
    plain = sqlite3.connect(queue.store.location)
    scans = {}
    for sql, params in statements.items():
        plan = [row[3] for row in plain.execute("explain query plan " + sql, params)]
        if any(FULL_SCAN.match(step) for step in plan):
            scans[sql] = plan
    plain.close()
    assert scans == {}


def test_the_states_are_counted_by_their_own_indexes(recorded):
    """What the planner is told of each index: the queued and running ones hold what they hold,
    the finished one the rest (the statistics of ANALYZE, sqlite_stat1)."""
    queue = recorded
    go_through_the_paths(queue)
    queue.database.execute_sql("analyze")
    sizes = dict(queue.database.execute_sql(
        "select idx, cast(stat as integer) from sqlite_stat1 where tbl = 'lilqueue_job'").fetchall())
    counts = queue.store.counts()
    assert sizes["jobrow_queued"] == counts[QUEUED] and sizes["jobrow_running"] == counts[RUNNING]
    finished = queue.database.execute_sql(
        f"select count(*) from lilqueue_job where state in ({', '.join('?' * len(FINISHED))})", FINISHED).fetchone()
    assert sizes["jobrow_finished"] == finished[0] > 15_000  # some were purged
