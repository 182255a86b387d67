"""Property tests of the job state machine: random sequences of start, cancel, claim, progress,
finish (succeeded, failed, canceled, retried, handed back), worker death + reap and release of
due retries, applied through the real store (``queue.store``) on a real database: a SQLite file,
and a fresh PostgreSQL schema per sequence. The checks read the tables on a connection of their
own (tests/engines.py), not through lilqueue. After every step:

- a finished job never changes again;
- every change to a job's row bumps its ``version``, and ``version`` never goes down;
- progress never goes backwards as a polling client sees it (tasks report increasing values);
- a queued job has exactly one Huey message, a running job none (no row without its message);
- a worker that lost its job (reaped) can no longer change it.
"""

from __future__ import annotations

import itertools
import os
import pickle
import shutil
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import lilqueue
from lilqueue.store import Claim, Final, Outcome
from tests import engines, tasks

FINISHED = ("succeeded", "failed", "canceled")
COLUMNS = "id, state, version, current, total, message, result, error_type, attempts, cancel_requested, worker"
RUNS = {"steps": 0}
ENGINE = {"name": "sqlite"}  # the engine of the running test (hypothesis builds the machine)


class JobStateMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.directory = tempfile.mkdtemp(prefix="lilqueue-sm-")
        self.location = engines.fresh(ENGINE["name"], Path(self.directory))
        self.queue = tasks.build(self.location)
        self.reader = engines.connect(self.location)
        self.table = self.queue.store
        self.names = itertools.count()
        self.workers = [self._register(), self._register()]
        self.claims: list[tuple[Claim, str]] = []       # held by live workers
        self.zombies: list[tuple[Claim, str]] = []      # held by workers that were reaped
        self.ids: list[str] = []
        self.reported: dict[str, int] = {}
        self.seen: dict[str, tuple] = {}

    def teardown(self) -> None:
        self.reader.close()
        if engines.is_postgres(self.location):
            self.queue.database.close_all()
        else:
            self.queue.database.close()
        engines.drop(self.location)
        shutil.rmtree(self.directory, ignore_errors=True)

    def _sql(self, sql: str, params=()) -> list[tuple]:
        """One statement on the checker's own connection (``?`` placeholders, autocommit)."""
        if engines.is_postgres(self.location):
            sql = sql.replace("?", "%s")
        cursor = self.reader.execute(sql, params)
        return cursor.fetchall() if cursor.description else []

    def _register(self) -> str:
        worker = f"worker-{next(self.names)}"
        self.table.register(worker, "host", os.getpid(), 1, time.time())
        return worker

    def _rows(self) -> dict[str, tuple]:
        return {row[0]: row[1:] for row in self._sql(f"select {COLUMNS} from lilqueue_job")}

    def _messages(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for table in ("task", "schedule"):
            for (data,) in self._sql(f"select data from {engines.huey_table(self.location, table)}"):
                job_id = pickle.loads(data).id  # Huey's default serializer: a pickled Message
                found[job_id] = found.get(job_id, 0) + 1
        return found

    @rule(task=st.sampled_from(["add", "sleepy_retry", "flaky"]))
    def start(self, task):
        args = [1, 2] if task == "add" else [0.01] if task == "sleepy_retry" else [1]
        self.ids.append(self.queue.start(task, args=args).id)

    @precondition(lambda self: self.ids)
    @rule(pick=st.integers(min_value=0))
    def cancel(self, pick):
        job_id = self.ids[pick % len(self.ids)]
        try:
            self.queue.cancel(job_id)
        except lilqueue.JobFinished:
            assert self._rows()[job_id][0] in FINISHED

    @rule(which=st.integers(0, 1))
    def claim(self, which):
        worker = self.workers[which]
        claimed = self.table.claim(worker, time.time())
        if claimed:
            assert self._rows()[claimed.id][0] == "running"
            self.claims.append((claimed, worker))

    @precondition(lambda self: self.claims or self.zombies)
    @rule(pick=st.integers(min_value=0), zombie=st.booleans())
    def progress(self, pick, zombie):
        held = self.zombies if zombie and self.zombies else self.claims or self.zombies
        claim, worker = held[pick % len(held)]
        value = self.reported[claim.id] = self.reported.get(claim.id, 0) + 1
        before = self._rows()[claim.id]
        status, _ = self.table.record(claim.id, worker, (value, 1000, f"at {value}"), [], 0, None)
        if held is self.zombies:
            assert status == "lost" and self._rows()[claim.id] == before

    @precondition(lambda self: self.claims or self.zombies)
    @rule(pick=st.integers(min_value=0), zombie=st.booleans(),
          how=st.sampled_from(["succeeded", "failed", "canceled", "retry", "retry_later", "hand_back"]))
    def finish(self, pick, zombie, how):
        held = self.zombies if zombie and self.zombies else self.claims or self.zombies
        claim, worker = held.pop(pick % len(held))
        outcome = {
            "succeeded": Outcome("succeeded", result="3"),
            "failed": Outcome("failed", error=("ValueError", "boom", "tb")),
            "canceled": Outcome("canceled"),
            "retry": Outcome("failed", error=("ValueError", "boom", "tb"), retry_in=0),
            "retry_later": Outcome("failed", error=("ValueError", "boom", "tb"), retry_in=0.001),
            "hand_back": Outcome("queued", hand_back=True),
        }[how]
        before = self._rows()[claim.id]
        self.table.finish(claim, worker, outcome, Final(), time.time(), claim_next=False)
        after = self._rows()[claim.id]
        if held is self.zombies:
            assert after == before
        elif how in ("succeeded", "failed", "canceled"):
            assert after[0] == how
        else:
            assert after[0] == "queued"

    @rule(which=st.integers(0, 1))
    def worker_dies_and_is_reaped(self, which):
        dead = self.workers[which]
        self._sql("update lilqueue_worker set heartbeat_at = 0 where id = ?", (dead,))
        now = time.time()
        self.table.reap(now - 1, now)
        self.zombies += [c for c in self.claims if c[1] == dead]
        self.claims = [c for c in self.claims if c[1] != dead]
        self.workers[which] = self._register()

    @rule()
    def release_due_retries(self):
        time.sleep(0.002)
        self.table.release_due()

    @invariant()
    def every_change_bumps_the_version_and_finished_jobs_never_change(self):
        RUNS["steps"] += 1
        rows = self._rows()
        messages = self._messages()
        for job_id, row in rows.items():
            state, version, current = row[0], row[1], row[2]
            old = self.seen.get(job_id)
            if old is not None:
                assert version >= old[1], (job_id, old, row)
                if old[0] in FINISHED:
                    assert row == old, f"finished job {job_id} changed: {old} -> {row}"
                if row != old:
                    assert version > old[1], f"job {job_id} changed without a new version: {old} -> {row}"
                if old[2] is not None:
                    assert current is not None and current >= old[2], f"progress went back: {old} -> {row}"
            if state == "queued":
                assert messages.get(job_id, 0) == 1, f"queued job {job_id} has {messages.get(job_id, 0)} messages"
            elif state == "running":
                assert messages.get(job_id, 0) == 0
            else:
                assert messages.get(job_id, 0) <= 1
            self.seen[job_id] = row
        assert set(messages) <= set(rows), "a message without its job row"


@pytest.fixture
def machine_settings(long_form):
    return settings(max_examples=300 if long_form else 30, stateful_step_count=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow], database=None)


@pytest.fixture
def machine_engine(engine: str, postgres_missing):
    """The engine the machine runs on; PostgreSQL as tests/conftest.py's db_path has it."""
    if engine == "postgres" and postgres_missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required under CI=true: {postgres_missing}")
        pytest.skip(postgres_missing)
    ENGINE["name"] = engine
    yield engine
    ENGINE["name"] = "sqlite"


def test_random_operation_sequences_keep_the_job_state_machine_sound(machine_engine, machine_settings, figures):
    RUNS["steps"] = 0
    JobStateMachine.TestCase.settings = machine_settings
    JobStateMachine.TestCase().runTest()
    figures.update(examples=machine_settings.max_examples, steps_checked=RUNS["steps"], violations=0)


def test_a_client_polling_a_real_worker_never_sees_progress_or_state_go_backwards(queue, start_worker, figures):
    start_worker(2)
    order = {"queued": 0, "running": 1, "succeeded": 2}
    jobs = [queue.start("hot_loop", args=[200_000]).id, queue.start("steps", args=[60, 0.005]).id]
    polls = 0
    last = {job_id: (0, 0, -1.0) for job_id in jobs}
    deadline = time.monotonic() + 60
    while any(last[j][1] < 2 for j in jobs) and time.monotonic() < deadline:
        for job_id in jobs:
            job = queue.get(job_id)
            polls += 1
            seen = (job.version, order[job.state], job.progress.current or 0.0)
            assert all(a <= b for a, b in zip(last[job_id], seen, strict=True)), (last[job_id], seen)
            last[job_id] = seen
        time.sleep(0.003)
    assert all(last[j][1] == 2 for j in jobs)
    figures.update(client_polls=polls, backwards_seen=0)
