"""The web process killed (SIGKILL to its process group) during a burst of concurrent starts,
over real HTTP against ``python -m lilqueue serve``: every job that got a 202 exists and runs,
and the job rows and Huey's messages match one to one."""

from __future__ import annotations

import http.client
import json
import threading

from tests.reliability.support import integrity, queued_and_messages, rows, unfinished, wait_until

CLIENTS = 8


def burst(base: str, prefix: str, accepted: list[str], stop: threading.Event, errors: list[str]) -> None:
    host, port = base.removeprefix("http://").split(":")
    body = json.dumps({"task": "add", "args": [1, 2]}).encode()
    while not stop.is_set():
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            conn.request("POST", prefix + "/", body=body, headers={"Content-Type": "application/json"})
            answer = conn.getresponse()
            data = answer.read()
            if answer.status == 202:
                accepted.append(json.loads(data)["id"])
            else:
                errors.append(f"{answer.status} {data[:200]!r}")
        except (OSError, http.client.HTTPException, ValueError):
            return  # the server is gone (a 202 cut off mid-body counts as not received)
        finally:
            conn.close()


def test_killing_the_web_process_during_a_burst_of_starts_loses_no_accepted_job(
        queue, db_path, start_server, start_worker, long_form, figures):
    rounds = 20 if long_form else 3
    accepted: list[str] = []
    errors: list[str] = []
    for _ in range(rounds):
        server = start_server()
        stop = threading.Event()
        clients = [threading.Thread(target=burst, args=(server.base, server.prefix, accepted, stop, errors))
                   for _ in range(CLIENTS)]
        before = len(accepted)
        for client in clients:
            client.start()
        wait_until(lambda b=before: len(accepted) >= b + 40, timeout=30, interval=0.01, what="a burst of 202s")
        server.kill()
        stop.set()
        for client in clients:
            client.join(15)

        queued, messages = queued_and_messages(db_path)
        assert set(accepted) <= queued, "a job answered with 202 is missing"
        assert set(messages) == queued, "a job row without its message, or a message without its row"
        assert all(count == 1 for count in messages.values())
        assert integrity(db_path) == "ok"
    assert errors == []
    assert len(accepted) == len(set(accepted))

    start_worker(4)
    wait_until(lambda: unfinished(db_path) == 0, timeout=120, what="every job terminal")
    results = dict(rows(db_path, "select id, result from lilqueue_job where state = 'succeeded'"))
    assert all(results.get(job_id) == "3" for job_id in accepted)
    total = rows(db_path, "select count(*) from lilqueue_job")[0][0]
    figures.update(web_kills=rounds, client_threads=CLIENTS, jobs_202=len(accepted), job_rows=total,
                   rows_without_message=0, messages_without_row=0, jobs_lost=0, all_ran=True)
