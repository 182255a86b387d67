"""Checking what a request brings before anything is read from the database: ids, query
parameters, the origin of a POST, and JSON bodies (content type, size, encoding, syntax, shape)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

from ..job import ID_PATTERN
from .http import JSON_TYPE, Request
from .problems import Problem, bad_request, forbidden, job_not_found

SINCE_PATTERN = re.compile(r"\d{1,18}")
START_FIELDS = frozenset({"task", "args", "kwargs", "key", "delay"})
MAX_START_DELAY = 86400  # seconds a start over HTTP may be delayed (Python callers: see Queue.start)
MAX_DEPTH = 100  # lists and objects inside each other
MAX_NEXT = 2000  # characters of a status page's next target


class Param(NamedTuple):
    """What a long-poll's query parameter looks like, how it is read, how a 400 describes it."""
    pattern: re.Pattern[str]
    parse: Callable[[str], Any]
    described: str


VERSION = Param(SINCE_PATTERN, int, "a number >= 0")  # since: a job's version
MARK = Param(re.compile(r"[0-9a-f]{8}\.\d{1,18}"), str, "a mark this server gave")  # since: Watcher.mark
WAIT = Param(re.compile(r"\d{1,9}(\.\d{1,9})?"), float, "a number >= 0")  # seconds


def check_same_origin(request: Request, trusted: frozenset[str]) -> None:
    """Refuse cross-site browser requests (the check Go 1.25's CrossOriginProtection does)."""
    origin = request.headers.get("origin")
    if origin is not None and origin.rstrip("/") in trusted:
        return
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        if site in ("same-origin", "none"):
            return
        raise forbidden("Cross-site requests may not start or cancel jobs.")
    if origin is None:
        return  # not a browser (curl, a server): nothing to protect
    try:
        origin_host = urlsplit(origin).netloc.lower()
    except ValueError:
        origin_host = ""
    if not origin_host or origin_host != request.header("host").lower():
        raise forbidden("Cross-origin requests may not start or cancel jobs.")


def read_json(request: Request, max_body: int, empty_ok: bool = False) -> Any:
    """The request's JSON body: checked content type, size, encoding and syntax.

    With ``empty_ok`` (cancel), a request without a body is accepted whatever its content type
    (servers such as wsgiref report a missing one as text/plain): there is nothing to interpret,
    and cross-site requests were already refused by the Origin check."""
    if not empty_ok:
        _check_type(request)
    data = request.body(max_body)
    if not data.strip():
        if empty_ok:
            return None
        raise bad_request("The body must be a JSON object.")
    if empty_ok:
        _check_type(request)
    return parse_json(data)


def _check_type(request: Request) -> None:
    mime, _, params = request.header("content-type").partition(";")
    charset = re.search(r"charset\s*=\s*\"?([\w-]+)", params, re.IGNORECASE)
    if mime.strip().lower() != JSON_TYPE or (charset and charset.group(1).lower() not in ("utf-8", "utf8")):
        raise Problem(415, "unsupported-media-type", "Unsupported media type",
                      "Send the body as Content-Type: application/json (UTF-8).")


def too_large(max_body: int) -> Problem:
    return Problem(413, "body-too-large", "Body too large", f"The body may be at most {max_body} bytes.")


def parse_json(data: bytes) -> Any:
    """Decode a request body: UTF-8, strict JSON (no NaN/Infinity, bounded numbers and depth)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise bad_request("The body is not valid UTF-8.") from None
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_float, parse_int=_int)
    except RecursionError:
        value = None
    except ValueError as exc:
        raise bad_request(f"The body is not valid JSON: {str(exc)[:200]}") from None
    if value is None or _depth(value) > MAX_DEPTH:
        # Deeper values would hit the recursion limit later, when they are stored or served.
        raise bad_request(f"The body is nested deeper than {MAX_DEPTH} levels.")
    return value


def _depth(value: Any) -> int:
    """How deeply lists and objects nest in ``value`` (without recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, depth)
            if depth <= MAX_DEPTH:
                stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"number out of range: {text[:40]}")
    return value


def _int(text: str) -> int:
    if len(text.lstrip("-")) > 100:
        raise ValueError("integer too large")
    return int(text)


def start_fields(body: Any) -> tuple[str, list, dict, str | None, float | None]:
    if not isinstance(body, dict):
        raise bad_request('The body must be a JSON object: {"task": name, "args": [...], "kwargs": {...}}.')
    unknown = sorted(set(body) - START_FIELDS)
    if unknown:
        raise bad_request(f"Unknown fields: {', '.join(repr(u[:50]) for u in unknown[:10])}.")
    task, args, kwargs, key = body.get("task"), body.get("args", []), body.get("kwargs", {}), body.get("key")
    if not isinstance(task, str):
        raise bad_request('"task" must be a string.')
    if not isinstance(args, list):
        raise bad_request('"args" must be a list.')
    if not isinstance(kwargs, dict):
        raise bad_request('"kwargs" must be an object.')
    if key is not None and not isinstance(key, str):
        raise bad_request('"key" must be a string or null.')
    delay = body.get("delay")
    if delay is not None and (isinstance(delay, bool) or not isinstance(delay, (int, float))):
        raise bad_request('"delay" must be a number of seconds or null.')
    if delay is not None and not 0 <= delay <= MAX_START_DELAY:
        raise Problem(422, "invalid-arguments", "Invalid arguments",
                      f'"delay" must be from 0 to {MAX_START_DELAY} seconds.')
    return task, args, kwargs, key, delay


def poll_params(query: str, max_wait: float, since_form: Param = VERSION) -> tuple[Any, float]:
    """``since`` (a job version; the dashboard's change mark with ``MARK``) and ``wait``
    (capped at ``max_wait``); 400 for either given twice or malformed."""
    try:
        params = parse_qs(query, keep_blank_values=True, strict_parsing=False, max_num_fields=50)
    except ValueError:
        raise bad_request("Too many query parameters.") from None
    since = wait = None
    for name, form in (("since", since_form), ("wait", WAIT)):
        values = params.get(name)
        if values is None:
            continue
        if len(values) != 1 or not form.pattern.fullmatch(values[0]):
            raise bad_request(f'"{name}" must be given once, as {form.described}.')
        if name == "since":
            since = form.parse(values[0])
        else:
            wait = min(form.parse(values[0]), max_wait)
    return since, wait or 0.0


def next_param(query: str) -> str | None:
    """The status page's ``next``: a path on this site (``/reports/7?tab=1``), never another
    site (``//evil.example``, ``https://...``, ``/\\evil.example``): no open redirect."""
    try:
        values = parse_qs(query, keep_blank_values=True, max_num_fields=50).get("next")
        if values is None:
            return None
        target = values[0]
        if len(values) == 1 and len(target) <= MAX_NEXT and _on_this_site(target):
            return target
    except ValueError:
        pass
    raise bad_request('"next" must be given once, as a path on this site such as /reports/7.')


def _on_this_site(target: str) -> bool:
    parts = urlsplit(target)
    return (target.startswith("/") and not target.startswith("//") and "\\" not in target
            and not parts.scheme and not parts.netloc
            and not any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in target))


def check_id(job_id: str) -> None:
    if not ID_PATTERN.fullmatch(job_id):
        raise job_not_found()
