"""``Queue``: options, starting jobs (by name, many at once, with keys), reading, canceling,
atomic writes of the job row and its Huey message, and pruning. No worker runs here; a job is
claimed by hand where a test needs one running."""

from __future__ import annotations

import base64
import math
import sqlite3
import time
from datetime import timedelta

import pytest

import lilqueue
from lilqueue.job import ID_PATTERN
from lilqueue.store import Final, Outcome
from tests import engines, tasks


def counts(db_path: str) -> tuple[int, int]:
    """(rows in the job table, messages in Huey's queue), read on a connection of our own."""
    return (engines.sql(db_path, "select count(*) from lilqueue_job")[0][0],
            engines.sql(db_path, f"select count(*) from {engines.huey_table(db_path, 'task')}")[0][0])


def driver_errors(db_path: str) -> tuple[type[BaseException], ...]:
    """What the engine's driver raises (besides lilqueue's StorageError) for a failed statement."""
    if engines.is_postgres(db_path):
        import psycopg

        return psycopg.Error, lilqueue.StorageError
    return sqlite3.Error, lilqueue.StorageError


def inject_failure(db_path: str, name: str, when: str) -> None:
    """A real fault in the database, no patching: a trigger on Huey's message table that aborts
    the insert of a message (``when``: "before" or "after" the message is inserted)."""
    table = engines.huey_table(db_path, "task")
    if engines.is_postgres(db_path):
        engines.sql(db_path, f"create function {name}() returns trigger language plpgsql as"
                             " $$ begin raise exception 'injected failure'; end $$")
        engines.sql(db_path, f"create trigger {name} {when} insert on {table}"
                             f" for each row execute function {name}()")
    else:
        engines.sql(db_path, f"create trigger {name} {when} insert on {table} begin"
                             " select raise(abort, 'injected failure'); end")


def remove_failure(db_path: str, name: str) -> None:
    if engines.is_postgres(db_path):
        engines.sql(db_path, f"drop trigger {name} on {engines.huey_table(db_path, 'task')}")
        engines.sql(db_path, f"drop function {name}()")
    else:
        engines.sql(db_path, f"drop trigger {name}")


def run_to_end(queue: lilqueue.Queue, state: str = "succeeded") -> str:
    """Claim the next job as a worker would and store an outcome for it."""
    queue.store.register("w", "localhost", 1, 1, time.time())
    claimed = queue.store.claim("w", time.time())
    while claimed is False:  # the message of a job canceled while queued: skipped
        claimed = queue.store.claim("w", time.time())
    queue.store.finish(claimed, "w", Outcome(state, result="null"), Final(), time.time(),
                       claim_next=False)
    return claimed.id


@pytest.mark.parametrize("options", [
    {"heartbeat_timeout": 0}, {"heartbeat_timeout": -1}, {"heartbeat_timeout": "30"},
    {"heartbeat_timeout": True}, {"heartbeat_timeout": math.nan},
    {"retention": 0}, {"retention": timedelta(0)}, {"retention": -5},
    {"max_logs": 0}, {"max_logs": 1.5}, {"max_logs": True}, {"max_logs": "100"},
    {"progress_interval": -0.1}, {"progress_interval": None},
    {"synchronous": "off"}, {"synchronous": "FULL"},
    {"busy_timeout": 0},
])
def test_a_bad_queue_option_raises_configuration_error(db_path, options):
    with pytest.raises(lilqueue.ConfigurationError):
        lilqueue.Queue(db_path, **options)


def test_an_unknown_queue_option_raises_type_error(db_path):
    with pytest.raises(TypeError):
        lilqueue.Queue(db_path, heartbeat=5)


def test_queue_options_are_kept_and_retention_accepts_a_timedelta(db_path):
    queue = lilqueue.Queue(db_path, retention=timedelta(days=1), heartbeat_timeout=5, max_logs=7,
                           progress_interval=0, synchronous="normal")
    assert queue.retention == 86400.0
    assert (queue.heartbeat_timeout, queue.max_logs, queue.progress_interval) == (5.0, 7, 0.0)
    assert queue.path == db_path
    assert queue.tasks == {}


def test_a_queue_whose_file_cannot_be_opened_raises_configuration_error(tmp_path):
    with pytest.raises(lilqueue.ConfigurationError, match="cannot open"):
        lilqueue.Queue(str(tmp_path / "no-such-dir" / "jobs.db"))


def test_the_five_states_are_plain_strings():
    assert lilqueue.STATES == ("queued", "running", "succeeded", "failed", "canceled")
    assert (lilqueue.QUEUED, lilqueue.RUNNING, lilqueue.SUCCEEDED, lilqueue.FAILED, lilqueue.CANCELED) \
        == lilqueue.STATES


def test_start_by_name_returns_the_queued_job_as_it_is_stored(queue, db_path):
    before = time.time()
    job = queue.start("add", args=[1, 2])
    assert job.state == "queued" and job.task == "add"
    assert (job.args, job.kwargs, job.key, job.attempts, job.version) == ([1, 2], {}, None, 0, 1)
    assert job.started_at is None and job.finished_at is None and job.result is None
    assert before <= job.created_at.timestamp() <= time.time()
    assert job.created_at.tzinfo is not None
    assert queue.get(job.id) == job
    assert counts(db_path) == (1, 1)


def test_start_accepts_keyword_arguments_and_a_task_object(queue):
    job = queue.start(queue.tasks["add"], kwargs={"a": 1, "b": 2})
    assert (job.args, job.kwargs) == ([], {"a": 1, "b": 2})
    assert queue.tasks["steps"].start(3, delay=0).kwargs == {"delay": 0}


def test_job_ids_are_128_random_bits_as_url_safe_characters_and_distinct(queue):
    jobs = queue.start_many("noop", [[] for _ in range(1000)])
    ids = {job.id for job in jobs}
    assert len(ids) == 1000
    assert all(ID_PATTERN.fullmatch(job_id) for job_id in ids)
    assert {len(base64.urlsafe_b64decode(job_id + "==")) for job_id in ids} == {128 // 8}


@pytest.mark.parametrize("name", ["nope", "", None, 42, "ADD"])
def test_starting_an_unknown_task_raises_unknown_task_and_writes_nothing(queue, db_path, name):
    with pytest.raises(lilqueue.UnknownTask) as caught:
        queue.start(name, args=[1, 2])
    assert caught.value.name == name
    assert counts(db_path) == (0, 0)


def test_a_task_of_another_queue_is_unknown_here(queue, db_path, tmp_path):
    other = tasks.build(str(tmp_path / "other.db"))
    with pytest.raises(lilqueue.UnknownTask):
        queue.start(other.tasks["add"], args=[1, 2])
    assert counts(db_path) == (0, 0)


@pytest.mark.parametrize(("args", "kwargs"), [
    ([1], None),                      # missing b
    ([1, 2, 3], None),                # one too many
    ([1], {"c": 2}),                  # unknown keyword
    ([1, 2], {"a": 1}),               # a given twice
    ("12", None),                     # a string is not a list of arguments
    ({"a": 1, "b": 2}, None),         # nor is a dict
    ([1, 2], [("a", 1)]),             # kwargs must be a dict
    (None, None),                     # args must be a list
    (12, None),
])
def test_arguments_that_do_not_bind_raise_invalid_arguments_before_anything_is_written(
        queue, db_path, args, kwargs):
    with pytest.raises(lilqueue.InvalidArguments) as caught:
        queue.start("add", args=args, kwargs=kwargs)
    assert caught.value.task == "add"
    assert caught.value.detail
    assert counts(db_path) == (0, 0)


@pytest.mark.parametrize("value", [object(), {1, 2}, math.nan, math.inf, b"bytes", {"k": object()}])
def test_arguments_that_are_not_json_raise_invalid_arguments(queue, db_path, value):
    with pytest.raises(lilqueue.InvalidArguments, match="JSON"):
        queue.start("add", args=[value, 1])
    with pytest.raises(lilqueue.InvalidArguments, match="JSON"):
        queue.start("add", args=[1], kwargs={"b": value})
    assert counts(db_path) == (0, 0)


@pytest.mark.parametrize("key", ["", "x" * 201, 42, b"key"])
def test_a_bad_key_raises_invalid_arguments(queue, db_path, key):
    with pytest.raises(lilqueue.InvalidArguments, match="key"):
        queue.start("add", args=[1, 2], key=key)
    assert counts(db_path) == (0, 0)


def test_a_key_returns_the_queued_job_instead_of_starting_another(queue, db_path):
    first = queue.start("add", args=[1, 2], key="import-42")
    again = queue.start("add", args=[1, 2], key="import-42")
    assert again.id == first.id and again.key == "import-42"
    other = queue.start("add", args=[1, 2], key="import-43")
    assert other.id != first.id
    assert counts(db_path) == (2, 2)


def test_a_key_returns_the_running_job_and_a_new_one_once_it_finished(queue, db_path):
    first = queue.start("add", args=[1, 2], key="k")
    queue.store.register("w", "localhost", 1, 1, time.time())
    claimed = queue.store.claim("w", time.time())
    assert claimed.id == first.id
    running = queue.start("add", args=[1, 2], key="k")
    assert (running.id, running.state) == (first.id, "running")
    queue.store.finish(claimed, "w", Outcome("succeeded", result="3"), Final(), time.time(),
                       claim_next=False)
    assert queue.get(first.id).state == "succeeded"
    fresh = queue.start("add", args=[1, 2], key="k")
    assert fresh.id != first.id and fresh.state == "queued"
    assert queue.start("add", args=[1, 2], key="k").id == fresh.id


def test_a_key_whose_job_was_canceled_starts_a_new_job(queue):
    first = queue.start("add", args=[1, 2], key="k")
    queue.cancel(first.id)
    assert queue.start("add", args=[1, 2], key="k").id != first.id


def test_a_failure_between_the_row_and_the_message_leaves_neither(queue, db_path):
    # Huey's insert of the message aborts after our row was written.
    inject_failure(db_path, "no_messages", "before")
    errors = driver_errors(db_path)
    with pytest.raises(errors, match="injected failure"):
        queue.start("add", args=[1, 2])
    with pytest.raises(errors, match="injected failure"):
        queue.start("add", args=[1, 2], key="k")
    with pytest.raises(errors, match="injected failure"):
        queue.start_many("add", [[1, 2], [3, 4]])
    assert counts(db_path) == (0, 0)
    remove_failure(db_path, "no_messages")
    queue.start("add", args=[1, 2], key="k")  # the key was not taken by the failed start
    assert counts(db_path) == (1, 1)


def test_a_failure_after_both_inserts_leaves_neither(queue, db_path):
    inject_failure(db_path, "late_failure", "after")
    with pytest.raises(driver_errors(db_path), match="injected failure"):
        queue.start("add", args=[1, 2])
    assert counts(db_path) == (0, 0)


def test_a_read_only_database_raises_storage_error_and_writes_nothing(queue, db_path):
    first = queue.start("add", args=[1, 2])
    if engines.is_postgres(db_path):  # a read-only server (a hot standby) refuses writes alike
        read_only, writable, says = ("set default_transaction_read_only = on",
                                     "set default_transaction_read_only = off", "read-only")
    else:
        read_only, writable, says = "pragma query_only = on", "pragma query_only = off", "readonly"
    queue.database.execute_sql(read_only)  # this thread's connection only
    try:
        with pytest.raises(lilqueue.StorageError, match=says) as caught:
            queue.start("add", args=[3, 4])
        assert caught.value.detail
        with pytest.raises(lilqueue.StorageError):
            queue.start("add", args=[3, 4], key="k")
        with pytest.raises(lilqueue.StorageError):
            queue.start_many("add", [[3, 4]])
        with pytest.raises(lilqueue.StorageError):
            queue.cancel(first.id)
    finally:
        queue.database.execute_sql(writable)
    assert counts(db_path) == (1, 1)
    assert queue.get(first.id).state == "queued"


def test_start_many_writes_every_job_and_message_in_one_go(queue, db_path):
    jobs = queue.start_many("add", [[1, 2], (3, 4), [5, 6]])
    assert [job.args for job in jobs] == [[1, 2], [3, 4], [5, 6]]
    assert all(job.state == "queued" for job in jobs)
    assert [queue.get(job.id) for job in jobs] == jobs
    assert counts(db_path) == (3, 3)
    assert queue.start_many("add", []) == []


def test_start_many_with_one_bad_argument_list_writes_nothing(queue, db_path):
    with pytest.raises(lilqueue.InvalidArguments):
        queue.start_many("add", [[1, 2], [3, 4], [5]])
    with pytest.raises(lilqueue.UnknownTask):
        queue.start_many("nope", [[1, 2]])
    assert counts(db_path) == (0, 0)


def test_map_spreads_tuples_and_passes_other_items_whole(queue):
    added = queue.tasks["add"].map([(1, 2), (3, 4)])
    assert [job.args for job in added] == [[1, 2], [3, 4]]
    failing = queue.tasks["fail"].map(["a", ["b"]])
    assert [job.args for job in failing] == [["a"], [["b"]]]


def test_get_an_unknown_id_raises_job_not_found(queue):
    for job_id in ("A" * 22, "", "../../etc"):
        with pytest.raises(lilqueue.JobNotFound) as caught:
            queue.get(job_id)
        assert caught.value.job_id == job_id


def test_canceling_a_queued_job_finishes_it_as_canceled(queue):
    job = queue.start("add", args=[1, 2])
    canceled = queue.cancel(job.id)
    assert canceled.state == "canceled" and canceled.finished
    assert canceled.cancel_requested and canceled.finished_at is not None
    assert canceled.started_at is None and canceled.attempts == 0
    assert canceled.version > job.version
    assert queue.get(job.id) == canceled


def test_canceling_a_finished_job_raises_job_finished(queue):
    job = queue.start("add", args=[1, 2])
    queue.cancel(job.id)
    with pytest.raises(lilqueue.JobFinished) as caught:
        queue.cancel(job.id)
    assert (caught.value.job_id, caught.value.state) == (job.id, "canceled")
    queue.start("add", args=[1, 2])
    done = run_to_end(queue)
    with pytest.raises(lilqueue.JobFinished):
        queue.cancel(done)


def test_canceling_an_unknown_id_raises_job_not_found(queue):
    with pytest.raises(lilqueue.JobNotFound):
        queue.cancel("B" * 22)


def test_canceling_a_running_job_only_asks_it_to_stop(queue):
    job = queue.start("add", args=[1, 2])
    queue.store.register("w", "localhost", 1, 1, time.time())
    queue.store.claim("w", time.time())
    asked = queue.cancel(job.id)
    assert (asked.state, asked.cancel_requested) == ("running", True)
    assert queue.store.cancel_requests("w") == [job.id]
    assert queue.cancel(job.id).version == asked.version, "asking twice changes nothing"


def test_a_canceled_queued_job_is_skipped_when_its_message_comes_up(queue, db_path):
    job = queue.start("add", args=[1, 2])
    queue.cancel(job.id)
    queue.store.register("w", "localhost", 1, 1, time.time())
    assert queue.store.claim("w", time.time()) is False
    assert queue.store.claim("w", time.time()) is None
    assert queue.get(job.id).state == "canceled"
    assert counts(db_path) == (1, 0)


def test_prune_deletes_finished_jobs_and_their_lines_older_than_the_cutoff(queue, db_path):
    old = queue.start("add", args=[1, 2])
    queue.cancel(old.id)
    time.sleep(0.01)
    cutoff = time.time()
    time.sleep(0.01)
    queue.start("steps", args=[3])
    recent = run_to_end(queue, "failed")
    queue.store.log_line(recent, time.time(), "info", "a line")
    waiting = queue.start("add", args=[1, 2])
    assert queue.store.prune(cutoff) == 1
    with pytest.raises(lilqueue.JobNotFound):
        queue.get(old.id)
    assert queue.get(recent).state == "failed"
    assert queue.store.prune(time.time() + 1) == 1
    assert queue.get(waiting.id).state == "queued"
    assert engines.sql(db_path, "select count(*) from lilqueue_log") == [(0,)]
    assert engines.sql(db_path, "select count(*) from lilqueue_job") == [(1,)]


def test_prune_works_through_many_jobs_in_batches(queue):
    for job in queue.start_many("noop", [[] for _ in range(7)]):
        queue.cancel(job.id)
    assert queue.store.prune(time.time() + 1, batch=3) == 7
    assert queue.store.prune(time.time() + 1, batch=3) == 0


def test_counts_versions_and_table_reads_for_the_web_layer(queue):
    a = queue.start("add", args=[1, 2])
    b = queue.start("add", args=[3, 4])
    queue.cancel(b.id)
    assert queue.store.counts() == {"queued": 1, "running": 0}
    assert queue.store.versions([a.id, b.id, "C" * 22]) == {a.id: 1, b.id: 2}
    assert queue.store.version(a.id) == 1 and queue.store.version("C" * 22) is None


def test_lookup_finds_registered_tasks_only(queue):
    assert queue.lookup("add") is queue.tasks["add"]
    assert queue.lookup(queue.tasks["add"]) is queue.tasks["add"]
    with pytest.raises(lilqueue.UnknownTask):
        queue.lookup("missing")


def test_to_dict_is_json_with_z_times_and_no_traceback_or_owner(queue):
    import json
    job = queue.start("add", args=[1, 2], owner="alice")
    data = job.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["created_at"].endswith("Z") and data["started_at"] is None
    assert "owner" not in data and job.owner == "alice"
    assert data["progress"] == {"current": None, "total": None, "percent": None, "message": None}


def test_the_job_start_returns_holds_the_arguments_as_the_worker_will_see_them(queue):
    args = [(1, 2), [3]]
    job = queue.start("add", args=args, kwargs={})
    args[1].append(4)  # the caller's objects are not the job's
    assert job.args == [[1, 2], [3]]
    assert queue.get(job.id) == job
    many = queue.start_many("add", [[(1,), {2: "two"}]])
    assert many[0].args == [[1], {"2": "two"}] == queue.get(many[0].id).args


def test_a_job_canceled_while_it_waits_for_a_retry_ends_canceled_when_it_comes_up(queue):
    job = queue.start("flaky", args=[5])
    queue.store.register("w", "localhost", 1, 1, time.time())
    claimed = queue.store.claim("w", time.time())
    queue.cancel(job.id)  # lands after the attempt failed, before the worker stored the failure
    queue.store.finish(claimed, "w", Outcome("failed", error=("RuntimeError", "x", None), retry_in=0),
                       Final(), time.time(), claim_next=False)
    assert queue.get(job.id).state == "queued"
    assert queue.store.claim("w", time.time()) is False
    done = queue.get(job.id)
    assert (done.state, done.attempts, done.started_at) == ("canceled", 1, None)
    assert done.finished_at is not None


def test_the_same_key_from_16_threads_at_once_starts_one_job(queue, db_path):
    import threading
    ids: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(16)

    def starter() -> None:
        barrier.wait()
        for _ in range(10):
            try:
                ids.append(queue.start("add", args=[1, 2], key="once").id)
            except BaseException as exc:  # every failure is a finding
                errors.append(exc)

    threads = [threading.Thread(target=starter) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert len(ids) == 160 and len(set(ids)) == 1
    assert counts(db_path) == (1, 1)
