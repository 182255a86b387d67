"""Checking what a request brings before anything is read from the database: ids, query
parameters, the origin of a POST, and JSON bodies (content type, size, encoding, syntax, shape)."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..job import ID_PATTERN
from .problems import Problem, bad_request, forbidden, job_not_found

SINCE_PATTERN = re.compile(r"\d{1,18}")
WAIT_PATTERN = re.compile(r"\d{1,9}(\.\d{1,9})?")
START_FIELDS = frozenset({"task", "args", "kwargs", "key"})
JSON_TYPE = "application/json"
MAX_DEPTH = 100  # lists and objects inside each other


def check_same_origin(environ: dict, trusted: frozenset[str]) -> None:
    """Refuse cross-site browser requests (the check Go 1.25's CrossOriginProtection does)."""
    origin = environ.get("HTTP_ORIGIN")
    if origin is not None and origin.rstrip("/") in trusted:
        return
    site = environ.get("HTTP_SEC_FETCH_SITE")
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
    if not origin_host or origin_host != environ.get("HTTP_HOST", "").lower():
        raise forbidden("Cross-origin requests may not start or cancel jobs.")


def read_json(environ: dict, max_body: int, empty_ok: bool = False) -> Any:
    """The request's JSON body: checked content type, size, encoding and syntax.

    With ``empty_ok`` (cancel), a request without a body is accepted whatever its content type
    (servers such as wsgiref report a missing one as text/plain): there is nothing to interpret,
    and cross-site requests were already refused by the Origin check."""
    if empty_ok and environ.get("CONTENT_LENGTH", "").strip() in ("", "0"):
        return None
    mime, _, params = environ.get("CONTENT_TYPE", "").partition(";")
    charset = re.search(r"charset\s*=\s*\"?([\w-]+)", params, re.IGNORECASE)
    if mime.strip().lower() != JSON_TYPE or (charset and charset.group(1).lower() not in ("utf-8", "utf8")):
        raise Problem(415, "unsupported-media-type", "Unsupported media type",
                      "Send the body as Content-Type: application/json (UTF-8).")
    length = environ.get("CONTENT_LENGTH", "").strip() or "0"
    if not length.isdigit() or len(length) > 15:
        raise bad_request("Content-Length is not a number.")
    size = int(length)
    if size > max_body:
        _drain(environ["wsgi.input"], size, 4 * max_body)
        raise Problem(413, "body-too-large", "Body too large",
                      f"The body may be at most {max_body} bytes.")
    try:
        data = environ["wsgi.input"].read(size) if size else b""
    except TimeoutError:  # the server's socket timeout: the client stopped sending its body
        raise Problem(408, "request-timeout", "Request timeout", "The body did not arrive in time.") from None
    if len(data) != size:
        raise bad_request("The body is shorter than its Content-Length.")
    if not data.strip():
        if empty_ok:
            return None
        raise bad_request("The body must be a JSON object.")
    return parse_json(data)


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


def start_fields(body: Any) -> tuple[str, list, dict, str | None]:
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
    return task, args, kwargs, key


def poll_params(query: str, max_wait: float) -> tuple[int | None, float]:
    try:
        params = parse_qs(query, keep_blank_values=True, strict_parsing=False, max_num_fields=50)
    except ValueError:
        raise bad_request("Too many query parameters.") from None
    since = wait = None
    for name, pattern in (("since", SINCE_PATTERN), ("wait", WAIT_PATTERN)):
        values = params.get(name)
        if values is None:
            continue
        if len(values) != 1 or not pattern.fullmatch(values[0]):
            raise bad_request(f'"{name}" must be given once, as a number >= 0.')
        if name == "since":
            since = int(values[0])
        else:
            wait = min(float(values[0]), max_wait)
    return since, wait or 0.0


def check_id(job_id: str) -> None:
    if not ID_PATTERN.fullmatch(job_id):
        raise job_not_found()


def _drain(stream: Any, size: int, limit: int) -> None:
    """Read (and drop) a too-large body up to ``limit`` so the client can read our answer."""
    left = min(size, limit)
    while left > 0:
        chunk = stream.read(min(left, 65536))
        if not chunk:
            return
        left -= len(chunk)
