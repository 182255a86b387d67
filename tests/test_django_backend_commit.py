"""``lilqueue.django.Backend`` around transactions (on commit by default, at once on request,
never a wait on a SQLite file shared with Django), its validation, the closed door over HTTP, and
the ``django.tasks`` import path of Django 6."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import django
import pytest

import lilqueue
from lilqueue.django.carrier import register
from tests import engines
from tests.conftest import ROOT
from tests.django_tasks_support import TasksSite
from tests.http_support import post_json, request, running

pytest.importorskip("django")
pytest.importorskip("django_tasks")

pytestmark = pytest.mark.xdist_group("django-tasks")

IN_TRANSACTIONS = """
from django.db import transaction
from lilqueue import JobNotFound

def recorded(result_id):
    try:
        return queue.get(result_id).state
    except JobNotFound:
        return None

seen = {}
with transaction.atomic():
    kept = tasks.add.enqueue(1, 2)
    seen["inside"] = (recorded(kept.id), kept.enqueued_at is None)
seen["committed"] = (recorded(kept.id), kept.enqueued_at is not None)
try:
    with transaction.atomic():
        dropped = tasks.add.enqueue(3, 4)
        seen["before rollback"] = recorded(dropped.id)
        raise RuntimeError("roll back")
except RuntimeError:
    pass
seen["rolled back"] = recorded(dropped.id)
try:
    backend.get_result(dropped.id)
except TaskResultDoesNotExist:
    seen["result"] = "does not exist"
out(seen)
"""


def test_inside_a_transaction_the_job_is_recorded_on_commit_and_never_after_a_rollback(db_path, tmp_path):
    seen = TasksSite(tmp_path, db_path).probe(IN_TRANSACTIONS)
    assert seen == {"inside": [None, True], "committed": ["queued", True], "before rollback": None,
                    "rolled back": None, "result": "does not exist"}


def test_enqueue_on_commit_false_records_the_job_at_once_even_if_the_transaction_rolls_back(db_path, tmp_path):
    seen = TasksSite(tmp_path, db_path).probe(IN_TRANSACTIONS, ENQUEUE_ON_COMMIT="0")
    assert seen == {"inside": ["queued", False], "committed": ["queued", True], "before rollback": "queued",
                    "rolled back": "queued"}


SHARED = """
from django.db import transaction
from lilqueue import JobNotFound
from tests.djangoproject.shop.models import Note

took, states = [], []
for _ in range(3):
    with transaction.atomic():
        Note.objects.create(text="a write: this transaction holds SQLite's one writer")
        began = time.monotonic()
        result = tasks.save_note.enqueue("from the worker")
        took.append(time.monotonic() - began)
        try:
            states.append(queue.get(result.id).state)
        except JobNotFound:
            states.append(None)
out({"took": max(took), "inside": states, "result": describe(finished(backend.get_result(result.id)))})
"""


@pytest.mark.parametrize("on_commit", ["1", "0"])
def test_on_a_sqlite_file_shared_with_django_an_enqueue_after_a_write_neither_deadlocks_nor_waits(
        tmp_path, on_commit):
    shared = tmp_path / "site.sqlite3"
    site = TasksSite(tmp_path, str(shared), django_db=shared, migrate=True, ENQUEUE_ON_COMMIT=on_commit)
    try:
        site.worker()
        seen = site.probe(SHARED)
    finally:
        site.close()
    assert seen["took"] < 1.0  # busy_timeout is 10 s: a write from inside would wait it out, then fail
    assert seen["inside"] == [None] * 3  # recorded when the transaction commits, ENQUEUE_ON_COMMIT or not
    assert seen["result"]["status"] == "SUCCESSFUL" and isinstance(seen["result"]["return_value"], int)


def test_in_immediate_mode_enqueue_runs_the_task_and_returns_its_result(db_path, tmp_path):
    immediate = json.dumps({"DATABASE": db_path, "IMMEDIATE": True})
    found = TasksSite(tmp_path, db_path).probe("""
out([describe(tasks.add.enqueue(2, 3)), describe(tasks.fail_value_error.enqueue()),
     describe(tasks.report_progress.enqueue(2)), queue.get(tasks.report_progress.enqueue(1).id).progress.message])
""", LILQUEUE_TEST_SETTINGS=immediate)
    assert [f["status"] for f in found[:3]] == ["SUCCESSFUL", "FAILED", "SUCCESSFUL"]
    assert found[0]["return_value"] == 5 and found[0]["attempts"] == 1 and found[0]["finished_at"]
    assert found[1]["errors"][0]["path"] == "builtins.ValueError"
    assert found[2]["return_value"]["steps"] == 2 and found[3] == "step 1 of 1"
    assert engines.sql(db_path, "select count(*) from lilqueue_job")[0][0] == 0  # immediate mode's own database


def test_enqueue_checks_queue_names_options_and_arguments_and_get_result_unknown_ids(db_path, tmp_path):
    seen = TasksSite(tmp_path, db_path).probe("""
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from lilqueue import InvalidArguments
seen = {}
for name, call in [
        ("queue", lambda: tasks.noop.using(queue_name="unknown").enqueue()),
        ("arguments", lambda: tasks.add.enqueue(1)),
        ("context arguments", lambda: tasks.describe_context.enqueue()),
        ("not JSON", lambda: tasks.noop.enqueue(object())),
        ("priority", lambda: tasks.noop.using(priority=101)),
        ("too far", lambda: tasks.noop.using(run_after=django.utils.timezone.now().replace(year=2999)).enqueue())]:
    try:
        call()
        seen[name] = "accepted"
    except (InvalidTask, InvalidArguments, TypeError) as exc:
        seen[name] = f"{type(exc).__name__}: {exc}"
seen["check"] = [str(message) for message in backend.check()]
from datetime import datetime, timedelta, timezone as tz
with override_settings(USE_TZ=False):  # run_after naive, in the site's TIME_ZONE; times read naive
    naive = tasks.noop.using(run_after=datetime.now() + timedelta(seconds=60)).enqueue()
    ahead = (queue.get(naive.id).run_at - datetime.now(tz.utc)).total_seconds()
    seen["naive"] = [round(ahead), backend.get_result(naive.id).enqueued_at.tzinfo]
reports = tasks.noop.using(queue_name="reports").enqueue()
seen["reports"] = backend.get_result(reports.id).task.queue_name
lilqueue_job = tasks.also_lilqueue.start(1).id
for name, result_id in [("unknown", "A" * 22), ("malformed", "../x"), ("not a Django task", lilqueue_job)]:
    try:
        backend.get_result(result_id)
    except TaskResultDoesNotExist:
        seen[name] = "does not exist"
for options in [{"ENQUEUE": True}, {"ENQUEUE_ON_COMMIT": "yes"}, {"QUEUE": "tests.djangoproject.reports.tasks"}]:
    with override_settings(TASKS={"default": {"BACKEND": "lilqueue.django.Backend", "OPTIONS": options}}):
        try:
            api.task_backends["default"]
        except ImproperlyConfigured as exc:
            seen[str(options)] = str(exc)
out(seen)
""")
    assert seen.pop("queue") == f"{type_name()}: Queue 'unknown' is not valid for backend."
    assert seen.pop("arguments").startswith("InvalidArguments: invalid arguments for task"
                                            " 'tests.djangoproject.reports.tasks.add': missing a required argument")
    assert seen.pop("context arguments").startswith("InvalidArguments:")
    assert seen.pop("not JSON") == "TypeError: Unsupported type: <class 'object'>"
    assert seen.pop("priority").startswith(f"{type_name()}: priority must be a whole number between -100 and 100")
    too_far = seen.pop("too far")
    assert too_far.startswith("InvalidArguments:") and "eta must be at most" in too_far
    assert seen == {
        "check": [], "naive": [60, None], "reports": "reports", "unknown": "does not exist",
        "malformed": "does not exist",
        "not a Django task": "does not exist",
        "{'ENQUEUE': True}":
            "TASKS['default']['OPTIONS']: unknown option(s) ENQUEUE (options: ENQUEUE_ON_COMMIT, QUEUE)",
        "{'ENQUEUE_ON_COMMIT': 'yes'}":
            "TASKS['default']['OPTIONS']['ENQUEUE_ON_COMMIT'] must be True or False, not 'yes'",
        "{'QUEUE': 'tests.djangoproject.reports.tasks'}":
            "TASKS['default']['OPTIONS']['QUEUE'] must name a lilqueue.Queue, not 'tests.djangoproject.reports.tasks'"}


def type_name() -> str:
    from lilqueue.django.tasks_api import InvalidTask
    return InvalidTask.__name__


def test_http_neither_starts_nor_lists_the_carrier_nor_a_django_task_by_its_path(db_path):
    queue = lilqueue.Queue(db_path)
    register(queue)
    queue.task(name="echo")(_echo)
    address = {"module": "tests.djangoproject.reports.tasks", "name": "add", "queue": "default", "backend": "default"}
    with running(queue.middleware()) as base:
        for body in ({"task": "lilqueue.django", "args": [address, 1, 2]},
                     {"task": "lilqueue.django", "args": [{"module": "os", "name": "system"}, "true"]},
                     {"task": "tests.djangoproject.reports.tasks.add", "args": [1, 2]},
                     {"task": "add", "args": [1, 2]}):
            answer = post_json(base, "/jobs/", body)
            assert (answer.status, answer.json()["type"]) == (404, "urn:lilqueue:problem:unknown-task"), body
        listed = request(base, "GET", "/jobs/tasks").json()["tasks"]
        assert [task["name"] for task in listed] == ["echo"]
        schema = request(base, "GET", "/jobs/openapi.json").json()["components"]["schemas"]["StartRequest"]
        assert schema["properties"]["task"]["enum"] == ["echo"]
        assert post_json(base, "/jobs/", {"task": "echo", "args": [1]}).status == 202
    assert engines.sql(db_path, "select task from lilqueue_job") == [("echo",)]


def _echo(x):
    return x


def test_the_django_tasks_module_of_django_6_is_used_when_it_exists():
    # Django 6 is not installable on Python 3.11: give the backport's modules Django 6's names,
    # and nothing else, before lilqueue looks for them.
    code = """
import sys, importlib
import django_tasks
for name in ("", ".base", ".backends", ".backends.base", ".exceptions", ".signals"):
    sys.modules["django.tasks" + name] = importlib.import_module("django_tasks" + name)
from lilqueue.django import tasks_api
print(tasks_api.SOURCE, tasks_api.Task is sys.modules["django.tasks.base"].Task)
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["django.tasks", "True"], done.stderr
    from lilqueue.django import tasks_api
    assert tasks_api.SOURCE == ("django.tasks" if django.VERSION >= (6,) else "django_tasks")


def test_bad_lilqueue_settings_leave_the_backends_checks_to_report_them_not_crash(tmp_path):
    # manage.py check creates every task backend: with LILQUEUE settings that cannot build the
    # queue, the backend must wait for its first use rather than fail, so that check can run.
    code = ("import django; django.setup()\n"
            "from lilqueue.django.tasks_api import task_backends\n"
            "print([list(backend.check()) for backend in task_backends.all()])")
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.djangoproject.settings", DJANGO_DB=str(tmp_path / "db"),
               LILQUEUE_TEST_SETTINGS=json.dumps({"COLOR": "blue"}))
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "[[]]\n"), done.stderr


def test_an_errors_class_path_is_read_off_its_traceback_or_named_by_lilqueue():
    from lilqueue.django.results import class_path
    from lilqueue.job import JobError

    nested = "Traceback (most recent call last):\n  ...\nreports.errors.Outer.Inner: no data\nwith a second line\n"
    chained = ("Traceback (most recent call last):\n  ...\nKeyError: 'x'\n\nDuring handling of the above exception,"
               " another exception occurred:\n\nTraceback (most recent call last):\n  ...\nValueError: bad: 'x'\n")
    assert [class_path(JobError(kind, text, trace)) for kind, text, trace in [
        ("ValueError", "bad: 'x'", chained), ("Inner", "no data\nwith a second line", nested),
        ("TimeoutError", "the task ran past its timeout", None), ("UnknownTask", "not registered", None),
        ("WorkerLost", "the worker running this job was lost", None)]] == [
        "builtins.ValueError", "reports.errors.Outer.Inner", "builtins.TimeoutError", "lilqueue.errors.UnknownTask",
        "lilqueue.errors.LilqueueError"]


def test_a_start_may_be_given_the_id_its_job_takes_but_not_a_malformed_or_taken_one(queue):
    from lilqueue.job import new_id

    chosen = new_id()
    assert queue.start("add", [1, 2], job_id=chosen).id == chosen == queue.get(chosen).id
    for bad in ("short", "../../etc/passwd00000", 42):
        with pytest.raises(lilqueue.InvalidArguments, match="job_id must be an id from new_id"):
            queue.start("add", [1, 2], job_id=bad)
    with pytest.raises(lilqueue.InvalidArguments, match=f"job_id '{chosen}' is taken by another job"):
        queue.start("add", [3, 4], job_id=chosen)
    assert queue.get(chosen).args == [1, 2]
