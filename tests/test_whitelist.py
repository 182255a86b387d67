"""The whitelist: only a function registered with ``@queue.task`` starts, and only by the name it
was registered under — never by a module path, a dotted path, an attribute of the queue or of a
task, a path trick or a Unicode look-alike, over HTTP or from Python. Each refusal writes nothing,
and a live worker runs nothing."""

from __future__ import annotations

import os

import pytest

import lilqueue
from tests import engines, tasks
from tests.http_support import post_json, request, serving

# Every shape of name that must not start anything. ``add`` and ``noop`` are registered;
# ``unregistered`` is a module-level function of tests.tasks that leaves a file if it runs.
REFUSED = [
    "unregistered",                      # a module-level function that was never decorated
    "tests.tasks:unregistered",          # module:function
    "tests.tasks.unregistered",          # a dotted path
    "tests.tasks:add",                   # the module path of a registered function
    "tests.tasks.add",
    "builtins:print", "builtins.print", "print", "eval", "exec", "__import__",
    "os:getcwd", "os.getcwd", "os:system", "subprocess:run",
    "lilqueue:Queue", "lilqueue.Queue",
    "queue", "tests.tasks:queue", "tests.tasks.queue",   # the queue object's name
    "tasks", "TASKS", "huey", "build",
    "add.func", "add:func", "add.__call__", "add.start", "add.huey_task",  # attributes of a task
    "__init__", "__class__", "__dict__", "__globals__", "__builtins__",
    "../add", "./add", "/add", "add/", "add/../add", "%61dd", "add%00", "add\x00", "add\n",
    " add", "add ", "ADD", "Add",
    "\uff41\uff44\uff44",                # fullwidth "add" (NFKC makes it "add")
    "\u0430dd",                          # Cyrillic "a" + "dd"
    "add\u200b",                         # a zero-width space after "add"
    "a\u0301dd",                         # a combining accent
    "\u2024add",                         # a one-dot leader (NFKC: ".")
]


def ran_unregistered(db_path: str) -> bool:
    return os.path.exists(engines.side_file(db_path, ".unregistered"))


def messages(db_path: str) -> int:
    return sum(engines.sql(db_path, f"select count(*) from {engines.huey_table(db_path, table)}")[0][0]
               for table in ("task", "schedule"))


def test_no_name_but_a_registered_one_starts_from_python_and_a_refusal_writes_nothing(queue, db_path):
    for name in REFUSED:
        with pytest.raises(lilqueue.UnknownTask) as raised:
            queue.start(name, [1, 2])
        assert raised.value.name == name
        with pytest.raises(lilqueue.UnknownTask):
            queue.start_many(name, [[1, 2]])
        with pytest.raises(lilqueue.UnknownTask):
            queue.lookup(name)
    assert engines.sql(db_path, "select count(*) from lilqueue_job")[0][0] == 0
    assert messages(db_path) == 0
    assert not ran_unregistered(db_path)


def test_a_task_of_another_queue_with_a_registered_name_is_refused(queue, db_path, tmp_path):
    other = tasks.build(str(tmp_path / "other.db"))
    with pytest.raises(lilqueue.UnknownTask):
        queue.start(other.tasks["add"], [1, 2])
    assert engines.sql(db_path, "select count(*) from lilqueue_job")[0][0] == 0


def test_over_http_every_refused_name_is_a_4xx_problem_and_a_live_worker_runs_nothing(queue, db_path,
                                                                                       start_worker, face):
    start_worker()
    with serving(queue, face) as start:
        base = start()
        for name in REFUSED:
            answer = post_json(base, "/jobs/", {"task": name, "args": [], "kwargs": {}})
            assert answer.status == 404, (name, answer)
            assert answer.headers["Content-Type"] == "application/problem+json"
            assert answer.json()["type"].endswith("unknown-task"), answer.json()
        assert post_json(base, "/jobs/", {"task": "noop"}).status == 202
        listed = {task["name"] for task in request(base, "GET", "/jobs/tasks").json()["tasks"]}
        assert listed == set(queue.tasks)
    # The worker is alive: the registered job started last runs, and nothing before it did.
    last = queue.jobs(limit=10)
    assert [job.task for job in last] == ["noop"]
    assert queue.wait(last[0].id, timeout=20).state == "succeeded"
    assert messages(db_path) == 0
    assert not ran_unregistered(db_path)

