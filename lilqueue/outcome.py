"""Turning how a task ended (a value, an exception, a stop) into an Outcome for the job table."""

from __future__ import annotations

import json
import traceback
from typing import Any

from .context import CurrentJob
from .jobtable import Outcome
from .states import CANCELED, FAILED, QUEUED, SUCCEEDED


def succeeded(value: Any) -> Outcome:
    try:
        return Outcome(SUCCEEDED, result=json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        return Outcome(FAILED, error=("TypeError", f"the task's result is not a JSON value: {exc}", None))


def failed(exc: BaseException) -> Outcome:
    text = "".join(traceback.format_exception(exc))
    return Outcome(FAILED, error=(type(exc).__name__, str(exc), text))


def stopped(ctx: CurrentJob) -> Outcome:
    """The task raised Canceled: the job was canceled, or its worker is shutting down."""
    if ctx.stop_reason == "shutdown":
        return Outcome(QUEUED, hand_back=True)
    return Outcome(CANCELED)
