"""async_task_system: background tasks for smolagents CodeAgents.

The engine (``TaskManager``) needs nothing but the standard library; tracing (OpenTelemetry's
API) is imported here so that every TaskManager gets task spans by default; the agent
layer (``create_async_agent``, ``AsyncAgent``) is imported on first use.
"""

from __future__ import annotations

from typing import Any

from .engine import (
    CancelToken,
    ExponentialBackoff,
    ResultOf,
    TaskContext,
    TaskError,
    TaskEvent,
    TaskInfo,
    TaskManager,
    TaskStatus,
    WaitResult,
    cancel_token,
    current_task,
)
from .errors import (
    InvalidArgumentError,
    QueueFullError,
    ShutdownError,
    TaskCancelledError,
    TaskFailedError,
    TaskSystemError,
    TaskTimeoutError,
    UnknownTaskError,
    WaitTimeoutError,
)
from . import tracing as _tracing  # noqa: F401 - registers task spans as a default observer

__version__ = "0.1.0"

__all__ = [
    "TaskManager", "TaskStatus", "TaskInfo", "TaskEvent", "TaskError", "WaitResult", "ResultOf",
    "CancelToken", "TaskContext", "current_task", "cancel_token", "ExponentialBackoff",
    "TaskSystemError", "InvalidArgumentError", "UnknownTaskError", "QueueFullError", "ShutdownError",
    "TaskFailedError", "TaskCancelledError", "TaskTimeoutError", "WaitTimeoutError",
    "AsyncAgent", "create_async_agent", "setup_tracing",
]

_LAZY = {
    "AsyncAgent": "async_task_system.agent",
    "create_async_agent": "async_task_system.agent",
    "setup_tracing": "async_task_system.tracing",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
