"""One attempt of a job: run the task's function as that job, and say how it ended.

The worker's threads and an isolated job's child process both run an attempt through
``attempt()``, so a value, an exception or a stop becomes the same ``Outcome`` wherever the
task ran; the worker alone decides on a retry (``with_retry``).

    outcome = attempt(task.func, claim.args, claim.kwargs, ctx)
    outcome = within(queue.around_job, lambda: attempt(...))   # inside the queue's hook
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from ..context import CurrentJob
from ..errors import Canceled, Retry
from ..job import storable
from ..states import CANCELED, FAILED, QUEUED, STOP_CANCELED, STOP_SHUTDOWN, SUCCEEDED
from ..store import Outcome

if TYPE_CHECKING:
    from ..task import Task

log = logging.getLogger("lilqueue.worker")


def attempt(func: Callable, args: list, kwargs: dict, ctx: CurrentJob) -> Outcome:
    """Run ``func(*args, **kwargs)`` with ``ctx`` as its ``current_job()``."""
    with ctx.active():
        try:
            value = func(*args, **kwargs)
        except Canceled:
            return stopped(ctx)
        except Retry as request:
            return asked_retry(request)
        except BaseException as exc:  # a task's SystemExit must not end the worker thread or the child
            return failed(exc)
    return succeeded(value)


def within(around: Callable[[], AbstractContextManager] | None, run: Callable[[], Outcome]) -> Outcome:
    """``run()`` (an attempt) inside the queue's ``around_job`` hook, when it has one. A hook
    that fails on entry fails the attempt with its error; one that fails on leaving is logged
    and leaves the outcome as it is."""
    if around is None:
        return run()
    try:
        scope = around()
        scope.__enter__()
    except Exception as exc:
        return failed(exc)
    try:
        return run()
    finally:
        try:
            scope.__exit__(None, None, None)
        except Exception:
            log.exception("the around_job hook %r failed on leaving", around)


def succeeded(value: Any) -> Outcome:
    try:
        return Outcome(SUCCEEDED, result=json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        return Outcome(FAILED, error=("TypeError", f"the task's result is not a JSON value: {exc}", None))


def failed(exc: BaseException) -> Outcome:
    text = "".join(traceback.format_exception(exc))
    return Outcome(FAILED, error=(type(exc).__name__, storable(str(exc)), storable(text)))


def asked_retry(request: Retry) -> Outcome:
    """The task raised Retry: failed unless a retry is left (``with_retry``), with the error
    of the exception it was raised from."""
    cause = request.__cause__
    if cause is not None:
        outcome = failed(cause)
    else:
        outcome = Outcome(FAILED, error=("Retry", "the task asked to run again", None))
    outcome.retry_asked, outcome.retry_after = True, request.delay
    return outcome


def stopped(ctx: CurrentJob) -> Outcome:
    """The task was asked to stop: its job was canceled, or its worker is shutting down."""
    if ctx.stop_reason == STOP_SHUTDOWN:
        return Outcome(QUEUED, hand_back=True)
    return Outcome(CANCELED)


def with_retry(outcome: Outcome, task: Task | None, attempts: int, stop_reason: str | None) -> Outcome:
    """A failed attempt with retries left goes back to the queue after the delay its Retry
    asked for, or the task's retry delay (with backoff); a canceled job is never retried, even
    when its task failed after the cancel."""
    if outcome.state != FAILED or task is None or stop_reason == STOP_CANCELED:
        return outcome
    if attempts <= task.retries:
        outcome.retry_in = outcome.retry_after if outcome.retry_after is not None else task.retry_wait(attempts)
    elif outcome.retry_asked and outcome.error is not None:
        kind, text, trace = outcome.error
        outcome.error = (kind, f"{text} (asked for a retry after attempt {attempts}; the task allows"
                               f" {task.retries} retries)", trace)
    return outcome
