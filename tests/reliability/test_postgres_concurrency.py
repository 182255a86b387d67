"""Proofs under concurrency, on PostgreSQL only: there, unlike on SQLite, writers run side by side,
and the state machine's guards (lilqueue/store/statemachine.py: every UPDATE names the state it leaves and
acts on its row count) are what keeps jobs from being lost or run twice.

- many real worker processes on one database: every job runs exactly once;
- worker processes killed with SIGKILL while others keep running and reap them: nothing is left
  running, nothing is lost, nothing runs twice;
- targeted races between threads of one process on the store API: a cancel racing a claim, two
  reapers of one dead worker, many starts with one key.

Each test runs on a fresh schema of its own (``pg_path``). Without PostgreSQL the tests skip,
except under ``CI=true``, where they fail (as tests/conftest.py's ``db_path`` does). Executions
are counted outside the database, in the run-record file the ``recorded`` task appends to.
"""

from __future__ import annotations

import collections
import os
import pickle
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from lilqueue.store import Claim, Final, Outcome
from tests import engines, tasks
from tests.conftest import WorkerProcess, worker_starter
from tests.reliability.support import check_killed_run, rows, start_recorded, stray_tracebacks, wait_until

# Dozens of server connections each: one at a time under pytest-xdist, within max_connections (100).
pytestmark = pytest.mark.xdist_group("postgres-connections")


@pytest.fixture
def pg_path(tmp_path: Path, postgres_missing):
    """A fresh PostgreSQL schema for this test (dropped afterwards, with its run-record file)."""
    if postgres_missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required under CI=true: {postgres_missing}")
        pytest.skip(postgres_missing)
    location = engines.fresh("postgres", tmp_path)
    yield location
    engines.drop(location)
    records = engines.side_file(location, ".runs")
    if os.path.exists(records):
        os.unlink(records)


@pytest.fixture
def pg_queue(pg_path: str):
    queue = tasks.build(pg_path)
    yield queue
    queue.database.close_all()  # every thread's connection, before the schema is dropped


@pytest.fixture
def pg_workers(pg_path: str, pg_queue, tmp_path: Path):
    """Start real worker processes on the test's schema: ``pg_workers(threads=4)``."""
    yield from worker_starter(pg_path, tmp_path)


def unfinished(pg_path: str) -> int:
    return rows(pg_path, "select count(*) from lilqueue_job where state in ('queued', 'running')")[0][0]


def huey_messages(pg_path: str) -> int:
    return sum(rows(pg_path, f"select count(*) from {engines.huey_table(pg_path, table)}")[0][0]
               for table in ("task", "schedule"))


def run_lines(pg_path: str) -> dict[str, list[tuple[int, str, int]]]:
    """job id -> [(attempt, event, pid)] from the run-record file."""
    found: dict[str, list[tuple[int, str, int]]] = collections.defaultdict(list)
    path = engines.side_file(pg_path, ".runs")
    if os.path.exists(path):
        with open(path) as lines:
            for line in lines:
                job_id, attempt, event, pid = line.split()
                found[job_id].append((int(attempt), event, int(pid)))
    return found


WORKERS, THREADS, JOBS = 4, 4, 5000


def test_four_worker_processes_of_four_threads_run_5000_jobs_each_exactly_once(pg_queue, pg_path, pg_workers,
                                                                               figures):
    workers = [pg_workers(THREADS, wait=False) for _ in range(WORKERS)]
    for worker in workers:
        worker.wait_ready()
    began = time.monotonic()
    ids: list[str] = []
    for _ in range(0, JOBS, 250):  # started while the workers already claim
        ids += [job.id for job in pg_queue.start_many("recorded", [[0]] * 250)]
    started = time.monotonic() - began
    wait_until(lambda: unfinished(pg_path) == 0, timeout=120, what="every job terminal")
    seconds = time.monotonic() - began

    jobs = {r[0]: r[1:] for r in rows(pg_path, "select id, state, attempts, result, worker from lilqueue_job")}
    executions = run_lines(pg_path)
    assert len(ids) == len(set(ids)) == JOBS and set(jobs) == set(ids), "a job row is missing or extra"
    lost = [i for i, (state, *_) in jobs.items() if state != "succeeded"]
    twice = [i for i in ids if sorted((a, e) for a, e, _ in executions.get(i, [])) != [(1, "end"), (1, "start")]]
    assert lost == [], f"{len(lost)} jobs did not succeed: {lost[:5]}"
    assert twice == [], f"{len(twice)} jobs did not run exactly once: {[(i, executions.get(i)) for i in twice[:5]]}"
    assert all(attempts == 1 and result == "1" for _, attempts, result, _ in jobs.values())
    assert set(executions) == set(ids), "a run of a job that does not exist"
    assert huey_messages(pg_path) == 0, "messages left behind"
    per_process = collections.Counter(pid for events in executions.values() for _, e, pid in events if e == "start")
    per_worker = collections.Counter(worker for *_, worker in jobs.values())
    assert set(per_process) == {w.pid for w in workers}, "a worker process ran no job"
    assert len(per_worker) == WORKERS
    for worker in workers:
        assert worker.process.poll() is None, worker.output()
        log = worker.output()
        assert stray_tracebacks(log) == [] and "Traceback" not in log, log[-3000:]
    figures.update(worker_processes=WORKERS, threads_each=THREADS, jobs=JOBS, seconds=round(seconds, 1),
                   seconds_to_start=round(started, 1), jobs_per_s=round(JOBS / seconds),
                   jobs_per_process_min=min(per_process.values()), jobs_per_process_max=max(per_process.values()),
                   lost=len(lost), run_twice=len(twice))


def worker_id(pg_path: str, worker: WorkerProcess) -> str:
    return rows(pg_path, "select id from lilqueue_worker where pid = ?", (worker.pid,))[0][0]


def held_by(pg_path: str, worker: str) -> set[tuple[str, int]]:
    return set(rows(pg_path, "select id, attempts from lilqueue_job where state = 'running' and worker = ?",
                    (worker,)))


def test_worker_processes_killed_mid_run_leave_nothing_running_and_lose_or_duplicate_nothing(
        pg_queue, pg_path, pg_workers, long_form, figures):
    total = 3000 if long_form else 600
    kills = 12 if long_form else 4
    start_recorded(pg_queue, 2024, total, (0.02, 0.1), 100)
    rng = random.Random(2024)  # which worker each kill takes

    live = [pg_workers(3, wait=False) for _ in range(3)]
    for worker in live:
        worker.wait_ready()
    killed: list[str] = []
    interrupted: set[tuple[str, int]] = set()
    for _ in range(kills):
        victim = rng.choice(live)
        victim.wait_ready()
        victim_id = worker_id(pg_path, victim)
        done_before = total - unfinished(pg_path)
        wait_until(lambda v=victim_id, d=done_before: len(held_by(pg_path, v)) >= 2
                   and total - unfinished(pg_path) >= d + 15,
                   timeout=30, interval=0.01, what="the victim running two jobs, and progress")
        victim.kill_group()  # SIGKILL to its process group; the others reap its jobs
        held = held_by(pg_path, victim_id)
        assert len(held) >= 1
        interrupted |= held
        killed.append(victim_id)
        live.remove(victim)
        live.append(pg_workers(3, wait=False))
    for worker in live:
        worker.wait_ready()
    wait_until(lambda: unfinished(pg_path) == 0, timeout=300 if long_form else 90, what="every job terminal")

    counted = check_killed_run(pg_path, total, interrupted)
    running_at_kill = {job_id for job_id, _ in interrupted}
    assert huey_messages(pg_path) == 0, "messages left behind"
    marks = ",".join("?" * len(killed))
    assert rows(pg_path, f"select count(*) from lilqueue_worker where id in ({marks})", killed)[0][0] == 0
    reaped_lines = sum(w.output().count("its worker was lost") for w in live)
    figures.update(jobs=total, worker_processes=3, sigkills=kills, running_at_kill=len(running_at_kill),
                   **counted, reaped_by_surviving_workers=reaped_lines, left_running=0, jobs_lost=0, duplicates=0)


class Together:
    """Runs calls on threads of a pool, all released at once by a barrier, and counts the rounds
    in which the calls were really in flight at the same time (their spans overlapped)."""

    def __init__(self, threads: int) -> None:
        self.pool = ThreadPoolExecutor(threads)
        self.barrier = threading.Barrier(threads)
        self.overlapping = 0

    def run(self, *calls):
        """Each call on its own thread; returns their results in order."""
        def released(call):
            self.barrier.wait(10)
            began = time.monotonic()
            result = call()
            return result, began, time.monotonic()

        done = [future.result(30) for future in [self.pool.submit(released, call) for call in calls]]
        self.overlapping += max(d[1] for d in done) < min(d[2] for d in done)
        return [d[0] for d in done]

    def close(self) -> None:
        self.pool.shutdown()


@pytest.fixture
def together():
    made: list[Together] = []

    def make(threads: int) -> Together:
        made.append(Together(threads))
        return made[-1]

    yield make
    for one in made:
        one.close()


@pytest.fixture
def check(pg_path: str):
    """``check(sql, params)``: reads on one connection of the test's own, outside lilqueue."""
    conn = engines.connect(pg_path)

    def sql(query: str, params=()) -> list[tuple]:
        cursor = conn.execute(query.replace("?", "%s"), params)
        return cursor.fetchall() if cursor.description else []

    yield sql
    conn.close()


def messages_of(check, pg_path: str) -> collections.Counter:
    """How many Huey messages (queued or scheduled) each job id has."""
    found: collections.Counter = collections.Counter()
    for table in ("task", "schedule"):
        for (data,) in check(f"select data from {engines.huey_table(pg_path, table)}"):
            found[pickle.loads(data).id] += 1  # Huey's default serializer: a pickled Message
    return found


def pause(seconds: float) -> None:
    if seconds:
        time.sleep(seconds)


def test_a_cancel_racing_a_claim_either_ends_the_job_unrun_or_flags_the_running_job(pg_queue, pg_path, check,
                                                                                   together, figures):
    """Each round: one queued job; one thread claims while another cancels. Either the cancel
    came first (the job ends canceled and the claim skips it) or the claim did (the job runs,
    with its cancel flag set, and the worker is told to stop it). Never a running job without
    the flag, never a canceled job a claim handed out."""
    store = pg_queue.store
    rng = random.Random(77)
    worker = "racer"
    store.register(worker, "host", os.getpid(), 1, time.time())
    rounds = 500
    violations: list[str] = []
    outcomes: collections.Counter = collections.Counter()
    race = together(2)
    for r in range(rounds):
        job = pg_queue.start("noop")
        delays = rng.choice([(0, 0), (0, 0), (0.0005, 0), (0, 0.0005), (0.001, 0), (0, 0.001)])
        claimed, canceled = race.run(lambda d=delays[0]: (pause(d), store.claim(worker, time.time()))[1],
                                     lambda d=delays[1], j=job.id: (pause(d), store.cancel(j, time.time()))[1])
        state, flag, holder = check("select state, cancel_requested, worker from lilqueue_job where id = ?",
                                    (job.id,))[0]
        messages = messages_of(check, pg_path).get(job.id, 0)
        if isinstance(claimed, Claim):
            outcomes["claim_first"] += 1
            if claimed.id != job.id:
                violations.append(f"round {r}: claimed another job {claimed.id}")
            if (state, flag, holder) != ("running", 1, worker):
                violations.append(f"round {r}: claimed, but the row is {(state, flag, holder)}")
            if job.id not in store.cancel_requests(worker):
                violations.append(f"round {r}: the worker is not told to stop the canceled job")
            store.finish(claimed, worker, Outcome("canceled"), Final(), time.time(), claim_next=False)
            if check("select state from lilqueue_job where id = ?", (job.id,))[0][0] != "canceled":
                violations.append(f"round {r}: the flagged job did not end canceled")
        elif claimed is False:
            outcomes["cancel_first"] += 1
            if state != "canceled" or holder is not None:
                violations.append(f"round {r}: the claim skipped the job, but the row is {(state, holder)}")
        else:
            violations.append(f"round {r}: the claim found no message ({claimed!r})")
        if not (canceled.state == "canceled" or (canceled.state == "running" and canceled.cancel_requested)):
            violations.append(f"round {r}: cancel answered {canceled.state}, flag {canceled.cancel_requested}")
        if state == "running" and not flag:
            violations.append(f"round {r}: running without its cancel flag")
        if messages:
            violations.append(f"round {r}: {messages} messages left")
    assert violations == []
    assert len(outcomes) == 2, f"the race always went one way: {dict(outcomes)}"
    assert check("select count(*) from lilqueue_job where state != 'canceled'")[0][0] == 0
    figures.update(rounds=rounds, calls_overlapping=race.overlapping, **outcomes, violations=len(violations))


def test_two_reapers_of_one_dead_worker_take_each_job_exactly_once(pg_queue, pg_path, check, together, figures):
    """Each round: a dead worker holds 12 running jobs (6 without retries: they fail as lost;
    6 with a retry left: they go back to the queue; one of each with its cancel requested: they
    end canceled). Two threads reap at once. Each job is reaped by exactly one, a requeued job
    has exactly one message and one "lost" log line. In odd rounds the worker's row is gone
    already, so both reapers find the same orphaned jobs and only the per-job guards decide."""
    store = pg_queue.store
    rounds, per_round = 50, 12
    violations: list[str] = []
    split = reaped_total = 0
    race = together(2)
    store.register("cleaner", "host", os.getpid(), 1, time.time())
    marks = ",".join("?" * per_round)
    for r in range(rounds):
        dead = f"dead-{r}"
        store.register(dead, "host", 999_999, 4, time.time())
        plain = [j.id for j in pg_queue.start_many("recorded", [[0]] * (per_round // 2))]
        retrying = [j.id for j in pg_queue.start_many("recorded_retry", [[0]] * (per_round // 2))]
        claims = [store.claim(dead, time.time()) for _ in range(per_round)]
        assert sorted(c.id for c in claims) == sorted(plain + retrying)
        flagged = {plain[0], retrying[0]}
        for job_id in flagged:
            store.cancel(job_id, time.time())
        if r % 2:
            check("delete from lilqueue_worker where id = ?", (dead,))
        else:  # a stale heartbeat: the reapers meet at the worker's row first
            check("update lilqueue_worker set heartbeat_at = 0 where id = ?", (dead,))
        now = time.time()
        first, second = race.run(lambda n=now: store.reap(n - 1.5, n), lambda n=now: store.reap(n - 1.5, n))
        reaped = [job_id for job_id, _ in first + second]
        reaped_total += len(reaped)
        split += bool(first) and bool(second)
        expected = {**{j: "failed" for j in plain}, **{j: "queued" for j in retrying},
                    **{j: "canceled" for j in flagged}}
        if sorted(reaped) != sorted(expected):
            twice = [j for j, n in collections.Counter(reaped).items() if n > 1]
            violations.append(f"round {r}: reaped twice {twice}, missed {set(expected) - set(reaped)}")
        elif dict(first + second) != expected:
            violations.append(f"round {r}: reaped as {dict(first + second)}, expected {expected}")
        found = dict(check(f"select id, state from lilqueue_job where id in ({marks})", list(expected)))
        if found != expected:
            violations.append(f"round {r}: rows {found}")
        messages = messages_of(check, pg_path)
        for job_id, state in expected.items():
            if messages.get(job_id, 0) != (1 if state == "queued" else 0):
                violations.append(f"round {r}: {job_id} ({state}) has {messages.get(job_id, 0)} messages")
        lost_lines = dict(check(f"select job_id, count(*) from lilqueue_log where job_id in ({marks})"
                                " and strpos(message, 'was lost with its worker') > 0 group by job_id",
                                list(expected)))
        if lost_lines != {j: 1 for j, s in expected.items() if s == "queued"}:
            violations.append(f"round {r}: 'lost' log lines {lost_lines}")
        while (claim := store.claim("cleaner", time.time())) is not None:  # run the requeued ones
            if claim:
                store.finish(claim, "cleaner", Outcome("succeeded", result="1"), Final(), time.time(),
                             claim_next=False)
    assert violations == []
    assert unfinished(pg_path) == 0 and huey_messages(pg_path) == 0
    figures.update(rounds=rounds, jobs_reaped=reaped_total, calls_overlapping=race.overlapping,
                   rounds_split_between_reapers=split, reaped_twice=0, violations=len(violations))


def test_many_starts_with_one_key_make_exactly_one_job(pg_queue, pg_path, check, together, figures):
    """Each round: 8 threads start a job with one new key at once. Exactly one job row holds
    the key, with one message, and every start answers that job."""
    threads, rounds = 8, 200
    violations: list[str] = []
    race = together(threads)
    for r in range(rounds):
        key = f"import-{r}"
        started = race.run(*[lambda k=key: pg_queue.start("noop", key=k)] * threads)
        holders = [row[0] for row in check("select id from lilqueue_job where key = ?", (key,))]
        if len(holders) != 1:
            violations.append(f"round {r}: {len(holders)} job rows hold the key")
            continue
        if {job.id for job in started} != set(holders):
            violations.append(f"round {r}: the starts answered {sorted({j.id for j in started})}, not {holders}")
        count = messages_of(check, pg_path).get(holders[0], 0)
        if count != 1:
            violations.append(f"round {r}: the job has {count} messages")
    assert violations == []
    assert check("select count(*) from lilqueue_job")[0][0] == rounds
    assert huey_messages(pg_path) == rounds
    figures.update(rounds=rounds, threads=threads, starts=rounds * threads, calls_overlapping=race.overlapping,
                   jobs_per_key_max=1, violations=len(violations))
