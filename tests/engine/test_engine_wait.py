"""wait(): all or first, timeouts, and waking on the event rather than by polling."""

from __future__ import annotations

import statistics
import threading
import time

import pytest

from async_task_system import InvalidArgumentError, TaskManager


def test_wait_all_and_first(tm):
    gate = threading.Event()
    fast = tm.submit(time.sleep, (0.01,))
    slow = tm.submit(gate.wait, (5,))
    done, not_done = tm.wait([fast, slow], return_when="FIRST_COMPLETED", timeout=5)
    assert done == {fast} and not_done == {slow}
    done, not_done = tm.wait([fast, slow], timeout=0.05)
    assert done == {fast} and not_done == {slow}
    gate.set()
    assert tm.wait([fast, slow], timeout=5) == ({fast, slow}, set())


def test_wait_accepts_a_single_id_and_zero_timeout(tm):
    tid = tm.submit(time.sleep, (0.2,))
    assert tm.wait(tid, timeout=0) == (set(), {tid})
    assert tm.wait(tid).done == {tid}


def test_wait_rejects_bad_arguments(tm):
    tid = tm.submit(int)
    with pytest.raises(InvalidArgumentError, match="return_when must be 'ALL_COMPLETED' or 'FIRST_COMPLETED'"):
        tm.wait([tid], return_when="all")
    with pytest.raises(InvalidArgumentError, match="timeout must be a number of seconds >= 0"):
        tm.wait([tid], timeout=-1)
    with pytest.raises(InvalidArgumentError, match="task_ids must contain task ids as str, got int 3"):
        tm.wait([tid, 3])


def test_wait_wakes_on_the_event_not_by_polling():
    """The median delay from a task's end to wait() returning is far below any polling interval."""
    delays = []
    with TaskManager(max_workers=2) as tm:
        for _ in range(30):
            ended = []
            tid = tm.submit(lambda: (time.sleep(0.01), ended.append(time.perf_counter())))
            tm.wait(tid, timeout=5)
            delays.append(time.perf_counter() - ended[0])
    assert statistics.median(delays) < 0.02  # seeds polled every 100 ms


def test_many_waiters_on_one_task(tm):
    gate = threading.Event()
    tid = tm.submit(gate.wait, (5,))
    results: list[set] = []
    waiters = [threading.Thread(target=lambda: results.append(tm.wait(tid, timeout=5).done)) for _ in range(8)]
    for w in waiters:
        w.start()
    gate.set()
    for w in waiters:
        w.join(5)
    assert results == [{tid}] * 8
