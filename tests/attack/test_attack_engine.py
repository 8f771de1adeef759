"""Hostile-caller findings against the engine (issue 9's rule): each test failed before its fix."""

from __future__ import annotations

import copy
import gc
import math
import pickle
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from async_task_system import ExponentialBackoff, ResultOf, TaskManager, cancel_token


def _engine_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(("task-worker", "task-timer", "task-callbacks"))]


@pytest.fixture
def tm():
    manager = TaskManager(max_workers=2)
    yield manager
    manager.shutdown(wait=True, cancel_pending=True)


@pytest.mark.parametrize("clone", [lambda m: pickle.loads(pickle.dumps(m)), copy.deepcopy, copy.copy],
                         ids=["pickle", "deepcopy", "copy"])
def test_a_copied_marker_is_still_resolved_when_no_other_marker_lives(tm, clone) -> None:
    # Found: a copy is built without __init__, so it did not register as live; with the original
    # gone, submit skipped the scan and the task got the marker object itself: a silently wrong value.
    t1 = tm.submit(lambda: 42)
    template = {"x": [ResultOf(t1)]}
    args = clone(template) if clone is not copy.copy else {"x": [clone(template["x"][0])]}
    del template
    gc.collect()
    t2 = tm.submit(lambda x: x, kwargs=args)
    assert tm.result(t2, timeout=10) == [42]
    assert tm.get(t2).depends_on == (t1,)


def test_a_marker_naming_its_task_with_a_str_subclass_gets_the_result(tm) -> None:
    # Found: the subclass's __hash__ ran under the manager's lock and the dependency read as
    # "finished and its record was forgotten" although t1 was right there.
    class Id(str):
        def __hash__(self) -> int:
            return 7

    t1 = tm.submit(lambda: "r1")
    t2 = tm.submit(lambda x: x, (ResultOf(Id(t1)),))
    assert tm.result(t2, timeout=10) == "r1"
    assert type(ResultOf(Id(t1)).task_id) is str


@given(initial=st.floats(min_value=0, max_value=1e300, allow_subnormal=True),
       multiplier=st.floats(min_value=0, max_value=1e300), maximum=st.floats(min_value=0, max_value=1e300),
       attempt=st.integers(min_value=1, max_value=100_000))
@settings(max_examples=300, deadline=None)
def test_exponential_backoff_never_overflows_and_respects_its_cap(initial, multiplier, maximum, attempt) -> None:
    # Found: initial=1e-320 made maximum / initial infinite, the cap test never held, attempt 1100 overflowed.
    delay = ExponentialBackoff(initial=initial, multiplier=multiplier, maximum=maximum, jitter=0)(attempt)
    assert 0 <= delay <= maximum and not math.isnan(delay)


def test_a_backoff_returning_a_huge_int_schedules_the_retry_like_infinity_does(tm) -> None:
    # Found: 10**400 failed the task ("its retry policy then raised OverflowError") while inf was accepted.
    def fails() -> None:
        raise ValueError("once")

    t = tm.submit(fails, max_retries=1, backoff=lambda attempt: 10**400)
    deadline = time.monotonic() + 10
    while tm.get(t).attempts < 1 or tm.get(t).status.value == "running":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert tm.get(t).status.value == "pending"
    assert "retry 1 of 1" in tm.get(t).events[-2].reason
    assert tm.cancel(t)


def test_shutdown_wait_from_inside_its_own_task_is_refused_not_a_deadlock() -> None:
    # Found: the task waited for the manager, which waited for the task: running forever.
    manager = TaskManager(max_workers=2)
    t = manager.submit(lambda: manager.shutdown(wait=True))
    done, _ = manager.wait([t], timeout=10)
    assert done == {t}
    info = manager.get(t)
    assert info.status.value == "failed"
    assert "shutdown(wait=False)" in str(info.error) and t in str(info.error)
    assert not manager.is_shutdown  # nothing was changed by the refused call
    later = manager.submit(lambda: manager.shutdown(wait=False))
    manager.wait([later], timeout=10)
    assert manager.is_shutdown
    manager.shutdown(wait=True)


def test_a_callback_of_a_timed_out_task_that_shuts_down_does_not_stop_the_clock() -> None:
    # Found: callbacks of a task that timed out ran on the clock's thread; shutdown() there waited
    # for a retry that only that thread could schedule: the retry stayed pending forever.
    manager = TaskManager(max_workers=2)
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ValueError("not yet")
        return "ok"

    retried = manager.submit(flaky, max_retries=5, backoff=lambda attempt: 0.2)
    slow = manager.submit(time.sleep, (1.5,), timeout=0.05)
    manager.add_done_callback(slow, lambda info: manager.shutdown())
    done, _ = manager.wait([retried], timeout=10)
    assert done == {retried} and manager.get(retried).result == "ok"
    manager.shutdown(wait=True)
    assert not [t for t in _engine_threads() if t.name == "task-callbacks"]


def test_a_callback_of_a_timed_out_task_can_wait_for_another_task_that_times_out(tm) -> None:
    # Found: same cause: the second task's deadline never fired while the callback waited for it.
    seen = []
    first = tm.submit(time.sleep, (1.5,), timeout=0.05)

    def callback(info) -> None:
        second = tm.submit(time.sleep, (1.5,), timeout=0.1)
        tm.wait([second], timeout=5)
        seen.append(tm.get(second).status.value)

    tm.add_done_callback(first, callback)
    deadline = time.monotonic() + 10
    while not seen and time.monotonic() < deadline:
        time.sleep(0.02)
    assert seen == ["timeout"]


def test_name_limits_with_str_and_int_subclasses_run_none_of_their_code_under_the_lock() -> None:
    # Found: a key whose __eq__ raised made submit raise after the record existed: pending forever.
    class Name(str):
        __hash__ = str.__hash__

        def __eq__(self, other: object) -> bool:
            raise RuntimeError("eq exploded")

    class Limit(int):
        def __ge__(self, other: object) -> bool:
            raise RuntimeError("ge exploded")

        __le__ = __gt__ = __lt__ = __ge__

    manager = TaskManager(max_workers=2, name_limits={Name("n"): Limit(1)})
    try:
        ids = [manager.submit(lambda: 1, name="n") for _ in range(3)]
        done, _ = manager.wait(ids, timeout=10)
        assert done == set(ids) and all(manager.get(i).status.value == "completed" for i in ids)
    finally:
        manager.shutdown(wait=True)


def test_a_dropped_manager_whose_timed_out_task_has_a_slow_callback_is_collected_and_leaves_no_thread() -> None:
    # The callback thread the clock hands a timeout's callbacks to holds the manager only while it runs.
    import weakref

    seen: list[str] = []

    def make() -> weakref.ref:
        manager = TaskManager(max_workers=2)
        # A cancellable 5 s wait: it ends at the timeout (which must fire, even on a loaded machine).
        t = manager.submit(lambda: cancel_token().wait(5), timeout=0.05)
        manager.add_done_callback(t, lambda info: (time.sleep(0.1), seen.append(info.status.value)))
        return weakref.ref(manager)

    before = set(_engine_threads())  # other tests' threads are not this test's concern

    def new_threads() -> list[threading.Thread]:
        return [t for t in _engine_threads() if t not in before]

    ref = make()
    deadline = time.monotonic() + 20
    while (ref() is not None or new_threads()) and time.monotonic() < deadline:
        gc.collect()
        time.sleep(0.05)
    assert ref() is None and not new_threads() and seen == ["timeout"]


def test_an_executor_whose_capacity_raises_strands_no_task_and_loses_no_callback() -> None:
    # Found: the capacity (a property: Dask's asks the cluster) was read in _dispatch under the lock;
    # raising there after a task ended lost its callbacks and left the queued task pending forever.
    from async_task_system.engine._pool import ThreadExecutor

    broken = threading.Event()

    class Flaky(ThreadExecutor):
        @property
        def capacity(self) -> int:
            if broken.is_set():
                raise ConnectionError("cluster info unavailable")
            return 4

        @capacity.setter
        def capacity(self, value: int) -> None:
            pass

    manager = TaskManager(max_workers=1, executor=Flaky(4))
    called = threading.Event()
    first = manager.submit(broken.set)  # the read after it ends raises
    second = manager.submit(lambda: "second")
    manager.add_done_callback(first, lambda info: called.set())
    done, _ = manager.wait([first, second], timeout=10)
    assert done == {first, second} and manager.get(second).result == "second"
    assert called.wait(10)
    manager.shutdown(wait=True)


def test_an_observer_whose_attempt_scope_cannot_be_read_does_not_strand_the_task() -> None:
    # Found: a property raising in _dispatch (under the lock) made submit raise with the task
    # already recorded: it stayed running forever, holding its slot.
    from async_task_system.engine._observers import TaskObserver

    class Broken(TaskObserver):
        def is_active(self) -> bool:
            return True

        @property
        def attempt_scope(self):  # type: ignore[override]
            raise RuntimeError("scope exploded")

    manager = TaskManager(max_workers=1, observers=[Broken()])
    try:
        ids = [manager.submit(lambda: 1) for _ in range(2)]
        done, _ = manager.wait(ids, timeout=10)
        assert done == set(ids) and all(manager.get(i).result == 1 for i in ids)
    finally:
        manager.shutdown(wait=True)
