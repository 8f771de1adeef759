"""Issue 9, items 12, 13, 15, 16: retention bounds memory, timers pin nothing, a dropped manager goes away."""

from __future__ import annotations

import gc
import threading
import time
import weakref

from engine_helpers import engine_threads

from async_task_system import TaskManager


class Blob:
    """A result we can watch die."""

    __slots__ = ("payload", "__weakref__")

    def __init__(self) -> None:
        self.payload = bytearray(20_000)


def test_deadline_timers_do_not_keep_finished_tasks_or_their_results_alive():
    refs: list[weakref.ref] = []

    def make() -> Blob:
        blob = Blob()
        refs.append(weakref.ref(blob))
        return blob

    with TaskManager(max_workers=2, max_finished=10) as tm:
        ids = [tm.submit(make, timeout=3600) for _ in range(200)]
        assert tm.wait(ids, timeout=10).not_done == set()
        gc.collect()
        alive = sum(ref() is not None for ref in refs)
        assert alive == 10  # only the records retention keeps
        assert tm.get_statistics()["retained_records"] == 10


def test_max_finished_bounds_unread_records_and_counts_what_it_forgot():
    with TaskManager(max_workers=2, max_finished=5) as tm:
        ids = [tm.submit(int, (str(i),)) for i in range(300)]
        assert tm.wait(ids, timeout=10).not_done == set()
        stats = tm.get_statistics()
        assert stats["retained_records"] == 5 and stats["forgotten_records"] == 295
        assert stats["completed"] == 300 == stats["total"]


def test_result_ttl_is_enforced_while_the_manager_is_idle():
    with TaskManager(max_workers=1, result_ttl=0.2) as tm:
        tm.wait(tm.submit(int), timeout=5)
        time.sleep(0.2)  # the manager is idle: nothing calls into it
        tm.wait(tm.submit(int), timeout=5)  # a second record, after the first expired...
        deadline = time.monotonic() + 5
        while tm.tasks() and time.monotonic() < deadline:  # tasks() only reads: it prunes nothing
            time.sleep(0.05)
        assert tm.tasks() == []  # the clock forgot both on its own


def _threads_settle(expected: int, timeout: float = 10) -> int:
    deadline = time.monotonic() + timeout
    while len(engine_threads()) > expected and time.monotonic() < deadline:
        time.sleep(0.05)
    return len(engine_threads())


def test_a_manager_dropped_without_shutdown_is_collected_and_leaks_no_thread():
    before = len(engine_threads())

    def use_and_drop() -> weakref.ref:
        tm = TaskManager(max_workers=2)
        assert tm.wait([tm.submit(int) for _ in range(10)], timeout=5).not_done == set()
        return weakref.ref(tm)

    refs = [use_and_drop() for _ in range(5)]
    gc.collect()
    assert all(ref() is None for ref in refs)
    assert _threads_settle(before) == before


def test_a_dropped_manager_first_finishes_its_unfinished_tasks():
    before = len(engine_threads())
    gate, done = threading.Event(), threading.Event()

    def drop_with_work() -> weakref.ref:
        tm = TaskManager(max_workers=1)
        first = tm.submit(gate.wait, (5,))
        then = tm.submit(int, ("5",), depends_on=[first])
        tm.add_done_callback(then, lambda info: info.result == 5 and done.set())
        return weakref.ref(tm)

    ref = drop_with_work()
    gc.collect()
    gate.set()
    assert done.wait(5)  # the queued dependent still ran and its callback fired
    deadline = time.monotonic() + 5
    while ref() is not None and time.monotonic() < deadline:
        gc.collect()
        time.sleep(0.05)
    assert ref() is None
    assert _threads_settle(before) == before
