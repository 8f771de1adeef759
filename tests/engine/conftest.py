"""Helpers for the engine tests."""

from __future__ import annotations

import threading

import pytest

from async_task_system import TaskManager


@pytest.fixture
def tm():
    manager = TaskManager(max_workers=4)
    yield manager
    manager.shutdown(wait=True, cancel_pending=True)


@pytest.fixture
def gate():
    """An event the test sets to let blocked tasks go; set at teardown so nothing hangs."""
    event = threading.Event()
    yield event
    event.set()
