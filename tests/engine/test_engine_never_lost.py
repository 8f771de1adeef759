"""Issue 9, items 1-7: whatever callables, callbacks and policies do, every task reaches a final state."""

from __future__ import annotations

import threading
import time

import pytest

from async_task_system import InvalidArgumentError, ResultOf, TaskManager, TaskStatus, cancel_token
from async_task_system.engine import TaskObserver


def test_cancelling_the_next_parked_task_does_not_strand_the_others_of_its_name(gate):
    limited = TaskManager(max_workers=4, name_limits={"api": 1})
    try:
        first = limited.submit(gate.wait, (5,), name="api")
        parked = [limited.submit(int, (str(i),), name="api", priority=10 - i) for i in range(3)]
        assert limited.get(parked[0]).status is TaskStatus.PENDING
        assert limited.cancel(parked[0])  # the one a freed slot would have re-queued
        gate.set()
        assert limited.wait([first, *parked[1:]], timeout=5).not_done == set()
        assert [limited.result(t) for t in parked[1:]] == [1, 2]
        assert limited.get_statistics()["busy_slots"] == 0
    finally:
        limited.shutdown(wait=True, cancel_pending=True)


class _BrokenStr(Exception):
    def __str__(self) -> str:
        raise RuntimeError("str exploded")


def _raise_broken() -> None:
    raise _BrokenStr()


def test_an_exception_whose_str_raises_fails_the_task_cleanly(tm):
    tid = tm.submit(_raise_broken, max_retries=1, backoff=lambda attempt: 0.0)
    assert tm.wait(tid, timeout=5).done == {tid}
    info = tm.get(tid)
    assert info.status is TaskStatus.FAILED and info.attempts == 2
    assert info.error.type == "_BrokenStr"
    assert "str() of the _BrokenStr raised RuntimeError" in info.error.message
    assert tm.get_statistics()["busy_slots"] == 0


class _HashOnce:
    """A dict key that hashes once (at submit), then raises: rebuilding the dict fails."""

    def __init__(self) -> None:
        self.calls = 0

    def __hash__(self) -> int:
        self.calls += 1
        if self.calls > 1:
            raise RuntimeError("hash exploded")
        return 1


def test_a_dependent_whose_arguments_cannot_be_built_fails_and_its_pass_mates_run(tm, gate):
    seen: list[str] = []
    called = threading.Event()
    producer = tm.submit(lambda: gate.wait(5) and "data", name="producer")
    tm.add_done_callback(producer, lambda info: (seen.append(info.status.value), called.set()))
    bad = tm.submit(lambda d: d, ({_HashOnce(): ResultOf(producer)},), name="bad")
    good = [tm.submit(str.upper, (ResultOf(producer),), name="good") for _ in range(3)]
    gate.set()
    assert tm.wait([producer, bad, *good], timeout=5).not_done == set()
    info = tm.get(bad)
    assert info.status is TaskStatus.FAILED
    assert "its arguments could not be built" in info.reason and "hash exploded" in info.reason
    assert [tm.result(t) for t in good] == ["DATA"] * 3
    assert called.wait(5) and seen == ["completed"]
    assert tm.get_statistics()["busy_slots"] == 0


def test_markers_ten_thousand_levels_deep_are_resolved(tm):
    t1 = tm.submit(lambda: 7)
    nested: list = [ResultOf(t1)]
    for _ in range(10_000):
        nested = [nested]

    def depth(value):
        n = 0
        while isinstance(value, list):
            value, n = value[0], n + 1
        return n, value

    assert tm.result(tm.submit(depth, (nested,)), timeout=10) == (10_001, 7)


@pytest.mark.parametrize("seconds", [float("inf"), 1e10, 2**2000])
def test_huge_or_infinite_seconds_are_refused_naming_the_limit(tm, seconds):
    for call in (lambda: tm.submit(int, timeout=seconds), lambda: tm.wait([], timeout=seconds),
                 lambda: TaskManager(result_ttl=seconds)):
        with pytest.raises(InvalidArgumentError, match=r"at most 31536000 \(one year\) or None, got .*; pass None for no limit"):
            call()


def test_a_backoff_of_ten_billion_seconds_is_clamped_and_the_clock_keeps_working(tm):
    def fail():
        raise ConnectionError("down")

    slow_retry = tm.submit(fail, max_retries=1, backoff=lambda attempt: 1e10)
    inf_retry = tm.submit(fail, max_retries=1, backoff=lambda attempt: float("inf"))
    nan_retry = tm.submit(fail, max_retries=1, backoff=lambda attempt: float("nan"))
    assert tm.wait(nan_retry, timeout=5).done == {nan_retry}
    assert "the backoff returned float nan" in tm.get(nan_retry).reason
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and tm.get(inf_retry).attempts < 1:
        time.sleep(0.01)
    # The clock survived both: a later deadline still fires.
    later = tm.submit(time.sleep, (5,), timeout=0.1)
    assert tm.wait(later, timeout=5).done == {later}
    assert tm.get(later).status is TaskStatus.TIMEOUT
    for tid in (slow_retry, inf_retry):
        assert tm.get(tid).status is TaskStatus.PENDING  # waiting a year for its retry
        assert any(e.kind == "retry_scheduled" and "31536000" in e.reason for e in tm.get(tid).events)


def test_a_done_callback_that_submits_and_waits_does_not_deadlock():
    got: list[object] = []
    gate = threading.Event()
    with TaskManager(max_workers=1) as tm:
        first = tm.submit(gate.wait, (5,))

        def submit_and_wait(info):  # runs on the worker thread that ran `first`
            got.append(tm.result(tm.submit(lambda: 42), timeout=2))

        tm.add_done_callback(first, submit_and_wait)
        gate.set()
        tm.wait(first, timeout=5)
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            time.sleep(0.01)
    assert got == [42]


@pytest.mark.parametrize("exc", [SystemExit, KeyboardInterrupt, GeneratorExit])
def test_a_callback_raising_a_base_exception_loses_no_task(exc, caplog):
    class Loud(TaskObserver):
        def on_event(self, task_id, event, info):
            if info is not None:
                raise exc()

    with TaskManager(max_workers=1, observers=[Loud()]) as tm:
        first = tm.submit(time.sleep, (0.05,))
        tm.add_done_callback(first, lambda info: (_ for _ in ()).throw(exc()))
        queued = [tm.submit(int, (str(i),)) for i in range(5)]
        assert tm.wait([first, *queued], timeout=5).not_done == set()
        assert [tm.result(t) for t in queued] == list(range(5))
    assert "a task callback or observer raised" in caplog.text


def test_a_task_that_cancels_its_own_token_and_fails_ends_cancelled(tm):
    def give_up():
        cancel_token().cancel("gave up on my own")
        raise RuntimeError("and then failed")

    tid = tm.submit(give_up, max_retries=3, backoff=lambda attempt: 0.0)
    assert tm.wait(tid, timeout=5).done == {tid}
    info = tm.get(tid)
    assert info.status is TaskStatus.CANCELLED and info.attempts == 1
    assert "gave up on my own" in info.reason and "and then failed" in info.reason
    stats = tm.get_statistics()
    assert stats["abandoned_threads"] == 0 and stats["busy_slots"] == 0


def test_a_done_callback_may_shut_the_manager_down_and_wait():
    returned = threading.Event()
    tm = TaskManager(max_workers=1)
    first = tm.submit(int)
    queued = tm.submit(time.sleep, (0.05,))

    def close(info):
        tm.shutdown(wait=True)
        returned.set()

    tm.add_done_callback(first, close)
    assert returned.wait(5)
    assert tm.get(queued).status is TaskStatus.COMPLETED


def test_a_cancel_token_refuses_an_infinite_wait_with_the_limit(tm):
    def sleepy():
        try:
            cancel_token().wait(float("inf"))
        except InvalidArgumentError as exc:
            return str(exc)

    assert "at most 31536000 (one year)" in tm.result(tm.submit(sleepy), timeout=5)


class _HostileStr(str):
    """A str subclass whose hash, equality and formatting all raise."""

    def __hash__(self):
        raise RuntimeError("hash")

    def __eq__(self, other):
        raise RuntimeError("eq")

    def __format__(self, spec):
        raise RuntimeError("format")


def test_str_subclasses_as_names_ids_and_reasons_run_none_of_their_code_under_the_lock(tm):
    first = tm.submit(int, name=_HostileStr("hostile"))
    assert tm.result(_HostileStr(first), timeout=5) == 0
    second = tm.submit(time.sleep, (1,), depends_on=[_HostileStr(first)])
    assert tm.cancel(_HostileStr(second), reason=_HostileStr("no longer needed"))
    assert tm.get(second).reason == "no longer needed" and tm.get(first).name == "hostile"


def test_an_observer_whose_attempt_scope_raises_does_not_fail_the_task(caplog):
    class BrokenScope(TaskObserver):
        def attempt_scope(self, call):
            raise RuntimeError("scope exploded")

    class BrokenExit(TaskObserver):
        def attempt_scope(self, call):
            class Exit:
                def __enter__(self):
                    return self

                def __exit__(self, *exc):
                    raise RuntimeError("exit exploded")
            return Exit()

    with TaskManager(max_workers=1, observers=[BrokenScope(), BrokenExit()]) as tm:
        assert tm.result(tm.submit(int, ("5",)), timeout=5) == 5
    assert "scope exploded" in caplog.text and "exit exploded" in caplog.text


def test_a_huge_exception_message_is_cut_in_the_record(tm):
    def shout():
        raise ValueError("x" * 5_000_000)

    tid = tm.submit(shout)
    tm.wait(tid, timeout=5)
    message = tm.get(tid).error.message
    assert len(message) < 100_200 and message.endswith("[cut at 100000 of 5000000 characters]")
