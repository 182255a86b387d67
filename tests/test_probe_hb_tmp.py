import time
from tests.conftest import wait_for

def test_busy_worker_not_reaped(queue, start_worker):
    a = start_worker(threads=2)
    jobs = [queue.start("hot_loop", args=[12_000_000]) for _ in range(2)]
    for j in jobs:
        wait_for(lambda: queue.get(j.id).state == "running", timeout=10)
    b = start_worker(threads=1)
    for j in jobs:
        d = queue.wait(j.id, timeout=60)
        print(d, d.error, (d.finished_at - d.started_at).total_seconds())
    print(a.output()[-3000:])
    print(b.output()[-2000:])
    assert all(queue.get(j.id).state == "succeeded" for j in jobs)
