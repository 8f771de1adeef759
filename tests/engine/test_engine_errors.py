"""Issue 9, items 8, 10, 18-20: shutdown runs retries out, timeouts count from the real start,
forgotten ids are finished, and every error says what it is about."""

from __future__ import annotations

import threading
import time

import pytest

from async_task_system import (
    ExponentialBackoff,
    InvalidArgumentError,
    TaskManager,
    TaskStatus,
    TaskTimeoutError,
    UnknownTaskError,
    WaitTimeoutError,
)
from async_task_system.engine import ThreadExecutor


def test_a_graceful_shutdown_runs_a_scheduled_retry_to_its_end():
    calls: list[int] = []

    def flaky():
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("first attempt fails")
        return "second attempt"

    with TaskManager(max_workers=1) as tm:
        tid = tm.submit(flaky, max_retries=2, backoff=lambda attempt: 0.2)
        deadline = time.monotonic() + 5
        while not calls and time.monotonic() < deadline:
            time.sleep(0.01)
    assert tm.get(tid).status is TaskStatus.COMPLETED and tm.get(tid).result == "second attempt"


def test_shutdown_with_cancel_pending_cancels_a_scheduled_retry_and_says_why():
    def fail():
        raise ConnectionError("down")

    tm = TaskManager(max_workers=1)
    tid = tm.submit(fail, max_retries=2, backoff=lambda attempt: 30)
    deadline = time.monotonic() + 5
    while tm.get(tid).attempts < 1 or tm.get(tid).status is TaskStatus.RUNNING:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    tm.shutdown(wait=True, cancel_pending=True)
    info = tm.get(tid)
    assert info.status is TaskStatus.CANCELLED and "shut down" in info.reason


def test_a_slow_done_callback_does_not_delay_or_time_out_the_next_task():
    gate = threading.Event()
    with TaskManager(max_workers=1) as tm:
        first = tm.submit(gate.wait, (5,))
        tm.add_done_callback(first, lambda info: time.sleep(0.5))  # runs on first's worker thread
        quick = tm.submit(time.sleep, (0.01,), timeout=0.3)  # queued: it gets first's freed slot
        gate.set()
        assert tm.wait([first, quick], timeout=5).not_done == set()
        assert tm.get(quick).status is TaskStatus.COMPLETED


class SlowToStart(ThreadExecutor):
    """Starts every attempt 0.4 s after it is handed over (a busy cluster, a cold worker)."""

    def start(self, call, reporter):
        threading.Timer(0.4, super().start, (call, reporter)).start()


def test_a_timeout_counts_from_the_attempts_real_start():
    with TaskManager(max_workers=1, executor=SlowToStart(2)) as tm:
        tid = tm.submit(time.sleep, (0.01,), timeout=0.2)
        assert tm.wait(tid, timeout=5).done == {tid}
        assert tm.get(tid).status is TaskStatus.COMPLETED


def test_wait_and_cancel_treat_forgotten_ids_as_finished():
    with TaskManager(max_workers=1, max_finished=1) as tm:
        ids = [tm.submit(int) for _ in range(5)]
        tm.wait(ids, timeout=5)
        assert tm.wait(ids, timeout=0) == (set(ids), set())
        assert tm.cancel(ids[0]) is False
        with pytest.raises(UnknownTaskError, match="'t1' finished and its record was forgotten"):
            tm.get(ids[0])
        with pytest.raises(UnknownTaskError, match=r"unknown task id 't6'.*from t1 to t5"):
            tm.wait(["t6"])


def test_shutdown_never_raises_for_ids_forgotten_during_it():
    for _ in range(20):
        tm = TaskManager(max_workers=2, result_ttl=0.001, max_finished=1)
        [tm.submit(time.sleep, (0.001,)) for _ in range(20)]
        tm.shutdown(wait=True)
        assert tm.get_statistics()["unfinished"] == 0


class _BadRepr:
    def __repr__(self):
        raise RuntimeError("repr exploded")


def test_validation_never_lets_a_broken_repr_out_and_quotes_little():
    with TaskManager(max_workers=1) as tm:
        with pytest.raises(InvalidArgumentError, match=r"fn must be callable, got _BadRepr <_BadRepr"):
            tm.submit(_BadRepr())
        with pytest.raises(InvalidArgumentError) as err:
            tm.submit(print, set(range(1_000_000)))
        assert len(str(err.value)) < 400
        with pytest.raises(InvalidArgumentError, match="metadata must be a dict with str keys or None, got str 'oops'"):
            tm.submit(print, metadata="oops")
        assert tm.get_statistics()["total"] == 0  # refused submits use no id
        assert tm.submit(int) == "t1"
        with pytest.raises(UnknownTaskError, match=r"ids issued so far run from t1 to t1\)"):
            tm.get("t2")


def test_exponential_backoff_caps_before_it_exponentiates():
    backoff = ExponentialBackoff(initial=0.5, maximum=30, jitter=0.0)
    assert [backoff(n) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]
    assert backoff(1025) == backoff(10**9) == 30
    with pytest.raises(InvalidArgumentError, match="maximum must be a finite number"):
        ExponentialBackoff(maximum=float("inf"))


def test_an_expired_wait_and_a_timed_out_task_raise_different_errors(tm, gate):
    slow = tm.submit(gate.wait, (5,))
    with pytest.raises(WaitTimeoutError) as waited:
        tm.result(slow, timeout=0.05)
    assert isinstance(waited.value, TimeoutError)  # as concurrent.futures' result(timeout=)
    assert tm.get(slow).status is TaskStatus.RUNNING  # the wait expired, the task goes on
    late = tm.submit(time.sleep, (0.3,), timeout=0.05)
    with pytest.raises(TaskTimeoutError) as timed_out:
        tm.result(late, timeout=5)
    assert not isinstance(timed_out.value, TimeoutError)
