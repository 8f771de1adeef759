"""Progress notes a running task can leave for ``check_task`` to show the model.

The ``AsyncAgent`` sets a sink in the context its tasks are submitted from; each task
runs in a copy of that context, so ``report_progress("page 3 of 10")`` inside a tool
reaches the right board. Outside an agent's task it does nothing.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable

from ..engine import current_task

__all__ = ["report_progress"]

ProgressSink = Callable[[str, str], None]  # (task_id, note)

_sink: contextvars.ContextVar[ProgressSink | None] = contextvars.ContextVar("async_task_system_progress", default=None)


def report_progress(note: str) -> bool:
    """Record a short progress note for the task this code runs as. True if it was recorded."""
    task = current_task()
    sink = _sink.get()
    if task is None or sink is None:
        return False
    sink(task.task_id, str(note)[:200])
    return True


def set_sink(sink: ProgressSink | None) -> contextvars.Token:
    return _sink.set(sink)


def reset_sink(token: contextvars.Token) -> None:
    _sink.reset(token)
