"""Timeouts: a running task past its deadline becomes `timeout` promptly, with its token cancelled."""

from __future__ import annotations

import threading
import time

from async_task_system import TaskManager, TaskStatus, cancel_token


def test_timeout_is_prompt_and_wakes_waiters(tm):
    tid = tm.submit(time.sleep, (3,), timeout=0.2)
    start = time.monotonic()
    done, _ = tm.wait(tid, timeout=5)
    elapsed = time.monotonic() - start
    info = tm.get(tid)
    assert done == {tid} and info.status is TaskStatus.TIMEOUT
    assert 0.19 <= elapsed < 0.3  # the rule is "within 100 ms"
    assert "ran longer than its timeout of 0.2s" in info.reason


def test_timeout_signals_the_cooperative_token():
    stopped = threading.Event()

    def cooperative():
        token = cancel_token()
        while not token.wait(0.01):
            pass
        stopped.set()
        return "stopped early"

    with TaskManager(max_workers=1) as tm:
        tid = tm.submit(cooperative, timeout=0.1)
        tm.wait(tid, timeout=5)
        assert stopped.wait(2)
        assert tm.get(tid).status is TaskStatus.TIMEOUT


def test_timed_out_thread_is_abandoned_and_the_slot_reused():
    release = threading.Event()
    with TaskManager(max_workers=1, max_abandoned=1) as tm:
        stuck = tm.submit(release.wait, (10,), timeout=0.05)
        tm.wait(stuck, timeout=5)
        quick = tm.submit(int, ("5",))
        assert tm.result(quick, timeout=2) == 5  # ran beside the abandoned thread
        assert tm.get_statistics()["abandoned_threads"] == 1
        # With the spare capacity used up, a second stuck task blocks new work until a thread returns.
        stuck2 = tm.submit(release.wait, (10,), timeout=0.05)
        tm.wait(stuck2, timeout=5)
        blocked = tm.submit(int, ("6",))
        assert tm.wait(blocked, timeout=0.3).not_done == {blocked}
        release.set()
        assert tm.result(blocked, timeout=2) == 6
    # shutdown(wait=True) joined the abandoned threads: both late results were seen and discarded
    assert tm.get_statistics()["late_results_discarded"] == 2
    assert tm.get_statistics()["abandoned_threads"] == 0
    assert tm.get(stuck).events[-1].kind == "late_result_discarded"


def test_timeout_counts_per_attempt_and_is_not_retried(tm):
    tid = tm.submit(time.sleep, (1,), timeout=0.05, max_retries=3)
    tm.wait(tid, timeout=5)
    assert tm.get(tid).status is TaskStatus.TIMEOUT and tm.get(tid).attempts == 1
