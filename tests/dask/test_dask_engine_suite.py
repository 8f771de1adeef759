"""The same engine behaviours on the thread pool and on a Dask process cluster.

The manager keeps the policy (priorities, dependencies, limits, retries, timeouts,
cancellation); these tests check that it holds whatever executor runs the attempts.
"""

from __future__ import annotations

import itertools
import time

import pytest
from dask_jobs import add, fail, flaky, stamp, wait_for_cancel, wait_for_file

from async_task_system import ResultOf, TaskManager, TaskStatus
from async_task_system.executors import DaskExecutor

pytestmark = pytest.mark.slow


@pytest.fixture(params=["threads", "dask"])
def make_manager(request):
    """Build TaskManagers on the parametrized executor; shut them down after the test."""
    managers = []

    def make(**kwargs):
        if request.param == "dask":
            kwargs["executor"] = DaskExecutor(request.getfixturevalue("dask_client"))
        manager = TaskManager(**kwargs)
        managers.append(manager)
        return manager

    yield make
    for manager in managers:
        manager.shutdown(wait=True, cancel_pending=True)


def test_higher_priority_starts_first(make_manager):
    tm = make_manager(max_workers=1)
    gate = tm.submit(stamp, ("gate", 0.5))
    low = tm.submit(stamp, ("low", 0.0), priority=0)
    high = tm.submit(stamp, ("high", 0.0), priority=10)
    mid = tm.submit(stamp, ("mid", 0.0), priority=5)
    assert not tm.wait([gate, low, high, mid], timeout=60).not_done
    started = sorted((tm.result(t) for t in (gate, low, high, mid)), key=lambda r: r[1])
    assert [label for label, _, _ in started] == ["gate", "high", "mid", "low"]


def test_dependencies_pass_results_and_a_failure_cancels_dependents(make_manager):
    tm = make_manager(max_workers=2)
    t1 = tm.submit(add, (1, 2))
    t2 = tm.submit(add, (ResultOf(t1), 10))  # t1's result itself
    t3 = tm.submit(add, ([0], [ResultOf(t2)]))  # inside a list: rebuilt with the result in place
    bad = tm.submit(fail, ("no data",))
    after_bad = tm.submit(add, (ResultOf(bad), 1))
    tm.wait([t3, after_bad], timeout=60)
    assert tm.result(t3) == [0, 13]
    info = tm.get(after_bad)
    assert info.status is TaskStatus.CANCELLED
    assert info.reason.startswith(f"dependency {bad} (fail) failed")


def test_a_name_limit_keeps_those_tasks_apart(make_manager):
    tm = make_manager(max_workers=4, name_limits={"stamp": 1})
    ids = [tm.submit(stamp, (str(i), 0.2)) for i in range(3)]
    assert not tm.wait(ids, timeout=60).not_done
    spans = sorted((start, end) for _, start, end in (tm.result(t) for t in ids))
    for (_, end), (next_start, _) in itertools.pairwise(spans):
        assert next_start >= end - 0.01  # never two at once (small tolerance for clocks)


def test_failed_attempts_are_retried_by_the_manager(make_manager):
    tm = make_manager(max_workers=2)
    tid = tm.submit(flaky, (2,), max_retries=2, backoff=lambda attempt: 0.05)
    assert tm.result(tid, timeout=60) == 3
    info = tm.get(tid)
    assert info.attempts == 3
    assert [e.kind for e in info.events].count("retry_scheduled") == 2
    back_to_pending = [e for e in info.events if e.kind == "pending" and e.attempt == 1]
    assert "ValueError: attempt 1 fails on purpose" in back_to_pending[0].reason


def test_a_timeout_ends_the_task_and_fires_its_token(make_manager, tmp_path):
    tm = make_manager(max_workers=2)
    tid = tm.submit(wait_for_cancel, (str(tmp_path), 60), timeout=0.5)
    tm.wait(tid, timeout=60)
    info = tm.get(tid)
    assert info.status is TaskStatus.TIMEOUT
    assert "longer than its timeout of 0.5s" in info.reason
    assert wait_for_file(tmp_path / "stopped", timeout=15).startswith("cancelled: attempt 1 ran longer")


def test_cancelling_a_running_task(make_manager, tmp_path):
    tm = make_manager(max_workers=2)
    tid = tm.submit(wait_for_cancel, (str(tmp_path), 60))
    wait_for_file(tmp_path / "started")
    assert tm.cancel(tid, reason="not needed any more")
    assert tm.get(tid).status is TaskStatus.CANCELLED
    assert wait_for_file(tmp_path / "stopped", timeout=15) == "cancelled: not needed any more"
    assert not tm.cancel(tid)  # idempotent


def test_a_graceful_shutdown_runs_a_scheduled_retry_to_its_end(make_manager):
    tm = make_manager(max_workers=2)
    tid = tm.submit(flaky, (1,), max_retries=1, backoff=lambda attempt: 0.3)
    deadline = time.monotonic() + 60
    while tm.get(tid).attempts < 1 or tm.get(tid).status is TaskStatus.RUNNING:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    tm.shutdown(wait=True)  # the retry is scheduled, not yet due: it still runs
    assert tm.get(tid).status is TaskStatus.COMPLETED and tm.result(tid) == 2


def test_markers_inside_lists_and_dicts_reach_the_executor_resolved(make_manager):
    tm = make_manager(max_workers=2)
    t1 = tm.submit(add, (2, 3))
    tid = tm.submit(add, ([ResultOf(t1)], [{"n": ResultOf(t1)}]))
    assert tm.result(tid, timeout=60) == [5, {"n": 5}]
