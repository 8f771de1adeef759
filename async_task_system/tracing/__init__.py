"""Tracing: one connected OpenTelemetry trace from the agent run down to every task.

The engine carries the submitter's context into each task (``TaskManager(propagate_context=True)``);
``TaskSpanObserver`` adds a ``task <name>`` span per task; ``setup_tracing()`` sends it all,
with smolagents' own spans, to Arize Phoenix. Knows nothing of smolagents (it only names
the instrumentor for ``setup_tracing``, imported lazily).
"""

from __future__ import annotations

from ..engine import TaskObserver, register_default_observer
from ._setup import phoenix_traces_endpoint, setup_tracing, shutdown_tracing
from ._spans import TASK_ATTRIBUTES, TaskSpanObserver

__all__ = [
    "setup_tracing", "shutdown_tracing", "phoenix_traces_endpoint", "default_observers",
    "TaskSpanObserver", "TASK_ATTRIBUTES",
]


def default_observers() -> list[TaskObserver]:
    """The observers a new TaskManager gets when none are given: task spans
    (silent and near-free while no tracer provider is configured)."""
    return [TaskSpanObserver()]


# The engine imports nothing from here: importing tracing (the package's ``__init__`` does)
# registers its task spans as a default of every TaskManager made without ``observers=``.
register_default_observer("async_task_system.tracing.spans", TaskSpanObserver)
