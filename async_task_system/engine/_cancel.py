"""Cooperative cancellation: the token a running task can check, and ``current_task()``.

Python threads cannot be killed. When a running task is cancelled or times out,
the manager marks it final at once and cancels its token; the callable may look
at the token (``current_task().cancel_token``) to stop early. Its callbacks run
outside every lock of the manager.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import TaskCancelledError

__all__ = ["CancelToken", "TaskContext", "current_task", "cancel_token"]


class CancelToken:
    """A flag that is set once, with a reason, and callbacks that run when it is set."""

    __slots__ = ("_event", "_lock", "_reason", "_callbacks")

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._reason = ""
        self._callbacks: list[Callable[[str], object]] = []

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    @property
    def reason(self) -> str:
        return self._reason

    def cancel(self, reason: str = "cancelled") -> bool:
        """Set the flag; idempotent. Returns True only for the call that set it."""
        with self._lock:
            if self._event.is_set():
                return False
            self._reason = reason
            self._event.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:  # outside the lock, like concurrent.futures
            try:
                callback(reason)
            except Exception:  # a broken callback must not stop the others
                pass
        return True

    def add_callback(self, callback: Callable[[str], object]) -> None:
        """Call ``callback(reason)`` when cancelled (at once if it already is)."""
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)
                return
        callback(self._reason)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until cancelled or ``timeout`` passes; True if cancelled. A cancellable sleep."""
        return self._event.wait(timeout)

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise TaskCancelledError(self._reason)

    def __repr__(self) -> str:
        state = f"cancelled ({self._reason})" if self.cancelled else "active"
        return f"<CancelToken {state}>"


@dataclass(frozen=True, slots=True)
class TaskContext:
    """What a running callable can learn about the task it runs as."""

    task_id: str
    name: str
    attempt: int
    cancel_token: CancelToken


_current: contextvars.ContextVar[TaskContext | None] = contextvars.ContextVar(
    "async_task_system_current_task", default=None
)


def current_task() -> TaskContext | None:
    """The task the calling code runs as, or None outside a task."""
    return _current.get()


def cancel_token() -> CancelToken | None:
    """Shortcut for ``current_task().cancel_token`` (None outside a task)."""
    ctx = _current.get()
    return None if ctx is None else ctx.cancel_token
