def test_a_real_worker_runs_a_job_and_reports_progress_in_order(queue, start_worker):
    start_worker(threads=2)
    job = queue.start("steps", args=[6])
    done = queue.wait(job.id, timeout=15)
    assert done.state == "succeeded"
    assert done.result == {"imported": 6}
    assert done.progress.current == 6 and done.progress.percent == 100
    assert [line.message for line in done.logs] == ["cannot import line 3", "cannot import line 6"]


def test_an_isolated_task_is_stopped_by_cancel(queue, start_worker):
    from tests.conftest import wait_for
    start_worker(threads=1)
    job = queue.start("spin", args=[30])
    wait_for(lambda: queue.get(job.id).state == "running", timeout=15)
    queue.cancel(job.id)
    assert queue.wait(job.id, timeout=10).state == "canceled"
