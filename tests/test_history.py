"""The operators' Python API: ``queue.jobs`` (filters, keyset pages), ``retry``, ``delete``,
``purge`` and ``stats``, on a real database (SQLite, PostgreSQL) with jobs run by a real worker process."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime, timedelta

import pytest

import lilqueue
from tests import engines, tasks


@pytest.fixture
def finished(queue, start_worker):
    """Five adds (one owned by alice), three failures and one cancel, all finished."""
    start_worker()
    adds = [queue.start("add", [1, i], owner="alice" if i == 0 else None).id for i in range(5)]
    fails = [queue.start("fail", [f"bad {i}"]).id for i in range(3)]
    for job_id in adds + fails:
        assert queue.wait(job_id, timeout=20).finished
    canceled = queue.start("sleepy", [30]).id
    queue.cancel(canceled)
    assert queue.wait(canceled, timeout=20).state == "canceled"
    return {"adds": adds, "fails": fails, "canceled": canceled}


def test_jobs_lists_newest_first_and_filters(queue, finished):
    everything = queue.jobs()
    ids = [job.id for job in everything]
    assert ids == [finished["canceled"], *finished["fails"][::-1], *finished["adds"][::-1]]
    assert [j.id for j in queue.jobs(state="failed")] == finished["fails"][::-1]
    assert {j.id for j in queue.jobs(state=["failed", "canceled"])} == {*finished["fails"], finished["canceled"]}
    assert [j.id for j in queue.jobs(task="add", limit=2)] == finished["adds"][:-3:-1]
    assert [j.id for j in queue.jobs(owner="alice")] == finished["adds"][:1]
    middle = queue.get(finished["fails"][0]).created_at
    assert {j.id for j in queue.jobs(created_after=middle)} == {*finished["fails"], finished["canceled"]}
    assert {j.id for j in queue.jobs(created_before=middle.timestamp())} == set(finished["adds"])
    failed = queue.jobs(state="failed")[0]
    assert failed.error.type == "ValueError" and "Traceback" in failed.error.traceback


def test_keyset_pages_are_disjoint_in_order_and_cover_everything(queue):
    started = [job.id for job in queue.start_many("noop", [()] * 25)]  # one timestamp: ids break ties
    seen, before = [], None
    for _ in range(10):  # 4 pages hold 25 jobs; more would mean a page repeats
        page = queue.jobs(limit=7, before=before)
        if not page:
            break
        seen += [job.id for job in page]
        before = page[-1].id
    assert len(seen) == 25 and sorted(seen) == sorted(started) and len(set(seen)) == 25
    assert seen == [job.id for job in queue.jobs(limit=100)]


@pytest.mark.parametrize("arguments", [{"state": "lost"}, {"limit": 0}, {"limit": 1001}, {"limit": True},
                                       {"created_after": datetime(2026, 1, 1)}, {"created_before": "yesterday"},
                                       {"task": 3}])
def test_bad_filters_are_clear_value_errors(queue, arguments):
    with pytest.raises(ValueError, match=next(iter(arguments))):
        queue.jobs(**arguments)


def test_a_page_after_an_unknown_job_is_job_not_found(queue):
    with pytest.raises(lilqueue.JobNotFound):
        queue.jobs(before="A" * 22)


def test_retry_starts_a_new_job_linked_to_the_old_one_which_does_not_change(queue, finished):
    old = queue.get(finished["fails"][0])
    new = queue.retry(old.id)
    assert new.id != old.id and new.retry_of == old.id and new.state == "queued"
    assert (new.task, new.args, new.kwargs, new.owner) == (old.task, old.args, old.kwargs, old.owner)
    assert queue.get(old.id) == old
    assert queue.wait(new.id, timeout=20).state == "failed"  # it ran again, on the worker
    assert queue.get(new.id).retry_of == old.id and queue.retry(finished["canceled"]).retry_of == finished["canceled"]


def test_only_failed_or_canceled_jobs_can_be_retried(queue, finished):
    with pytest.raises(lilqueue.WrongState, match="only failed or canceled jobs can be retried") as raised:
        queue.retry(finished["adds"][0])
    assert raised.value.state == "succeeded" and isinstance(raised.value, lilqueue.LilqueueError)
    running = queue.start("sleepy", [30])
    with pytest.raises(lilqueue.WrongState):
        queue.retry(running.id)
    with pytest.raises(lilqueue.JobNotFound):
        queue.retry("A" * 22)
    assert len(queue.jobs(limit=1000)) == 10  # nothing was written


def test_a_retry_whose_key_is_held_by_an_unfinished_job_is_refused(queue):
    old = queue.cancel(queue.start("sleepy", [30], key="import-7").id)
    holder = queue.start("sleepy", [30], key="import-7")
    with pytest.raises(lilqueue.WrongState, match=holder.id):
        queue.retry(old.id)


def test_purge_and_delete_remove_finished_jobs_but_the_totals_stay(queue, finished):
    before = queue.stats()
    assert before["finished_totals"] == {"add": {"succeeded": 5}, "fail": {"failed": 3}, "sleepy": {"canceled": 1}}
    assert queue.purge("failed", older_than=3600) == 0  # none is an hour old
    assert queue.purge("failed", older_than=timedelta(0)) == 3
    queue.delete(finished["adds"][0])
    with pytest.raises(lilqueue.JobNotFound):
        queue.get(finished["adds"][0])
    assert queue.purge(["succeeded", "canceled"], task="add") == 4
    after = queue.stats()
    assert after["finished_totals"] == before["finished_totals"]
    assert after["durations"]["add"]["count"] == before["durations"]["add"]["count"] == 5
    assert after["durations"]["add"]["buckets"] == before["durations"]["add"]["buckets"]
    assert after["counts"] == {"sleepy": {"canceled": 1}}
    assert [j.id for j in queue.jobs()] == [finished["canceled"]]


def test_unfinished_jobs_cannot_be_purged_or_deleted(queue):
    job = queue.start("sleepy", [30])
    with pytest.raises(ValueError, match="only finished jobs"):
        queue.purge("queued")
    with pytest.raises(lilqueue.WrongState, match="only finished jobs can be deleted"):
        queue.delete(job.id)
    assert queue.get(job.id).state == "queued"


def test_stats_count_states_workers_and_the_last_hour(queue, start_worker, db_path):
    worker = start_worker(threads=1)
    failed = queue.wait(queue.start("fail", ["x"]).id, timeout=20)
    assert failed.state == "failed"
    running = queue.start("sleepy", [30])
    waiting = queue.start("noop")  # behind the sleeper: the one thread is busy
    deadline = time.monotonic() + 10
    while queue.get(running.id).state != "running" and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)
    stats = queue.stats()
    assert stats["states"] == {"queued": 1, "running": 1, "succeeded": 0, "failed": 1, "canceled": 0}
    assert stats["counts"] == {"sleepy": {"running": 1}, "fail": {"failed": 1}, "noop": {"queued": 1}}
    assert 0.15 <= stats["oldest_queued_age"] < 10
    [live] = stats["workers"]
    assert live["pid"] == worker.pid and live["threads"] == 1 and live["heartbeat_age"] < 5
    assert [r["id"] for r in live["running"]] == [running.id]
    assert len(stats["throughput"]) == 60
    minute = failed.finished_at.replace(second=0, microsecond=0).strftime("%Y-%m-%dT%H:%M:00Z")
    assert [m["failed"] for m in stats["throughput"] if m["minute"] == minute] == [1]  # a minute may have begun since
    assert sum(m["failed"] for m in stats["throughput"]) == stats["failures_24h"] == 1
    assert [w["id"] for w in queue.workers()] == [live["id"]]
    queue.cancel(waiting.id)


@pytest.mark.sqlite_only  # an older SQLite file's layout: no release made PostgreSQL tables before this one
def test_a_file_made_by_an_older_lilqueue_gains_the_new_column_and_tables(db_path):
    queue = tasks.build(db_path)
    job = queue.start("noop")
    with sqlite3.connect(db_path) as conn:  # back to the layout of the previous release
        conn.execute("drop index jobrow_finished")
        conn.execute("alter table lilqueue_job drop column retry_of")
        conn.execute("drop table lilqueue_stat")
    reopened = tasks.build(db_path)
    assert reopened.get(job.id).retry_of is None
    with sqlite3.connect(db_path) as conn:
        columns = [row[1] for row in conn.execute("pragma table_info(lilqueue_job)")]
        indexes = {row[1] for row in conn.execute("pragma index_list(lilqueue_job)")}
    assert "retry_of" in columns and "jobrow_finished" in indexes
    assert reopened.stats()["states"]["queued"] == 1
    assert datetime.now(UTC) - reopened.jobs()[0].created_at < timedelta(minutes=1)


def test_the_indexes_of_the_previous_release_are_replaced_by_the_ones_by_state(db_path):
    """The previous release indexed all jobs by (state, created_at, id) and running jobs twice
    (by worker, by task); opening its tables builds the partial indexes by state, drops those,
    and the lists, counts and limits read the same jobs."""
    queue = tasks.build(db_path)
    waiting = queue.start("noop")
    queue.store.close()
    for name in ("jobrow_queued", "jobrow_running", "jobrow_finished"):
        engines.sql(db_path, f"drop index {name}")
    engines.sql(db_path, "create index jobrow_state_created_at_id on lilqueue_job (state, created_at, id)")
    engines.sql(db_path, "create index jobrow_worker on lilqueue_job (worker) where state = 'running'")
    engines.sql(db_path, "create index jobrow_task on lilqueue_job (task) where state = 'running'")
    reopened = tasks.build(db_path)
    names = {index.name for index in reopened.database.get_indexes("lilqueue_job")}
    assert {"jobrow_queued", "jobrow_running", "jobrow_finished"} <= names
    assert not names & {"jobrow_state_created_at_id", "jobrow_worker", "jobrow_task"}
    assert [job.id for job in reopened.jobs("queued")] == [waiting.id]
    assert reopened.store.counts() == {"queued": 1, "running": 0}
    with pytest.raises(lilqueue.Busy):
        for _ in range(4):
            reopened.start("bounded")  # max_pending 3: the one queued noop is not its
    assert reopened.stats()["states"]["queued"] == 4
