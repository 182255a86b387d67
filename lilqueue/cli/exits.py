"""The exit codes of ``python -m lilqueue``: their names, what each means (the help prints
it from here), and which error ends a verb with which.

    code_of(JobNotFound("x"))                  # 4 (None for an error no verb expects)
    return report(exc, EXIT_NO_JOB)            # "lilqueue: no job with id 'x'" on stderr; 4
"""

from __future__ import annotations

import sys

from ..errors import JobFinished, JobNotFound, LilqueueError, WrongState

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2  # argparse's own, for a flag it refuses
EXIT_NO_QUEUE = 3
EXIT_NO_JOB = 4
EXIT_WRONG_STATE = 5

MEANINGS = {
    EXIT_OK: "done",
    EXIT_FAILED: "the database refused (or the job's task is not registered)",
    EXIT_USAGE: "bad arguments",
    EXIT_NO_QUEUE: "no such queue",
    EXIT_NO_JOB: "no such job",
    EXIT_WRONG_STATE: "the job's state does not allow it",
}
LEGEND = "exit codes:\n" + "".join(f"  {code}  {meaning}\n" for code, meaning in MEANINGS.items())

# Checked in this order (ConfigurationError and InvalidArguments are ValueErrors and LilqueueErrors).
FOR_ERRORS: tuple[tuple[type[BaseException], int], ...] = (
    (JobNotFound, EXIT_NO_JOB),
    (JobFinished, EXIT_WRONG_STATE),
    (WrongState, EXIT_WRONG_STATE),
    (ValueError, EXIT_USAGE),
    (LilqueueError, EXIT_FAILED),
)


def code_of(error: BaseException) -> int | None:
    """The exit code for ``error``, or None for an error no verb expects."""
    return next((code for kind, code in FOR_ERRORS if isinstance(error, kind)), None)


def report(error: BaseException | str, code: int) -> int:
    """``lilqueue: <error>`` as one line on stderr; returns ``code``."""
    print(f"lilqueue: {' '.join(str(error).splitlines())}", file=sys.stderr)
    return code
