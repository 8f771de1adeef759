"""A task's lifecycle: statuses, record fields, the event log, final states that never change."""

from __future__ import annotations

import threading
import time

import pytest

from async_task_system import (
    TaskCancelledError,
    TaskFailedError,
    TaskManager,
    TaskStatus,
    UnknownTaskError,
    current_task,
)


def test_completed_task_record(tm):
    before = time.time()
    tid = tm.submit(lambda a, b=0: a + b, (2,), {"b": 3}, name="add", priority=5)
    assert tm.result(tid, timeout=5) == 5
    info = tm.get(tid)
    assert info.id == tid and info.name == "add" and info.priority == 5
    assert info.status is TaskStatus.COMPLETED and info.done and info.error is None
    assert before <= info.created_at <= info.started_at <= info.finished_at <= time.time()
    assert info.attempts == 1
    assert [e.kind for e in info.events] == ["pending", "running", "completed"]
    assert info.queue_wait >= 0 and info.run_time >= 0


def test_ids_are_unique_strings(tm):
    ids = [tm.submit(int) for _ in range(50)]
    assert len(set(ids)) == 50 and all(isinstance(i, str) for i in ids)


def test_failed_task_keeps_error_type_message_and_traceback(tm):
    def boom():
        raise ValueError("bad row 7")

    tid = tm.submit(boom)
    tm.wait(tid, timeout=5)
    info = tm.get(tid)
    assert info.status is TaskStatus.FAILED
    assert info.error.type == "ValueError" and info.error.message == "bad row 7"
    assert "boom" in info.error.traceback
    assert "ValueError: bad row 7" in info.reason
    with pytest.raises(TaskFailedError, match="bad row 7"):
        tm.result(tid)


def test_final_state_never_changes(tm, gate):
    tid = tm.submit(gate.wait)
    while tm.get(tid).status is not TaskStatus.RUNNING:
        time.sleep(0.001)
    assert tm.cancel(tid, reason="user changed their mind")
    gate.set()  # the callable now returns a result: it must be discarded
    deadline = time.monotonic() + 5
    while tm.get_statistics()["late_results_discarded"] == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    info = tm.get(tid)
    assert info.status is TaskStatus.CANCELLED and info.result is None
    assert info.reason == "user changed their mind"
    assert [e.kind for e in info.events][-1] == "late_result_discarded"
    assert sum(e.kind in {s.value for s in TaskStatus if s.is_final} for e in info.events) == 1
    assert not tm.cancel(tid)  # idempotent: already final
    with pytest.raises(TaskCancelledError):
        tm.result(tid)


def test_current_task_inside_and_outside(tm):
    assert current_task() is None
    tid = tm.submit(lambda: (current_task().task_id, current_task().name, current_task().attempt), name="who")
    assert tm.result(tid, timeout=5) == (tid, "who", 1)


def test_unknown_id_is_named(tm):
    tm.submit(int)
    with pytest.raises(UnknownTaskError, match=r"unknown task id 'nope'.*t1 to t1"):
        tm.get("nope")


def test_callbacks_run_once_with_final_snapshot(tm):
    seen: list = []
    done = threading.Event()
    tid = tm.submit(time.sleep, (0.05,))
    tm.add_done_callback(tid, lambda info: (seen.append(info.status), done.set()))
    assert done.wait(5)
    tm.add_done_callback(tid, lambda info: seen.append(("late", info.status)))  # already final: at once
    assert seen == [TaskStatus.COMPLETED, ("late", TaskStatus.COMPLETED)]


def test_a_raising_callback_does_not_break_the_manager(tm):
    tid = tm.submit(int)
    tm.add_done_callback(tid, lambda info: 1 / 0)
    tm.wait(tid, timeout=5)
    assert tm.result(tm.submit(int, ("7",)), timeout=5) == 7


def test_tasks_listing_newest_first_and_by_status():
    with TaskManager(max_workers=2) as tm:
        ids = [tm.submit(int, (str(i),)) for i in range(5)]
        bad = tm.submit(int, ("x",))
        tm.wait(ids + [bad], timeout=5)
        assert [t.id for t in tm.tasks()] == [bad, *reversed(ids)]
        assert [t.id for t in tm.tasks(status="failed")] == [bad]
        assert [t.id for t in tm.tasks(limit=2)] == [bad, ids[-1]]


def test_a_broken_observer_does_not_lose_tasks():
    from async_task_system.engine import TaskObserver

    class Broken(TaskObserver):
        def is_active(self) -> bool:
            raise RuntimeError("observer bug")

    with TaskManager(max_workers=2, observers=[Broken()]) as tm:
        assert tm.result(tm.submit(int, ("3",)), timeout=5) == 3
