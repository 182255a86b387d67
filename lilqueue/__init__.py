"""lilqueue: background jobs for small Python web apps, with live progress and cancel."""

from .context import CurrentJob as CurrentJob
from .context import current_job as current_job
from .errors import Busy as Busy
from .errors import Canceled as Canceled
from .errors import ConfigurationError as ConfigurationError
from .errors import InvalidArguments as InvalidArguments
from .errors import JobChanged as JobChanged
from .errors import JobFinished as JobFinished
from .errors import JobNotFound as JobNotFound
from .errors import LilqueueError as LilqueueError
from .errors import QueueNotFound as QueueNotFound
from .errors import Retry as Retry
from .errors import StorageError as StorageError
from .errors import UnknownTask as UnknownTask
from .errors import WaitersFull as WaitersFull
from .errors import WrongState as WrongState
from .flows import Pipeline as Pipeline
from .job import Child as Child
from .job import Flow as Flow
from .job import Job as Job
from .job import JobError as JobError
from .job import LogLine as LogLine
from .job import Progress as Progress
from .queue import Queue as Queue
from .states import CANCELED, FAILED, QUEUED, RUNNING, STATES, SUCCEEDED
from .task import Task as Task
from .web import Middleware as Middleware
from .worker import Worker as Worker

__version__ = "0.1.0"

__all__ = [
    "CANCELED", "FAILED", "QUEUED", "RUNNING", "STATES", "SUCCEEDED",
    "Busy", "Canceled", "Child", "ConfigurationError", "CurrentJob", "Flow", "InvalidArguments", "Job", "JobError",
    "JobChanged", "JobFinished", "JobNotFound", "LilqueueError", "LogLine", "Middleware", "Pipeline", "Progress",
    "Queue", "QueueNotFound", "Retry", "StorageError", "Task", "UnknownTask", "WaitersFull", "Worker", "WrongState",
    "current_job",
    "__version__",
]
