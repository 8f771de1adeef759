"""Tracing: OpenTelemetry context travels with every task. Knows nothing of smolagents."""

from __future__ import annotations

from ..engine._call import TaskObserver

__all__ = ["default_observers"]


def default_observers() -> list[TaskObserver]:
    """The observers a new TaskManager gets when none are given."""
    return []
