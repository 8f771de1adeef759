"""Shutdown: no new tasks, optional cancellation of queued ones, no thread left behind."""

from __future__ import annotations

import threading
import time

import pytest
from engine_helpers import engine_threads

from async_task_system import ShutdownError, TaskManager, TaskStatus


def test_shutdown_waits_for_running_and_queued_tasks():
    tm = TaskManager(max_workers=2)
    ids = [tm.submit(time.sleep, (0.05,)) for _ in range(6)]
    tm.shutdown(wait=True)
    assert all(tm.get(i).status is TaskStatus.COMPLETED for i in ids)
    assert engine_threads() == []


def test_shutdown_cancel_pending():
    gate = threading.Event()
    tm = TaskManager(max_workers=1)
    running = tm.submit(gate.wait, (5,))
    queued = [tm.submit(int) for _ in range(5)]
    threading.Timer(0.1, gate.set).start()
    tm.shutdown(wait=True, cancel_pending=True)
    assert tm.get(running).status is TaskStatus.COMPLETED
    assert {tm.get(q).status for q in queued} == {TaskStatus.CANCELLED}
    assert tm.get(queued[0]).reason == "the task manager was shut down"
    assert engine_threads() == []


def test_submit_after_shutdown_raises():
    tm = TaskManager()
    tm.shutdown()
    with pytest.raises(ShutdownError, match="cannot submit new tasks after shutdown"):
        tm.submit(int)


def test_shutdown_without_wait_finishes_the_work():
    tm = TaskManager(max_workers=1)
    ids = [tm.submit(time.sleep, (0.02,)) for _ in range(3)]
    tm.shutdown(wait=False)
    assert tm.wait(ids, timeout=5).not_done == set()
    deadline = time.monotonic() + 5
    while engine_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert engine_threads() == []


def test_context_manager_cancels_queued_work_on_error():
    gate = threading.Event()
    with pytest.raises(RuntimeError):
        with TaskManager(max_workers=1) as tm:
            tm.submit(gate.wait, (0.2,))
            queued = tm.submit(int)
            raise RuntimeError("the caller failed")
    assert tm.get(queued).status is TaskStatus.CANCELLED
    assert engine_threads() == []
