"""The library's errors: one base class, caller mistakes apart from task failures."""

from __future__ import annotations

__all__ = [
    "TaskSystemError",
    "InvalidArgumentError",
    "UnknownTaskError",
    "QueueFullError",
    "ShutdownError",
    "TaskFailedError",
    "TaskCancelledError",
    "TaskTimeoutError",
    "WaitTimeoutError",
]


class TaskSystemError(Exception):
    """Base class of every error this library raises on purpose."""


# --- the caller's mistakes -------------------------------------------------------------


class InvalidArgumentError(TaskSystemError, ValueError):
    """An argument was of the wrong type or out of range.

    The message names the parameter, the value given and what is accepted.
    Nothing was submitted when this is raised.
    """


class UnknownTaskError(TaskSystemError, KeyError):
    """No task with this id is known (never submitted, or its record expired)."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


class QueueFullError(TaskSystemError, RuntimeError):
    """Too many unfinished tasks: submit refused until some finish. Not raised for waits."""


class ShutdownError(TaskSystemError, RuntimeError):
    """The manager is shut down (or shutting down) and takes no new tasks."""


# --- what happened to a task -----------------------------------------------------------


class TaskFailedError(TaskSystemError):
    """Raised by ``TaskManager.result()`` for a task that failed; the message names its error."""


class TaskCancelledError(TaskSystemError):
    """A task was cancelled; raised by ``CancelToken.raise_if_cancelled()`` and ``result()``."""


class TaskTimeoutError(TaskSystemError):
    """The task itself ran past its own ``timeout``: raised by ``TaskManager.result()``.

    Not a builtin ``TimeoutError`` on purpose: ``except TimeoutError`` around ``result(id,
    timeout=...)`` means "my wait expired" (``WaitTimeoutError``), which is a different event.
    """


# --- what happened to a wait -----------------------------------------------------------


class WaitTimeoutError(TaskSystemError, TimeoutError):
    """A wait expired before the task was final (``TaskManager.result(id, timeout=...)``).
    The task is untouched and goes on; a builtin ``TimeoutError``, as in ``concurrent.futures``."""
