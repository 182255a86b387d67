"""The five states a job can be in, and which of them are final."""

QUEUED = "queued"
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELED = "canceled"

STATES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELED)
UNFINISHED = (QUEUED, RUNNING)
FINISHED = (SUCCEEDED, FAILED, CANCELED)
