"""The engine: task records, lifecycle, the TaskManager and its thread pool. Knows nothing of smolagents,
and imports nothing from the layers above it (executors, tracing, agent, server)."""

from ._cancel import CancelToken, TaskContext, cancel_token, current_task
from ._executor import AttemptReporter, Executor, TaskCall
from ._info import FINAL_STATES, TaskError, TaskEvent, TaskInfo, TaskStatus
from ._manager import TaskManager, WaitResult
from ._markers import ResultOf
from ._observers import TaskObserver, default_observers, register_default_observer
from ._pool import ThreadExecutor
from ._resources import check_name_resources, check_resources
from ._retry import ExponentialBackoff
from ._validate import MAX_SECONDS, check_seconds

__all__ = [
    "TaskManager", "WaitResult", "TaskStatus", "TaskInfo", "TaskEvent", "TaskError", "FINAL_STATES",
    "ResultOf", "CancelToken", "TaskContext", "current_task", "cancel_token", "ExponentialBackoff",
    "Executor", "TaskCall", "AttemptReporter", "TaskObserver", "ThreadExecutor",
    "register_default_observer", "default_observers", "MAX_SECONDS", "check_seconds", "check_resources",
    "check_name_resources",
]
