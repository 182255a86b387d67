"""Arguments checked against the task's annotations: at ``start()``, over HTTP (422 and nothing
written), and described by ``GET /jobs/tasks`` and the OpenAPI document."""

from __future__ import annotations

import enum
import inspect
from typing import Any, Literal, Optional, TypedDict

import pytest

import lilqueue
from lilqueue.argtypes import ArgumentTypes, compile_type
from tests import engines
from tests.http_support import post_json, request, serving


class Address(TypedDict):
    street: str
    number: int


class Color(enum.Enum):
    RED = "red"


def check(annotation: Any, value: Any) -> tuple[str, str] | None:
    compiled = compile_type(annotation)
    assert compiled is not None, annotation
    return compiled.check(value)


@pytest.mark.parametrize(("annotation", "good", "bad"), [
    (int, [0, -3, 10**20], [1.5, "1", True, None]),
    (float, [1.5, 2, -0.0], ["1.5", False, None]),
    (str, ["", "x"], [1, None, ["x"]]),
    (bool, [True, False], [0, 1, "true"]),
    (None, [None], [0, ""]),
    (list, [[], [1, "a"], (1, 2)], [{}, "ab"]),
    (list[int], [[], [1, 2]], [[1, "2"], [True], "12"]),
    (dict, [{}, {"a": [1]}], [[], "{}"]),
    (dict[str, float], [{"a": 1, "b": 2.5}], [{"a": "1"}, {1: 2.0}]),
    (int | None, [None, 3], ["3", 3.5]),
    (Optional[str], [None, "x"], [1]),  # noqa: UP045 - the older spelling is checked too
    (int | str, [1, "1"], [1.5, None]),
    (Literal["fast", "safe"], ["fast", "safe"], ["slow", 1]),
    (Literal[1, True], [1, True], [1.0, False, "1"]),
    (list[dict[str, list[int]]], [[{"a": [1]}]], [[{"a": [1, None]}]]),
    (Address, [{"street": "Main", "number": 4}], [{"street": "Main"}, {"street": "Main", "number": "4"},
                                                   {"street": "Main", "number": 4, "city": "X"}, "Main 4"]),
    (Any, [None, 1, "x", [], {}], []),
])
def test_each_simple_annotation_takes_its_json_values_and_refuses_the_others(annotation, good, bad):
    for value in good:
        assert check(annotation, value) is None, (annotation, value)
    for value in bad:
        assert check(annotation, value) is not None, (annotation, value)


@pytest.mark.parametrize("annotation", [inspect.Signature, list[int] | inspect.Signature, dict[int, str],
                                        "NotDefinedAnywhere", Literal[Color.RED]])
def test_annotations_it_cannot_check_are_left_alone(annotation):
    assert compile_type(annotation) is None


def test_a_function_without_annotations_costs_no_check():
    def plain(a, b=1, *rest, **extra):
        pass

    assert ArgumentTypes.of(plain) is None


def test_the_error_names_the_parameter_the_expected_and_the_given_type(queue):
    with pytest.raises(lilqueue.InvalidArguments) as raised:
        queue.start("import_rows", ["fifty"])
    error = raised.value
    assert (error.parameter, error.expected, error.given) == ("count", "int", "str")
    assert "parameter 'count' expects int, got str" in str(error)


def test_a_wrong_value_deep_inside_says_where_it_is(queue):
    lines = [{"sku": "A1", "quantity": 2}, {"sku": "B2", "quantity": "many"}]
    with pytest.raises(lilqueue.InvalidArguments) as raised:
        queue.start("import_rows", kwargs={"lines": lines})
    assert raised.value.given == "str"
    assert "got str at lines[1]['quantity']" in raised.value.detail


def test_start_many_and_map_check_every_item_before_writing_any(queue, db_path):
    with pytest.raises(lilqueue.InvalidArguments, match="'count'"):
        queue.tasks["import_rows"].map([1, 2, "three"])
    assert engines.sql(db_path, "select count(*) from lilqueue_job")[0][0] == 0


def test_values_that_fit_reach_the_task_as_given(queue, start_worker):
    start_worker()
    job = queue.start("import_rows", [3, 2], {"mode": "safe", "lines": [{"sku": "A", "quantity": 1}],
                                              "since": "2025-01-31"})
    done = queue.wait(job.id, timeout=20)
    assert done.state == "succeeded", done.error
    assert done.result == {"count": 3, "ratio": 2, "label": None, "mode": "safe",
                           "lines": [{"sku": "A", "quantity": 1}], "since": "2025-01-31"}


def test_an_annotation_naming_a_class_defined_later_is_checked_once_it_exists(queue):
    @queue.task
    def ship(to: Later) -> None:  # noqa: F821 - defined below, as a module would
        pass

    globals()["Later"] = Address
    try:
        with pytest.raises(lilqueue.InvalidArguments, match="expects Address"):
            ship.start({"street": "Main"})
    finally:
        del globals()["Later"]


@pytest.fixture
def serve_middleware(queue, face):
    with serving(queue, face) as start:
        yield start


def test_a_mismatch_over_http_is_a_422_problem_naming_it_and_nothing_is_written(serve_middleware, db_path):
    base = serve_middleware()
    answer = post_json(base, "/jobs/", {"task": "import_rows", "args": ["fifty"]})
    assert answer.status == 422 and answer.headers["Content-Type"] == "application/problem+json"
    problem = answer.json()
    assert problem["type"] == "urn:lilqueue:problem:invalid-arguments"
    assert (problem["parameter"], problem["expected"], problem["given"]) == ("count", "int", "str")
    assert problem["detail"] == "parameter 'count' expects int, got str"
    answer = post_json(base, "/jobs/", {"task": "import_rows", "kwargs": {"mode": "slow"}})
    assert answer.status == 422 and answer.json()["expected"] == "Literal['fast', 'safe']"
    assert engines.sql(db_path, "select count(*) from lilqueue_job")[0][0] == 0
    assert post_json(base, "/jobs/", {"task": "import_rows", "args": [50, 0.5]}).status == 202


def test_tasks_and_openapi_describe_the_parameter_types(serve_middleware):
    base = serve_middleware()
    tasks = {t["name"]: t for t in request(base, "GET", "/jobs/tasks").json()["tasks"]}
    params = {p["name"]: p for p in tasks["import_rows"]["parameters"]}
    assert (params["count"]["type"], params["count"]["schema"]) == ("int", {"type": "integer"})
    assert params["label"]["schema"] == {"anyOf": [{"type": "string"}, {"type": "null"}]}
    assert params["lines"]["type"] == "list[Line] | None"
    assert params["lines"]["schema"]["anyOf"][0]["items"]["required"] == ["quantity", "sku"]
    assert (params["since"]["type"], params["since"]["schema"]) == ("date | None", {})
    assert "type" not in {p["name"]: p for p in tasks["add"]["parameters"]}["a"]
    document = request(base, "GET", "/jobs/openapi.json").json()
    choices = document["components"]["schemas"]["StartRequest"]["oneOf"]
    typed = next(c for c in choices if c["properties"]["task"] == {"const": "import_rows"})
    assert typed["properties"]["args"]["prefixItems"][:2] == [{"type": "integer"}, {"type": "number"}]
    assert typed["properties"]["kwargs"]["properties"]["mode"] == {"enum": ["fast", "safe"]}
    assert typed["properties"]["kwargs"]["additionalProperties"] is False
