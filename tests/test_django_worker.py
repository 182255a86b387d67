"""``manage.py lilqueue``: the CLI's verbs on a Django site's queue, its worker running tasks
that use the ORM across many jobs (stale connections closed around each), in a child process
too; ``python -m lilqueue worker`` setting Django up; and ``manage.py check`` on LILQUEUE."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import pytest

import lilqueue
from tests.conftest import ROOT, WorkerProcess, wait_for
from tests.django_support import Site

pytest.importorskip("django")

START = """
import json
from tests.djangoproject.shop.models import Note
from tests.djangoproject.shop.tasks import count_words, count_notes, connection_was_closed
notes = [Note.objects.create(text="word " * n) for n in range(1, {n} + 1)]
jobs = [count_words.start(note.pk) for note in notes]
jobs += [connection_was_closed.start() for _ in range({n})] + [count_notes.start()]
print(json.dumps([job.id for job in jobs]))
"""


def _finished(queue: lilqueue.Queue, ids: list[str]) -> list[lilqueue.Job] | None:
    jobs = [queue.get(job_id) for job_id in ids]
    return jobs if all(job.finished for job in jobs) else None


def test_manage_py_lilqueue_worker_runs_orm_tasks_across_many_jobs(db_path, tmp_path):
    site = Site(tmp_path, db_path)
    ids = json.loads(site.shell(START.format(n=15)))
    worker = site.worker(tmp_path / "worker.log", "--threads", "1")
    try:
        queue = lilqueue.Queue(db_path)
        jobs = wait_for(lambda: _finished(queue, ids), timeout=30, what="all jobs finished")
    finally:
        worker.close()
    assert [(job.state, job.error) for job in jobs] == [("succeeded", None)] * len(jobs), worker.log_path.read_text()
    assert [job.result for job in jobs[:15]] == list(range(1, 16))
    assert [job.result for job in jobs[15:30]] == [True] * 15  # no connection outlived its job
    assert jobs[-1].result == 15  # the isolated job's child set Django up and read the notes
    words = sqlite3.connect(tmp_path / "db.sqlite3").execute("select words from shop_note order by id").fetchall()
    assert [w for (w,) in words] == list(range(1, 16))


@pytest.mark.sqlite_only
def test_python_m_lilqueue_worker_sets_django_up_from_django_settings_module(db_path, tmp_path):
    site = Site(tmp_path, db_path)
    ids = json.loads(site.shell(START.format(n=1)))
    worker = WorkerProcess(db_path, tmp_path / "worker.log", ["--threads", "1"], site.env,
                           target="tests.djangoproject.shop.tasks:queue")
    try:
        jobs = wait_for(lambda: _finished(lilqueue.Queue(db_path), ids), timeout=30, what="all jobs finished")
    finally:
        worker.close()
    assert [job.state for job in jobs] == ["succeeded"] * 3, worker.log_path.read_text()


@pytest.mark.sqlite_only
def test_manage_py_lilqueue_verbs_answer_as_python_m_lilqueue_does(db_path, tmp_path):
    site = Site(tmp_path, db_path)
    ids = json.loads(site.shell(START.format(n=1)))
    shown = site.manage("lilqueue", "show", ids[0], "--json")
    assert (shown.returncode, json.loads(shown.stdout)["state"]) == (0, "queued")
    canceled = site.manage("lilqueue", "cancel", ids[0])
    same = subprocess.run([sys.executable, "-m", "lilqueue", "cancel", "tests.djangoproject.shop.tasks:queue",
                           ids[0]], cwd=ROOT, env=site.env, capture_output=True, text=True, timeout=60)
    assert canceled.returncode == 0
    assert (same.returncode, same.stderr) == (5, f"lilqueue: job {ids[0]!r} is already canceled\n")
    missing = site.manage("lilqueue", "show", "nope")
    assert (missing.returncode, missing.stderr) == (4, "lilqueue: no job with id 'nope'\n")
    usage = site.manage("lilqueue", "jobs", "--limit", "x")
    assert usage.returncode == 2 and "manage.py lilqueue jobs: error: argument --limit" in usage.stderr
    for verb in ([], ["worker"], ["jobs"]):  # its examples as it is called: no queue argument
        helped = site.manage("lilqueue", *verb, "--help")
        assert helped.returncode == 0 and "  manage.py lilqueue " in helped.stdout
        assert "python -m lilqueue" not in helped.stdout and "app:queue" not in helped.stdout


@pytest.mark.sqlite_only
def test_manage_py_check_reports_bad_lilqueue_settings_as_system_check_errors(tmp_path):
    site = Site(tmp_path, migrate=False)

    def check(settings) -> subprocess.CompletedProcess:
        return site.manage("check", env=dict(site.env, LILQUEUE_TEST_SETTINGS=json.dumps(settings)))

    bad = check({"DATABASE": 42, "RETENTION": -1, "HOLD": "lots", "COLOR": "blue", "ADMIN": "no.such.hook"})
    assert bad.returncode == 1
    for expected in ("lilqueue.E002", "unknown LILQUEUE option(s): COLOR", "lilqueue.E003", "lilqueue.E004",
                     "retention must be seconds > 0", "hold must be", "lilqueue.E005", "cannot import 'no.such.hook'"):
        assert expected in bad.stderr, bad.stderr
    assert "Traceback" not in bad.stderr
    worker = site.manage("lilqueue", "worker", env=dict(site.env, LILQUEUE_TEST_SETTINGS='{"COLOR": 1}'))
    assert (worker.returncode, worker.stderr) == (2, "lilqueue: unknown LILQUEUE option(s): COLOR"
                                                     " (python manage.py check lists them all)\n")
    assert "lilqueue.E001" in check(["not", "a", "dict"]).stderr
    assert "lilqueue.E003" in check({"DATABASE": "mysql://db/app"}).stderr
    assert check({"RETENTION": 3600, "HOLD": 4}).returncode == 0
    assert os.path.exists(tmp_path / "lilqueue.sqlite3")  # no DATABASE: beside Django's SQLite file


@pytest.mark.sqlite_only
def test_djangos_test_runner_runs_each_job_at_once_with_lilqueue_immediate(tmp_path):
    site = Site(tmp_path, migrate=False)
    env = dict(site.env, LILQUEUE_TEST_SETTINGS=json.dumps({"IMMEDIATE": True}))
    done = site.manage("test", "tests.djangoproject.shop", "-v", "2", env=env)
    assert done.returncode == 0, done.stderr
    assert "Ran 2 tests" in done.stderr
    assert not os.path.exists(tmp_path / "lilqueue.sqlite3")  # immediate mode never opened the queue's file


@pytest.mark.sqlite_only
def test_without_database_a_postgresql_site_keeps_its_jobs_in_its_own_database_in_schema_lilqueue():
    code = ("import django; from django.conf import settings; settings.configure(DATABASES={'default': {"
            "'ENGINE': 'django.db.backends.postgresql', 'NAME': 'shop db', 'USER': 'app', 'PASSWORD': 'p@ss',"
            " 'HOST': 'db.internal', 'PORT': 5433}}); django.setup();"
            " from lilqueue.django.conf import default_database; print(default_database())")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.stdout == "postgresql://app:p%40ss@db.internal:5433/shop%20db?schema=lilqueue\n", done.stderr
