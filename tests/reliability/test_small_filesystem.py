"""A real full file system (a 4 MiB tmpfs) under a real worker, and a read-only mount.

Mounting needs root (CI containers run as root). Without it the tests skip, and fail under
CI=true. The file system is full for everyone: the job file, its WAL, the worker.

SQLite only: the faults are those of SQLite's own file (a full disk under the file and its WAL,
a read-only mount of it, ``PRAGMA integrity_check``). A PostgreSQL server keeps its files on its
own machine; its read-only refusal is in test_storage_faults.py."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

import lilqueue
from tests import tasks
from tests.reliability.support import integrity, rows, unfinished, wait_until

pytestmark = pytest.mark.sqlite_only


def mount(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["mount", *args], capture_output=True, text=True)


@pytest.fixture
def small_fs(tmp_path: Path):
    point = tmp_path / "fs"
    point.mkdir()
    done = mount("-t", "tmpfs", "-o", "size=4m", "tmpfs", str(point))
    if done.returncode != 0:
        message = f"cannot mount a tmpfs (needs root): {done.stderr.strip()}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    yield point
    subprocess.run(["umount", "-l", str(point)], capture_output=True)


@pytest.fixture
def db_path(engine: str, small_fs: Path) -> str:
    assert engine == "sqlite"  # sqlite_only: the file on the small file system
    return str(small_fs / "jobs.db")


def fill(directory: Path) -> Path:
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
    return filler


def test_a_full_disk_refuses_starts_the_worker_retries_and_nothing_stored_is_damaged(
        queue, db_path, small_fs, start_worker, figures):
    worker = start_worker(2)
    finished = [queue.start("add", args=[i, 1]).id for i in range(50)]
    wait_until(lambda: unfinished(db_path) == 0, timeout=20, what="first jobs done")
    before = rows(db_path, "select id, state, version, result from lilqueue_job order by id")
    running = queue.start("sleepy", args=[1.0])
    wait_until(lambda: queue.get(running.id).state == "running", timeout=10, what="running")

    filler = fill(small_fs)
    refused = accepted = 0
    with pytest.raises(lilqueue.StorageError) as caught:
        for _ in range(200):
            queue.start("add", args=["x" * 50_000, ""])
            accepted += 1
    refused += 1
    assert "full" in caught.value.detail or "I/O" in caught.value.detail, caught.value.detail
    time.sleep(2.5)  # the running job ends meanwhile: its outcome cannot be stored yet
    assert worker.process.poll() is None, worker.output()
    log = worker.output()
    assert "retrying" in log or "monitor" in log, log
    os.unlink(filler)

    assert queue.wait(running.id, timeout=20).state == "succeeded"
    after = queue.start("add", args=[20, 22])
    assert queue.wait(after.id, timeout=20).result == 42
    wait_until(lambda: unfinished(db_path) == 0, timeout=30, what="every job terminal")
    assert integrity(db_path) == "ok"
    assert set(before) <= set(rows(db_path, "select id, state, version, result from lilqueue_job order by id"))
    assert all(queue.get(i).state == "succeeded" for i in finished)
    assert "database is locked" not in worker.output()
    figures.update(starts_refused_disk_full=refused, starts_accepted_while_filling=accepted,
                   outcome_write_retries=log.count("cannot store its outcome"),
                   monitor_errors_logged=log.count("monitor:"), claim_errors_logged=log.count("cannot take jobs"),
                   worker_crashed=False, stored_jobs_intact=len(before), integrity="ok")


def test_a_queue_on_a_read_only_mount_refuses_writes_and_the_file_is_untouched(queue, db_path, small_fs,
                                                                             tmp_path, figures):
    ids = [queue.start("add", args=[i, i]).id for i in range(10)]
    view = tmp_path / "read-only"
    view.mkdir()
    assert mount("--bind", str(small_fs), str(view)).returncode == 0
    refused = 0
    try:
        assert mount("-o", "remount,bind,ro", str(view)).returncode == 0
        try:
            reader = tasks.build(str(view / "jobs.db"))
        except lilqueue.ConfigurationError as exc:  # no -shm to share: SQLite cannot open it at all
            assert "cannot open the job database" in str(exc)
            refused += 1
        else:
            try:
                assert reader.get(ids[0]).state == "queued"
                with pytest.raises(lilqueue.StorageError) as caught:
                    reader.start("add", args=[1, 2])
                assert "readonly" in caught.value.detail
                with pytest.raises(lilqueue.StorageError):
                    reader.cancel(ids[1])
                refused += 2
            finally:
                reader.database.close_all()
    finally:
        subprocess.run(["umount", "-l", str(view)], capture_output=True)
    assert integrity(db_path) == "ok"
    assert [queue.get(i).state for i in ids] == ["queued"] * 10
    assert rows(db_path, "select count(*) from lilqueue_job")[0][0] == 10
    figures.update(writes_refused_read_only_mount=refused, stored_jobs_intact=10, integrity="ok")


def test_the_start_endpoint_answers_503_problem_json_while_the_disk_is_full(queue, db_path, small_fs,
                                                                            start_server, figures):
    from tests.http_support import post_json, request

    server = start_server()
    stored = [queue.start("add", args=[i, 1]).id for i in range(20)]
    before = rows(db_path, "select id, state, version from lilqueue_job order by id")
    filler = fill(small_fs)
    answers = []
    for _ in range(100):
        answer = post_json(server.base, server.prefix + "/", {"task": "add", "args": ["x" * 50_000, ""]})
        answers.append(answer.status)
        if answer.status != 202:
            break
    assert answer.status == 503, answer
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    assert answer.json()["status"] == 503 and answer.headers.get("Retry-After")
    assert "Traceback" not in answer.body.decode()
    assert request(server.base, "GET", f"{server.prefix}/{stored[3]}").status == 200  # reads still work
    os.unlink(filler)
    assert post_json(server.base, server.prefix + "/", {"task": "add", "args": [1, 2]}).status == 202
    assert integrity(db_path) == "ok"
    assert set(before) <= set(rows(db_path, "select id, state, version from lilqueue_job order by id"))
    assert "Traceback" not in server.output()
    figures.update(starts_answered_503=answers.count(503), accepted_while_filling=answers.count(202),
                   stored_jobs_intact=len(before), integrity="ok")
