"""The five states a job can be in, which of them are final, and why a running task is asked to stop."""

QUEUED = "queued"
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELED = "canceled"

STATES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELED)
UNFINISHED = (QUEUED, RUNNING)
FINISHED = (SUCCEEDED, FAILED, CANCELED)

# Why a running task is asked to stop (``CurrentJob.stop_reason``).
STOP_CANCELED = "canceled"  # the job was canceled: it ends canceled
STOP_SHUTDOWN = "shutdown"  # its worker is stopping: the job goes back to the queue
STOP_LOST = "lost"          # the job was taken from this worker (reaped): nothing more is stored
