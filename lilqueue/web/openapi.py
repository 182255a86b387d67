"""``GET {prefix}/openapi.json``: an OpenAPI 3.1 description of the middleware's endpoints."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import flows
from ..flows import Pipeline
from ..job import ID_PATTERN, JSON_SCHEMA, KEY_LIMIT
from ..settings import MIDDLEWARE
from .inputs import MAX_START_DELAY

if TYPE_CHECKING:
    from ..queue import Queue

PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
JOB = {"application/json": {"schema": {"$ref": "#/components/schemas/Job"}}}
ID = {"name": "id", "in": "path", "required": True,
      "schema": {"type": "string", "pattern": f"^{ID_PATTERN.pattern}$"}}
ETAG = {"ETag": {"description": "the job's version as an entity tag", "schema": {"type": "string"}}}


def _condition(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": False, "description": description,
            "schema": {"type": "string"}}


def _problems(*statuses: int) -> dict[str, Any]:
    text = {400: "Bad request", 403: "Forbidden (cross-site, or refused by the authorize hook)",
            404: "No such job (or not yours)", 405: "Method not allowed", 409: "Conflict",
            412: "If-Match names no current ETag of the job: nothing changed",
            411: "A chunked body on a server that withholds it from the app (Django's runserver)",
            413: "Body too large", 415: "Not JSON", 422: "Arguments do not fit the task",
            429: "Too many waiting requests (see Retry-After)", 503: "Database unavailable"}
    return {str(s): {"description": text[s], "content": PROBLEM} for s in statuses}


def _job_answer(status: int, description: str) -> dict[str, Any]:
    return {str(status): {"description": description, "content": JOB, "headers": ETAG}}


def document(server: str, queue: Queue) -> dict[str, Any]:
    """The description, with ``server`` (the prefix as mounted) as the base URL."""
    poll = [ID,
            {"name": "since", "in": "query", "required": False, "description":
             "answer as soon as the job's version is greater than this",
             "schema": {"type": "integer", "minimum": 0, "maximum": 10**18 - 1}},
            {"name": "wait", "in": "query", "required": False, "description":
             f"seconds to wait for a change (capped at max_wait, {MIDDLEWARE.max_wait:g} s by default)",
             "schema": {"type": "number", "minimum": 0, "maximum": 10**9 - 1}}]
    return {
        "openapi": "3.1.0",
        "info": {"title": "lilqueue jobs", "version": "1",
                 "description": "Start, watch and cancel background jobs. See docs/http.md."},
        "servers": [{"url": server or "/"}],
        "paths": {
            "/": {"post": {
                "summary": "Start a job", "operationId": "startJob",
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/StartRequest"}}}},
                "responses": {**_job_answer(202, "Started (or the unfinished job holding the key)"),
                              **_problems(400, 403, 404, 409, 411, 413, 415, 422, 503)}}},
            "/{id}": {"get": {
                "summary": "Read a job; with since and wait, long-poll for its next change",
                "operationId": "getJob",
                "parameters": [*poll, _condition("If-None-Match", "304 while the job is at this ETag")],
                "responses": {"200": {"description": "The job. A long-poll this server cannot afford to hold is"
                                      " answered at once, with a Retry-After header (whole seconds): poll"
                                      " again after it.", "content": JOB, "headers": {**ETAG, "Retry-After": {
                                          "required": False, "schema": {"type": "integer", "minimum": 1}}}},
                              "304": {"description": "Not modified (If-None-Match)", "headers": ETAG},
                              **_problems(400, 404, 429, 503)}}},
            "/{id}/cancel": {"post": {
                "summary": "Cancel a job", "operationId": "cancelJob",
                "parameters": [ID, _condition("If-Match", "cancel only while the job is at this ETag (else 412)")],
                "requestBody": {"required": False, "content": {"application/json": {
                    "schema": {"type": "object"}}}},
                "responses": {**_job_answer(202, "Canceled, or asked to stop"),
                              **_problems(400, 403, 404, 409, 412, 413, 415, 503)}}},
            "/{id}/events": {"get": {
                "summary": "Server-sent events: one event per job change, id = version",
                "operationId": "jobEvents", "parameters": [ID, *poll[1:2],
                                                           {"name": "Last-Event-ID", "in": "header",
                                                            "required": False, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "An event stream; one that is not held sends a"
                                      " retry: delay, the job if newer, and ends",
                                      "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                              "204": {"description": "The job is finished and the client has seen it"},
                              **_problems(400, 404, 503)}}},
            "/{id}/status": {"get": {
                "summary": "The job as an HTML page that refreshes itself", "operationId": "jobStatusPage",
                "parameters": [ID, {"name": "next", "in": "query", "required": False, "description":
                                    "a path on this site to send the person to once the job succeeded",
                                    "schema": {"type": "string", "pattern": "^/(?![/\\\\])"}}],
                "responses": {"200": {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}},
                              **_problems(400, 404, 503)}}},
            "/tasks": {"get": {
                "summary": "Tasks that may be started, with their parameters", "operationId": "listTasks",
                "responses": {"200": {"description": "The tasks", "content": {"application/json": {
                    "schema": {"type": "object", "required": ["tasks"],
                               "properties": {"tasks": {"type": "array", "items": {"type": "object"}}}}}}},
                    **_problems(503)}}},
            "/health": {"get": {
                "summary": "200 when a worker's heartbeat is fresh, else 503", "operationId": "health",
                "responses": {"200": {"description": "A worker is alive", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Health"}}}}, **_problems(503)}}},
            "/openapi.json": {"get": {
                "summary": "This document", "operationId": "openapi",
                "responses": {"200": {"description": "OpenAPI", "content": {"application/json": {
                    "schema": {"type": "object"}}}}}}},
        },
        "components": {"schemas": _schemas(queue)},
    }


def _schemas(queue: Queue) -> dict[str, Any]:
    startable = {name: found.steps[0].task if isinstance(found, Pipeline) else found
                 for name, found in flows.startable(queue).items()}
    task_names = sorted(startable)
    # One alternative per task (a pipeline: its first step's): its name, and its parameters' types.
    per_task = [{"properties": {"task": {"const": name}, **startable[name].arguments_schema()}}
                for name in task_names]
    return {
        "StartRequest": {
            "type": "object", "required": ["task"], "additionalProperties": False,
            "properties": {"task": {"type": "string", "enum": task_names} if task_names else {"type": "string"},
                           "args": {"type": "array"}, "kwargs": {"type": "object"},
                           "key": {"type": ["string", "null"], "minLength": 1, "maxLength": KEY_LIMIT},
                           "delay": {"type": ["number", "null"], "minimum": 0, "maximum": MAX_START_DELAY,
                                     "description": "seconds before the job may run (it is queued at once)"}},
            **({"oneOf": per_task} if per_task else {})},
        "Job": JSON_SCHEMA,
        "Problem": {
            "type": "object", "required": ["type", "title", "status", "detail"],
            "properties": {"type": {"type": "string"}, "title": {"type": "string"},
                           "status": {"type": "integer"}, "detail": {"type": "string"}}},
        "Health": {
            "type": "object", "required": ["status", "queued", "running"],
            "properties": {"status": {"type": "string"}, "queued": {"type": "integer"},
                           "running": {"type": "integer"}, "heartbeat_age": {"type": ["number", "null"]}}},
    }
