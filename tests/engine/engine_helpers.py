"""Shared helpers of the engine tests (a uniquely named module: every tests dir has a conftest)."""

from __future__ import annotations

import threading


def engine_threads() -> list[threading.Thread]:
    """Threads the engine started that are still alive."""
    return [t for t in threading.enumerate()
            if t.name.startswith(("task-worker", "task-timer", "task-loop", "task-callbacks"))]
