"""Cancellation: pending tasks never run, running ones are marked at once and signalled."""

from __future__ import annotations

import threading
import time

from async_task_system import TaskManager, TaskStatus, cancel_token


def test_cancel_pending_task_never_runs():
    ran: list[str] = []
    gate = threading.Event()
    with TaskManager(max_workers=1) as tm:
        blocker = tm.submit(gate.wait, (5,))
        queued = tm.submit(ran.append, ("queued",))
        assert tm.cancel(queued, reason="plan changed")
        assert tm.get(queued).status is TaskStatus.CANCELLED
        gate.set()
        tm.wait([blocker, queued], timeout=5)
    assert ran == []
    assert tm.get(queued).started_at is None and tm.get(queued).reason == "plan changed"


def test_cancel_running_task_is_immediate_and_signals_token():
    started = threading.Event()
    seen_reason: list[str] = []

    def cooperative():
        started.set()
        token = cancel_token()
        token.add_callback(seen_reason.append)
        token.wait(10)
        return "partial"

    with TaskManager(max_workers=1) as tm:
        tid = tm.submit(cooperative)
        assert started.wait(5)
        t0 = time.monotonic()
        assert tm.cancel(tid, reason="too slow")
        assert tm.get(tid).status is TaskStatus.CANCELLED
        assert tm.wait(tid, timeout=1).done == {tid}
        assert time.monotonic() - t0 < 0.5
    assert seen_reason == ["too slow"]
    assert tm.get(tid).result is None  # the late "partial" was discarded
    assert tm.get(tid).events[-1].kind == "late_result_discarded"


def test_cancel_is_idempotent(tm):
    tid = tm.submit(time.sleep, (0.01,))
    tm.wait(tid, timeout=5)
    assert tm.cancel(tid) is False
    assert tm.get(tid).status is TaskStatus.COMPLETED
