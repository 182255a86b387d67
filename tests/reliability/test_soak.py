"""Soak: for a bounded time, 8 clients start progress-heavy jobs and 100 clients long-poll them
over real HTTP (``python -m lilqueue serve``), while 2 worker processes run them.

Short form ~35 s of load; long form (LILQUEUE_LONG=1) 10 minutes. Afterwards: no 5xx, no
"database is locked" in any log, every job terminal. Prints the p50/p99 start latency and
progress-to-client latency: the ``clock`` task puts the time of each progress() call in the
message, and a sample counts only if the client was already waiting when that call was made.
"""

from __future__ import annotations

import http.client
import json
import random
import statistics
import threading
import time

from tests.reliability.support import rows, unfinished, wait_until

STARTERS = 8
WATCHERS = 100


class Load:
    def __init__(self, base: str, prefix: str) -> None:
        host, port = base.removeprefix("http://").split(":")
        self.host, self.port, self.prefix = host, int(port), prefix
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.jobs: list[str] = []
        self.finished: set[str] = set()
        self.statuses: dict[int, int] = {}
        self.failures: list[str] = []
        self.start_latency: list[float] = []
        self.progress_latency: list[float] = []

    def call(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, path, body=body, headers=headers)
            answer = conn.getresponse()
            data = answer.read()
        finally:
            conn.close()
        with self.lock:
            self.statuses[answer.status] = self.statuses.get(answer.status, 0) + 1
            if answer.status >= 500:
                self.failures.append(f"{method} {path}: {answer.status} {data[:300]!r}")
        return answer.status, data

    def starter(self, seed: int) -> None:
        rng = random.Random(seed)
        while not self.stop.is_set():
            if rng.random() < 0.7:
                body = {"task": "clock", "args": [rng.randint(1500, 3000), 0.0004]}
            elif rng.random() < 0.5:
                body = {"task": "hot_loop", "args": [rng.randint(20_000, 60_000)]}
            else:
                body = {"task": "steps", "args": [rng.randint(20, 60), 0.01]}
            began = time.perf_counter()
            try:
                status, data = self.call("POST", self.prefix + "/", json.dumps(body).encode())
            except OSError as exc:
                self.failures.append(f"start: {exc!r}")
                continue
            if status == 202:
                with self.lock:
                    self.start_latency.append(time.perf_counter() - began)
                    self.jobs.append(json.loads(data)["id"])
            self.stop.wait(rng.uniform(1.5, 3.0))

    def watcher(self, seed: int) -> None:
        rng = random.Random(seed)
        while not self.stop.is_set():
            with self.lock:
                recent = [j for j in self.jobs[-30:] if j not in self.finished]
            if not recent:
                self.stop.wait(0.1)
                continue
            job_id, since = rng.choice(recent), 0
            while not self.stop.is_set():
                asked = time.time()
                try:
                    status, data = self.call("GET", f"{self.prefix}/{job_id}?since={since}&wait=5")
                except OSError as exc:
                    self.failures.append(f"poll: {exc!r}")
                    break
                if status != 200:
                    self.stop.wait(0.2)
                    break
                job = json.loads(data)
                received = time.time()
                message = job["progress"]["message"]
                if job["task"] == "clock" and job["state"] == "running" and message:
                    stamp = float(message)
                    if stamp > asked:  # the client was waiting when progress() was called
                        with self.lock:
                            self.progress_latency.append(received - stamp)
                since = job["version"]
                if job["state"] in ("succeeded", "failed", "canceled"):
                    with self.lock:
                        self.finished.add(job_id)
                    break


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def test_a_soak_of_starts_long_polls_and_progress_has_no_5xx_no_lock_errors_and_ends_terminal(
        db_path, start_server, start_worker, long_form, figures):
    duration = 600 if long_form else 35
    server = start_server()
    workers = [start_worker(2), start_worker(2)]
    load = Load(server.base, server.prefix)
    threads = [threading.Thread(target=load.starter, args=(i,), daemon=True) for i in range(STARTERS)]
    threads += [threading.Thread(target=load.watcher, args=(100 + i,), daemon=True) for i in range(WATCHERS)]
    for thread in threads:
        thread.start()
    time.sleep(duration)
    load.stop.set()
    for thread in threads:
        thread.join(30)
    wait_until(lambda: unfinished(db_path) == 0, timeout=120, what="every job terminal")

    logs = server.output() + "".join(w.output() for w in workers)
    states = dict(rows(db_path, "select state, count(*) from lilqueue_job group by state"))
    progress_writes = rows(db_path, "select sum(version) from lilqueue_job")[0][0]
    assert load.failures == []
    assert all(status < 500 for status in load.statuses), load.statuses
    assert "database is locked" not in logs
    assert "Traceback" not in logs, logs[-3000:]
    assert set(states) == {"succeeded"}, states
    assert len(load.start_latency) >= STARTERS * duration / 3 * 0.5
    assert len(load.progress_latency) >= 20
    figures.update(
        seconds=duration, starters=STARTERS, long_pollers=WATCHERS, worker_processes=len(workers),
        jobs=sum(states.values()), job_versions_written=progress_writes,
        responses=sum(load.statuses.values()), statuses={str(k): v for k, v in sorted(load.statuses.items())},
        responses_5xx=0, locked_errors=0,
        start_latency_ms_p50=round(statistics.median(load.start_latency) * 1000, 1),
        start_latency_ms_p99=round(percentile(load.start_latency, 99) * 1000, 1),
        progress_latency_ms_p50=round(statistics.median(load.progress_latency) * 1000, 1),
        progress_latency_ms_p99=round(percentile(load.progress_latency, 99) * 1000, 1),
        progress_samples=len(load.progress_latency))
    print(f"\nsoak: start latency p50 {figures['start_latency_ms_p50']} ms, p99 {figures['start_latency_ms_p99']} ms;"
          f" progress-to-client p50 {figures['progress_latency_ms_p50']} ms,"
          f" p99 {figures['progress_latency_ms_p99']} ms")
