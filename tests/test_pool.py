"""The connection pool: threads that end give their connections back (a host app under a
thread-per-request server calls queue.start and ends), and on PostgreSQL the pool of each
process is bounded: past it a thread waits, and then gets StorageError."""

from __future__ import annotations

import threading
import time

import pytest

import lilqueue
from lilqueue.store.pgdatabase import Location
from tests import engines, tasks


def in_thread(target) -> None:
    thread = threading.Thread(target=target)
    thread.start()
    thread.join()


def test_a_hundred_request_threads_that_start_and_end_leave_one_connection_behind(queue):
    def request():
        queue.get(queue.start("add", [1, 2]).id)

    for _ in range(100):
        in_thread(request)
    held = len(queue.database._in_use) + len(queue.database._connections)
    assert held <= 2, held


@pytest.mark.xdist_group("postgres-connections")
def test_postgresql_server_connections_stay_within_the_pool_under_a_burst_of_threads(pg_url):
    name = "pool_" + Location.parse(pg_url).schema
    queue = tasks.build(f"{pg_url}&max_connections=5&application_name={name}")
    errors: list[BaseException] = []

    def burst():
        try:
            for _ in range(10):
                queue.get(queue.start("add", [1, 2]).id)
        except BaseException as exc:  # noqa: BLE001 - the test reports whatever went wrong
            errors.append(exc)

    threads = [threading.Thread(target=burst) for _ in range(30)]
    for thread in threads:
        thread.start()
    peak = 0
    while any(t.is_alive() for t in threads):
        peak = max(peak, engines.sql(pg_url, "select count(*) from pg_stat_activity where application_name = ?",
                                     (name,))[0][0])
    assert errors == []
    assert 2 <= peak <= 5, peak  # the threads shared the pool, and it was used
    assert engines.sql(pg_url, "select count(*) from lilqueue_job") == [(300,)]
    queue.database.close_all()


def test_past_the_pool_a_thread_waits_then_gets_storage_error(pg_url):
    queue = tasks.build(pg_url + "&max_connections=2", busy_timeout=1.0)
    held = threading.Event()
    release = threading.Event()

    def hold():
        with queue.database.atomic():
            queue.database.execute_sql("select 1")
            held.set()
            release.wait(10)

    holders = [threading.Thread(target=hold) for _ in range(2)]
    for thread in holders:
        thread.start()
    assert held.wait(5)
    time.sleep(0.1)
    began = time.monotonic()
    with pytest.raises(lilqueue.StorageError, match="2 database connections"):
        queue.start("add", [1, 2])
    assert 0.8 <= time.monotonic() - began < 5
    release.set()
    for thread in holders:
        thread.join()
    assert queue.start("add", [1, 2]).state == "queued"  # a connection came free: it goes on
    queue.database.close_all()


def test_a_bad_max_connections_is_a_configuration_error(pg_url):
    with pytest.raises(lilqueue.ConfigurationError, match="max_connections"):
        lilqueue.Queue(pg_url + "&max_connections=0")
