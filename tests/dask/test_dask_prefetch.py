"""Prefetching on Dask: attempts wait in the cluster's queues, yet the manager's rules hold."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from dask_jobs import hold, local_client, stamp, until

from async_task_system import TaskManager, TaskStatus
from async_task_system.engine import CancelToken
from async_task_system.executors import DaskExecutor, TaskCall

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def one_thread_client():
    """A cluster of one worker thread: the order attempts start in is the order it runs them."""
    with local_client(n_workers=1, threads=1, processes=False) as (_, client):
        yield client


class RecordingReporter:
    """The manager's side of the executor, reduced to a log of what it was told."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.begun: list[str] = []
        self.ended: list[tuple[str, bool, object]] = []

    def attempt_starting(self, call: TaskCall, where: str | None = None) -> bool:
        with self.lock:
            self.begun.append(call.task_id)
        return True

    def attempt_finished(self, call: TaskCall, ok: bool, value: object) -> None:
        with self.lock:
            self.ended.append((call.task_id, ok, value))

    def capacity_changed(self) -> None:
        pass


def _call(task_id: str, fn, args: tuple) -> TaskCall:
    return TaskCall(task_id=task_id, name=fn.__name__, attempt=1, fn=fn, args=args, kwargs={},
                    token=CancelToken(), context=None)


def test_a_prefetched_attempt_begins_when_a_worker_starts_it_not_when_submitted(dask_client, tmp_path):
    executor = DaskExecutor(dask_client, trace_endpoint=None, prefetch=1)
    assert executor.capacity == 8  # 4 threads, each with one attempt queued behind it
    reporter = RecordingReporter()
    try:
        for i in range(8):
            executor.start(_call(f"job{i}", hold, (str(tmp_path), f"job{i}")), reporter)
        assert until(lambda: len(list(tmp_path.glob("*.started"))) == 4)
        time.sleep(0.5)  # time for a (wrong) attempt_starting of the queued four to arrive
        running = sorted(p.name.removesuffix(".started") for p in tmp_path.glob("*.started"))
        with reporter.lock:
            assert sorted(reporter.begun) == running  # the four queued ones have not begun
            assert reporter.ended == []
        (tmp_path / "release").write_text("go")
        assert until(lambda: len(reporter.ended) == 8)
        assert sorted(reporter.begun) == [f"job{i}" for i in range(8)]
        assert all(ok for _, ok, _ in reporter.ended)
    finally:
        (tmp_path / "release").write_text("go")
        executor.shutdown(wait=True)


def test_a_higher_priority_task_overtakes_all_but_the_prefetched_ones(one_thread_client, tmp_path):
    executor = DaskExecutor(one_thread_client, trace_endpoint=None, prefetch=2)
    assert executor.capacity == 2  # the gate and one queued behind it, until run times are measured
    with TaskManager(max_workers=64, executor=executor, observers=[]) as tm:
        gate = tm.submit(hold, (str(tmp_path), "gate"))
        assert until(lambda: (tmp_path / "gate.started").exists())
        lows = [tm.submit(stamp, (f"low{i}", 0.0)) for i in range(6)]  # low0 is handed over at once
        high = tm.submit(stamp, ("high", 0.0), priority=10)
        (tmp_path / "release").write_text("go")
        assert not tm.wait([gate, high, *lows], timeout=60).not_done
        order = [label for label, _, _ in sorted((tm.result(t) for t in [high, *lows]), key=lambda r: r[1])]
    # Only attempts already in the cluster's queue (at most prefetch x threads) start before it.
    assert order.index("high") <= 2
    assert order[order.index("high") + 1:] == [f"low{i}" for i in range(order.index("high"), 6)]


def test_a_name_limit_holds_with_prefetching_while_other_tasks_flow(dask_client):
    executor = DaskExecutor(dask_client, trace_endpoint=None, prefetch=2)
    with TaskManager(max_workers=64, executor=executor, name_limits={"licensed": 1}, observers=[]) as tm:
        licensed = [tm.submit(stamp, (f"l{i}", 0.15), name="licensed") for i in range(5)]
        free = [tm.submit(stamp, (f"f{i}", 0.15)) for i in range(12)]
        assert not tm.wait(licensed + free, timeout=120).not_done
        spans = sorted((tm.result(t)[1], tm.result(t)[2]) for t in licensed)
        free_ends = max(tm.result(t)[2] for t in free)
    for (_, end), (start, _) in zip(spans, spans[1:]):
        assert start >= end - 0.01  # never two licensed tasks at once (worker clocks: same machine)
    assert free_ends < spans[-1][1]  # the unlimited ones did not queue behind the licensed chain


def test_cancelling_a_prefetched_attempt_keeps_it_from_ever_running(one_thread_client, tmp_path):
    executor = DaskExecutor(one_thread_client, trace_endpoint=None, prefetch=1)
    with TaskManager(max_workers=64, executor=executor, observers=[]) as tm:
        gate = tm.submit(hold, (str(tmp_path), "gate"))
        assert until(lambda: (tmp_path / "gate.started").exists())
        queued = tm.submit(hold, (str(tmp_path), "queued"))  # handed to the cluster, behind the gate
        time.sleep(0.3)
        assert tm.cancel(queued, reason="not needed any more")
        (tmp_path / "release").write_text("go")
        assert not tm.wait([gate, queued], timeout=60).not_done
        assert tm.get(gate).status is TaskStatus.COMPLETED
        assert tm.get(queued).status is TaskStatus.CANCELLED
        assert "not needed any more" in tm.get(queued).reason
        follow = tm.submit(stamp, ("after", 0.0))  # the slot it held was given back
        assert tm.result(follow, timeout=60)[0] == "after"
    assert not Path(tmp_path / "queued.started").exists()


def test_without_max_workers_the_manager_fills_the_window_measured_on_the_workers(dask_client, tmp_path):
    executor = DaskExecutor(dask_client, trace_endpoint=None, prefetch=3)
    with TaskManager(executor=executor, observers=[]) as tm:
        assert not tm.wait([tm.submit(int) for _ in range(50)], timeout=60).not_done
        # No-op attempts run for microseconds on the workers, whatever the round trip costs: the full window.
        assert executor.window == 3 and executor.capacity == 16  # 4 threads x (1 + 3)
        assert tm.get_statistics()["max_workers"] == 16  # the executor's capacity, not a default of 4
        ids = [tm.submit(hold, (str(tmp_path), f"h{i}")) for i in range(20)]
        try:
            assert until(lambda: executor.cluster_status()["running"] == 4)
            assert until(lambda: executor.cluster_status()["queued"] == 12)  # 3 behind each thread
            assert tm.get_statistics()["pending"] == 4  # the rest wait in the manager, in its order
        finally:
            (tmp_path / "release").write_text("go")
        assert not tm.wait(ids, timeout=60).not_done
