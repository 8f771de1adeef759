"""Retries with backoff: which errors are retried, the delays, and every attempt in the log."""

from __future__ import annotations

import time

import pytest

from async_task_system import ExponentialBackoff, TaskStatus


class Flaky:
    def __init__(self, failures: int, exc: type[Exception] = ConnectionError) -> None:
        self.calls = 0
        self.failures = failures
        self.exc = exc

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.exc(f"failure {self.calls}")
        return f"ok after {self.calls}"


def test_exponential_backoff_without_sleeping():
    backoff = ExponentialBackoff(initial=0.5, multiplier=2, maximum=3, jitter=0.0)
    assert [backoff(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    jittered = ExponentialBackoff(initial=1, multiplier=2, maximum=10, jitter=0.5, rng=lambda: 1.0)
    assert jittered(2) == 3.0  # 2 s plus 50%


def test_retries_until_success_and_logs_each_attempt(tm):
    delays: list[int] = []
    flaky = Flaky(2)
    tid = tm.submit(flaky, max_retries=3, backoff=lambda n: delays.append(n) or 0.01)
    assert tm.result(tid, timeout=5) == "ok after 3"
    info = tm.get(tid)
    assert info.attempts == 3 and delays == [1, 2]
    running = [e.attempt for e in info.events if e.kind == "running"]
    assert running == [1, 2, 3]
    retries = [e for e in info.events if e.kind == "retry_scheduled"]
    assert [e.attempt for e in retries] == [1, 2]
    assert any("ConnectionError: failure 1" in e.reason for e in info.events)


def test_gives_up_after_max_retries(tm):
    flaky = Flaky(10)
    tid = tm.submit(flaky, max_retries=2, backoff=lambda n: 0)
    tm.wait(tid, timeout=5)
    info = tm.get(tid)
    assert info.status is TaskStatus.FAILED and flaky.calls == 3
    assert info.reason == "failed after 3 attempts: ConnectionError: failure 3"


@pytest.mark.parametrize(
    ("retry_on", "calls"),
    [((ConnectionError,), 1), (ValueError, 3), (lambda exc: "transient" in str(exc), 1)],
)
def test_retry_on_selects_errors(tm, retry_on, calls):
    flaky = Flaky(5, exc=ValueError)
    tid = tm.submit(flaky, max_retries=2, retry_on=retry_on, backoff=lambda n: 0)
    tm.wait(tid, timeout=5)
    assert flaky.calls == calls
    if calls == 1:
        assert "not retried" in tm.get(tid).reason


def test_cancel_during_backoff_stops_the_retries(tm):
    flaky = Flaky(5)
    tid = tm.submit(flaky, max_retries=5, backoff=lambda n: 0.5)
    while not any(e.kind == "retry_scheduled" for e in tm.get(tid).events):
        time.sleep(0.001)
    assert tm.cancel(tid)
    tm.wait(tid, timeout=2)
    assert flaky.calls == 1 and tm.get(tid).status is TaskStatus.CANCELLED


@pytest.mark.parametrize(
    "policy",
    [{"backoff": lambda n: 1 / 0}, {"retry_on": lambda exc: 1 / 0}],
    ids=["backoff raises", "retry_on raises"],
)
def test_a_retry_policy_that_raises_fails_the_task_instead_of_losing_it(tm, policy):
    tid = tm.submit(Flaky(5), max_retries=2, **policy)
    assert tm.wait(tid, timeout=5).done == {tid}
    info = tm.get(tid)
    assert info.status is TaskStatus.FAILED
    assert "ConnectionError: failure 1" in info.reason and "ZeroDivisionError" in info.reason
    assert tm.get_statistics()["busy_slots"] == 0
