"""Cooperative cancellation: the token a running task can check, and ``current_task()``.

Python threads cannot be killed. When a running task is cancelled or times out,
the manager marks it final at once and cancels its token; the callable may look
at the token (``current_task().cancel_token``) to stop early. Its callbacks run
outside every lock of the manager.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
from collections.abc import Callable
from typing import NamedTuple

from ..errors import TaskCancelledError
from ._validate import check_seconds

__all__ = ["CancelToken", "TaskContext", "current_task", "cancel_token"]

_log = logging.getLogger("async_task_system")


class CancelToken:
    """A flag that is set once, with a reason, and callbacks that run when it is set.

    Light by design (one per task): the ``threading.Event`` behind ``wait()`` is made
    only when somebody waits, and all tokens share one lock (held for a few
    instructions, never while a callback runs).
    """

    __slots__ = ("_cancelled", "_reason", "_callbacks", "_event")
    _lock = threading.Lock()

    def __init__(self) -> None:
        self._cancelled = False
        self._reason = ""
        self._callbacks: list[Callable[[str], object]] | None = None
        self._event: threading.Event | None = None

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    @property
    def reason(self) -> str:
        return self._reason

    def cancel(self, reason: str = "cancelled") -> bool:
        """Set the flag; idempotent. Returns True only for the call that set it."""
        callbacks = self._set(reason)
        if callbacks is None:
            return False
        self._notify(callbacks, reason)
        return True

    def _set(self, reason: str) -> list[Callable[[str], object]] | None:
        """Set the flag and return the callbacks still to run (None if it was already set)."""
        with self._lock:
            if self._cancelled:
                return None
            self._reason = reason
            self._cancelled = True
            callbacks, self._callbacks = self._callbacks, None
            event = self._event
        if event is not None:
            event.set()
        return callbacks or []

    def _notify(self, callbacks: list[Callable[[str], object]], reason: str) -> None:
        for callback in callbacks:  # outside every lock, like concurrent.futures
            try:
                callback(reason)
            except BaseException:  # noqa: BLE001 - a broken callback must not stop the others
                _log.exception("a cancel-token callback raised")

    def add_callback(self, callback: Callable[[str], object]) -> None:
        """Call ``callback(reason)`` when cancelled (at once if it already is)."""
        with self._lock:
            if not self._cancelled:
                if self._callbacks is None:
                    self._callbacks = []
                self._callbacks.append(callback)
                return
        callback(self._reason)

    def remove_callback(self, callback: Callable[[str], object]) -> None:
        """Forget ``callback`` (added with ``add_callback``); nothing if it ran or was never added."""
        with self._lock:
            callbacks = self._callbacks
            if callbacks is not None:
                with contextlib.suppress(ValueError):
                    callbacks.remove(callback)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until cancelled or ``timeout`` passes; True if cancelled. A cancellable sleep."""
        timeout = check_seconds("timeout", timeout, allow_zero=True)
        with self._lock:
            if self._cancelled:
                return True
            if self._event is None:
                self._event = threading.Event()
            event = self._event
        return event.wait(timeout)

    def raise_if_cancelled(self) -> None:
        if self._cancelled:
            raise TaskCancelledError(self._reason)

    def __repr__(self) -> str:
        state = f"cancelled ({self._reason})" if self._cancelled else "active"
        return f"<CancelToken {state}>"


class TaskContext(NamedTuple):
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
