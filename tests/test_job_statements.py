"""The SQL statements every job costs, as numbers: a change that adds a query to the path every
job takes (start, claim, finish) fails here and has to say why, with the new number
(docs/performance.md, "One job's cost by phase"). Counted by ``lilqueue.bench.phases``: on
SQLite each statement run, each row of an ``executemany`` included, a trigger's run not; on
PostgreSQL each statement sent, BEGIN and COMMIT included."""

from __future__ import annotations

import time

import pytest

from lilqueue.bench.phases import WORKER_ID, Statements, lilqueue_phases
from lilqueue.states import SUCCEEDED
from lilqueue.store import Final, Outcome

PLAIN = {
    #          start  claim  finish  finish+next (a busy worker's one transaction)
    "sqlite": (4, 5, 3, 5),
    "postgres": (4, 5, 3, 5),
}
FLOWS = {
    "sqlite": {"pipeline start": 5, "step claim": 7, "step finish+next": 13, "last step finish": 7,
               "batch of 10 start": 23, "child claim": 7, "child finish+next": 7},
    "postgres": {"pipeline start": 5, "step claim": 7, "step finish+next": 13, "last step finish": 7,
                 "batch of 10 start": 5, "child claim": 7, "child finish+next": 7},
}


@pytest.fixture
def count(queue):
    statements = Statements(lambda: queue.store.database.connection())

    def sent(call):
        with statements.counting():
            before = statements.count
            result = call()
            return statements.count - before, result
    queue.store.register(WORKER_ID, "test", 0, 1, time.time())
    return sent


def test_a_plain_job_costs_a_known_number_of_statements_per_phase(queue, engine):
    costs = lilqueue_phases(queue, jobs=5, task="noop")
    assert (costs["start"].statements, costs["claim"].statements, costs["finish"].statements,
            costs["finish+next"].statements) == PLAIN[engine]
    assert costs["run"].statements == 0  # the run wrapper writes nothing for a quiet task
    assert [job.state for job in queue.jobs()].count(SUCCEEDED) == 10


def test_a_pipeline_and_a_batch_cost_a_known_number_of_statements_per_phase(queue, engine, count):
    store = queue.store
    done = Outcome(SUCCEEDED, result="3")
    seen = {"pipeline start": count(lambda: queue.tasks["add"].then("add", 1).start(1, 2))[0]}
    seen["step claim"], claim = count(lambda: store.claim(WORKER_ID, time.time()))
    seen["step finish+next"], claim = count(lambda: store.finish(claim, WORKER_ID, done, Final(), time.time(), True))
    seen["last step finish"], _ = count(lambda: store.finish(claim, WORKER_ID, done, Final(), time.time(), False))
    seen["batch of 10 start"], batch = count(lambda: queue.tasks["add"].batch([(1, 2)] * 10))
    seen["child claim"], claim = count(lambda: store.claim(WORKER_ID, time.time()))
    seen["child finish+next"], _ = count(lambda: store.finish(claim, WORKER_ID, done, Final(), time.time(), True))
    assert seen == FLOWS[engine]
    assert queue.get(batch.id).flow is not None


# SQLite pages each phase writes to the -wal file, on a small table (each b-tree one page): a
# start writes the job table, the index of queued jobs, and Huey's table and index; a claim the
# job table, the queued and the running index, and Huey's two; a finish + next claim those, the
# finished index and (state, finished_at), in one commit. An index more on every job's path is
# a page more here (and ~25 us more per commit on this disk, docs/performance.md). The first
# finish of a task also writes its row of lilqueue_stat.
PAGES = {"start": 4.0, "claim": 5.0, "finish+next": 8.0}


@pytest.mark.sqlite_only
def test_a_plain_job_writes_a_known_number_of_pages_per_phase(queue):
    costs = lilqueue_phases(queue, jobs=5, task="noop")
    assert {phase: costs[phase].pages for phase in PAGES} == PAGES
    assert costs["run"].pages == 0
