"""Instrumentation hooks (``TaskObserver``), and the observers a new manager gets by default.

The engine knows no observer of its own: the layers above register factories
(``async_task_system.tracing`` registers its task spans when it is imported, and the
package's ``__init__`` imports it), and ``TaskManager(observers=None)`` calls each.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ContextManager

if TYPE_CHECKING:
    from ._executor import TaskCall

__all__ = ["TaskObserver", "register_default_observer", "default_observers"]

_log = logging.getLogger("async_task_system")


class TaskObserver:
    """Hooks for instrumentation (tracing): all optional, all called outside the manager's lock,
    all guarded (an observer that raises is logged and skipped; the task is not affected)."""

    def is_active(self) -> bool:
        """Whether to observe a task; asked once per task, at submit. False skips every hook
        of this observer for that task (and costs the manager nothing more)."""
        return True

    def attempt_scope(self, call: TaskCall) -> ContextManager[Any]:
        """Entered in the worker around one attempt, inside the task's own context."""
        return contextlib.nullcontext()

    def on_event(self, task_id: str, event: Any, info: Any | None) -> None:
        """A ``TaskEvent`` was logged; ``info`` is a ``TaskInfo`` snapshot for final events, else None."""


_factories: dict[str, Callable[[], TaskObserver]] = {}
_lock = threading.Lock()


def register_default_observer(key: str, factory: Callable[[], TaskObserver]) -> None:
    """Give every ``TaskManager`` created from now on without ``observers=`` a ``factory()``.
    Registering the same ``key`` again replaces it (importing a module twice adds nothing)."""
    with _lock:
        _factories[key] = factory


def default_observers() -> list[TaskObserver]:
    """One new observer from each registered factory (a factory that raises is logged and skipped)."""
    with _lock:
        factories = list(_factories.values())
    observers = []
    for factory in factories:
        try:
            observers.append(factory())
        except Exception:  # noqa: BLE001 - a layer's factory must not stop the manager being made
            _log.exception("a default task observer factory raised; the manager goes without it")
    return observers
