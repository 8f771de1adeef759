"""Waiting for input (``TaskManager.ask``/``answered``) and annotation events (``record_event``)."""

from __future__ import annotations

import threading

import pytest

from async_task_system import TaskManager, TaskStatus
from async_task_system.engine import current_task
from async_task_system.errors import InvalidArgumentError, UnknownTaskError

STATUSES = [s.value for s in TaskStatus]


def asking_task(tm: TaskManager, answer: threading.Event, asked: threading.Event):
    def work() -> str:
        tid = current_task().task_id
        assert tm.ask(tid, "which one?")
        asked.set()
        answer.wait(10)
        tm.answered(tid)
        return "done"
    return work


def test_a_task_that_asks_shows_waiting_for_input_then_running_then_completes() -> None:
    with TaskManager(2) as tm:
        answer, asked = threading.Event(), threading.Event()
        tid = tm.submit(asking_task(tm, answer, asked))
        assert asked.wait(5)
        info = tm.get(tid)
        assert info.status is TaskStatus.WAITING_FOR_INPUT and info.question == "which one?" and not info.done
        assert [i.id for i in tm.tasks(status="waiting_for_input")] == [tid]
        assert tm.tasks(status="running") == []
        stats = tm.get_statistics()
        assert stats["waiting_for_input"] == 1 and stats["running"] == 0
        assert sum(stats[s] for s in STATUSES) == stats["total"] == 1
        assert tm.ask(tid, "again?") is False  # one open question at a time
        answer.set()
        assert tm.result(tid, timeout=5) == "done"
        kinds = [e.kind for e in tm.get(tid).events]
        assert kinds == ["pending", "running", "waiting_for_input", "input_received", "completed"]
        assert tm.get(tid).question is None and tm.get_statistics()["waiting_for_input"] == 0


@pytest.mark.parametrize("end", ["cancel", "timeout"])
def test_a_task_waiting_for_input_is_cancelled_or_times_out_as_a_running_one(end: str) -> None:
    with TaskManager(1) as tm:
        answer, asked = threading.Event(), threading.Event()
        tid = tm.submit(asking_task(tm, answer, asked), timeout=0.3 if end == "timeout" else None)
        assert asked.wait(5)
        if end == "cancel":
            assert tm.cancel(tid, reason="no answer")
        tm.wait([tid], timeout=5)
        info = tm.get(tid)
        assert info.status is (TaskStatus.CANCELLED if end == "cancel" else TaskStatus.TIMEOUT)
        stats = tm.get_statistics()
        assert stats["waiting_for_input"] == 0 and sum(stats[s] for s in STATUSES) == stats["total"]
        assert tm.answered(tid) is False  # already final: nothing changes
        answer.set()


def test_ask_needs_a_running_task_and_a_question() -> None:
    with TaskManager(1) as tm:
        gate = threading.Event()
        blocker = tm.submit(gate.wait, args=(5,))
        queued = tm.submit(lambda: 1)
        assert tm.ask(queued, "?") is False
        assert tm.answered(blocker) is False
        with pytest.raises(InvalidArgumentError, match="question must be a non-empty str"):
            tm.ask(blocker, "  ")
        with pytest.raises(UnknownTaskError):
            tm.ask("t99", "?")
        gate.set()


def test_record_event_adds_to_the_log_without_changing_status() -> None:
    with TaskManager(1) as tm:
        gate = threading.Event()
        tid = tm.submit(gate.wait, args=(5,))
        assert tm.record_event(tid, "message", "hello")
        assert tm.get(tid).events[-1].kind == "message" and tm.get(tid).events[-1].reason == "hello"
        for bad in ("", "running", 3):
            with pytest.raises(InvalidArgumentError, match="kind must be"):
                tm.record_event(tid, bad)
        for _ in range(TaskManager.MAX_ANNOTATIONS):
            tm.record_event(tid, "message", "x")
        assert tm.record_event(tid, "message", "one too many") is False  # bounded
        gate.set()
        tm.wait([tid], timeout=5)
        assert tm.record_event(tid, "message", "late") is False
        assert tm.get(tid).status is TaskStatus.COMPLETED
