"""``@queue.task``: the forms of the decorator, option checks at decoration time, the Task
wrapper (still a plain function when called) and ``describe()``."""

from __future__ import annotations

import math

import pytest

import lilqueue
from tests import tasks


@pytest.fixture
def queue(db_path):
    return lilqueue.Queue(db_path)


def test_the_bare_decorator_registers_under_the_function_name(queue):
    @queue.task
    def report(month):
        return month

    assert isinstance(report, lilqueue.Task)
    assert report.name == "report" and queue.tasks == {"report": report}
    assert report.func.__name__ == "report" and report.__name__ == "report"
    assert (report.retries, report.retry_delay, report.timeout, report.isolate) == (0, 0, None, False)


def test_the_called_decorator_registers_under_the_function_name(queue):
    @queue.task()
    def report(month):
        return month

    assert queue.lookup("report") is report


def test_a_task_may_be_registered_under_another_name(queue):
    @queue.task(name="import")
    def import_csv(path):
        return path

    @queue.task("export.csv")
    def export_csv(path):
        return path

    assert sorted(queue.tasks) == ["export.csv", "import"]
    assert queue.start("import", args=["a.csv"]).task == "import"
    with pytest.raises(lilqueue.UnknownTask):
        queue.start("import_csv", args=["a.csv"])


def test_options_are_kept_on_the_task(queue):
    heavy = queue.task(name="heavy", retries=2, retry_delay=0.5, timeout=30, isolate=True)(tasks.noop)

    assert (heavy.retries, heavy.retry_delay, heavy.timeout, heavy.isolate) == (2, 0.5, 30, True)
    assert heavy.runs_in_child


def test_a_timeout_alone_runs_the_task_in_a_child(queue):
    timed = queue.task(name="timed_noop", timeout=1)(tasks.noop)

    assert timed.runs_in_child and not timed.isolate


@pytest.mark.parametrize("options", [{"isolate": True}, {"timeout": 5}])
def test_a_nested_function_cannot_run_in_a_child_process(queue, options):
    with pytest.raises(lilqueue.ConfigurationError, match="module level"):
        @queue.task(**options)
        def inner():
            pass

    assert "inner" not in queue.tasks


def test_a_duplicate_name_fails_at_decoration_and_keeps_the_first(queue):
    @queue.task
    def report():
        pass

    first = report
    with pytest.raises(lilqueue.ConfigurationError, match="already registered"):
        @queue.task
        def report():  # noqa: F811
            pass

    with pytest.raises(lilqueue.ConfigurationError, match="already registered"):
        @queue.task(name="report")
        def other():
            pass

    assert queue.tasks == {"report": first}


def test_an_async_function_fails_at_decoration(queue):
    with pytest.raises(lilqueue.ConfigurationError, match="async"):
        @queue.task
        async def fetch():
            pass

    with pytest.raises(lilqueue.ConfigurationError, match="async"):
        @queue.task()
        async def stream():
            yield 1

    assert queue.tasks == {}


@pytest.mark.parametrize(("options", "word"), [
    ({"retries": -1}, "retries"),
    ({"retries": 1.5}, "retries"),
    ({"retries": True}, "retries"),
    ({"retries": "2"}, "retries"),
    ({"retry_delay": -1}, "retry_delay"),
    ({"retry_delay": math.nan}, "retry_delay"),
    ({"retry_delay": "1"}, "retry_delay"),
    ({"timeout": 0}, "timeout"),
    ({"timeout": -3}, "timeout"),
    ({"timeout": "10"}, "timeout"),
    ({"timeout": False}, "timeout"),
    ({"isolate": "yes"}, "isolate"),
    ({"isolate": 1}, "isolate"),
    ({"isolate": None}, "isolate"),
    ({"name": "has space"}, "name"),
    ({"name": ""}, "name"),
    ({"name": "x" * 101}, "name"),
    ({"name": "1st"}, "name"),
])
def test_a_bad_option_fails_at_decoration_and_registers_nothing(queue, options, word):
    with pytest.raises(lilqueue.ConfigurationError, match=word):
        @queue.task(**options)
        def job():
            pass

    assert queue.tasks == {}


def test_an_unknown_option_fails_at_decoration_naming_the_valid_ones(queue):
    with pytest.raises(lilqueue.ConfigurationError, match="retry.*options: name, retries"):
        @queue.task(retry=3)
        def job():
            pass

    with pytest.raises(TypeError):  # a ConfigurationError is also the TypeError Python would raise
        queue.task(ttl=1)
    assert queue.tasks == {}


def test_decorating_something_that_is_not_a_function_fails(queue):
    with pytest.raises(lilqueue.ConfigurationError):
        queue.task()(42)
    with pytest.raises(lilqueue.ConfigurationError):
        queue.task()(lambda: None)  # "<lambda>" is not a name a task can have
    assert queue.tasks == {}


def test_a_task_stays_a_plain_function_when_called(queue):
    seen = []

    @queue.task
    def add(a, b=10):
        """Add two numbers."""
        job = lilqueue.current_job()
        job.progress(1, total=1)
        job.log("info", "adding")
        seen.append(job.id)
        return a + b

    assert add(1, 2) == 3
    assert add(1) == 11
    assert add(a=1, b=1) == 2
    assert seen == [None, None, None]
    assert add.__doc__ == "Add two numbers."
    with pytest.raises(TypeError):
        add()


def test_a_task_start_records_a_queued_job(queue):
    @queue.task
    def add(a, b):
        return a + b

    job = add.start(1, b=2)
    assert (job.task, job.state, job.args, job.kwargs) == ("add", "queued", [1], {"b": 2})
    with pytest.raises(lilqueue.InvalidArguments):
        add.start(1, 2, 3)


def test_encode_arguments_binds_and_serializes_or_raises(queue):
    @queue.task
    def add(a, b):
        return a + b

    assert add.encode_arguments([1], {"b": [2, "x"]}) == ("[1]", '{"b": [2, "x"]}')
    with pytest.raises(lilqueue.InvalidArguments):
        add.encode_arguments([1], None)
    with pytest.raises(lilqueue.InvalidArguments, match="JSON"):
        add.encode_arguments([1, object()], None)


def test_describe_lists_parameters_with_their_kinds_defaults_and_options(queue):
    sentinel = object()

    @queue.task(retries=1)
    def import_csv(path, *rest, delimiter=",", strict: bool = True, hook=sentinel, **extra):
        """Import a CSV file.

        Long description."""

    described = import_csv.describe()
    assert described["name"] == "import_csv"
    assert described["doc"].startswith("Import a CSV file.")
    assert (described["retries"], described["timeout"], described["isolate"]) == (1, None, False)
    assert described["parameters"] == [
        {"name": "path", "kind": "positional_or_keyword", "required": True},
        {"name": "rest", "kind": "var_positional", "required": False},
        {"name": "delimiter", "kind": "keyword_only", "required": False, "default": ","},
        {"name": "strict", "kind": "keyword_only", "required": False, "default": True, "type": "bool",
         "schema": {"type": "boolean"}},
        {"name": "hook", "kind": "keyword_only", "required": False},
        {"name": "extra", "kind": "var_keyword", "required": False},
    ]


def test_repr_names_the_task(queue):
    @queue.task(name="report")
    def job():
        pass

    assert repr(job) == "<Task report>"
    assert "report" in repr(queue)
