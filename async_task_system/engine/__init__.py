"""The engine: task records, lifecycle and the TaskManager. Knows nothing of smolagents."""

from ._call import AttemptReporter, Executor, TaskCall, TaskObserver
from ._cancel import CancelToken, TaskContext, cancel_token, current_task
from ._manager import TaskManager, WaitResult
from ._placeholders import ResultOf
from ._record import FINAL_STATES, TaskError, TaskEvent, TaskInfo, TaskStatus
from ._retry import ExponentialBackoff

__all__ = [
    "TaskManager", "WaitResult", "TaskStatus", "TaskInfo", "TaskEvent", "TaskError", "FINAL_STATES",
    "ResultOf", "CancelToken", "TaskContext", "current_task", "cancel_token", "ExponentialBackoff",
    "Executor", "TaskCall", "AttemptReporter", "TaskObserver",
]
