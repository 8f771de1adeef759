"""DaskExecutor on a real process cluster: where tasks run, what reaches them, what is refused."""

from __future__ import annotations

import os
import threading
import time

import pytest
import dask_jobs
from dask_jobs import fail, hold, wait_for_cancel, until, wait_for_file, whoami

from async_task_system import InvalidArgumentError, TaskManager, TaskStatus
from async_task_system.executors import DaskExecutor

pytestmark = pytest.mark.slow


@pytest.fixture
def tm(dask_client):
    with TaskManager(max_workers=4, executor=DaskExecutor(dask_client)) as manager:
        yield manager


def test_results_come_from_worker_processes(tm, dask_client):
    worker_pids = set(dask_client.run(os.getpid).values())
    ids = [tm.submit(whoami, (i,)) for i in range(8)]
    assert not tm.wait(ids, timeout=60).not_done
    results = [tm.result(i) for i in ids]
    assert [r["x"] for r in results] == list(range(8))
    pids = {r["pid"] for r in results}
    assert os.getpid() not in pids
    assert pids <= worker_pids



def test_each_task_records_the_worker_it_ran_on(tm, dask_client):
    """The record says where the task ran (what `async-agent run`'s table shows): the worker's address."""
    pid_of = dask_client.run(os.getpid)  # worker address -> its pid
    ids = [tm.submit(whoami, (i,)) for i in range(6)]
    assert not tm.wait(ids, timeout=60).not_done
    for task_id in ids:
        info = tm.get(task_id)
        workers = [e.reason for e in info.events if e.kind == "worker"]
        assert len(workers) == 1 and workers[0] in pid_of
        assert pid_of[workers[0]] == tm.result(task_id)["pid"]

def test_capacity_is_the_clusters_threads_times_one_plus_the_window(dask_client):
    threads = sum(dask_client.nthreads().values())
    assert threads == 4
    assert DaskExecutor(dask_client).capacity == threads * 2  # one queued per thread until measured
    assert DaskExecutor(dask_client, prefetch=0).capacity == threads


def test_the_window_closes_for_long_attempts_and_opens_for_short_ones(dask_client):
    executor = DaskExecutor(dask_client, trace_endpoint=None)
    with TaskManager(max_workers=64, executor=executor, observers=[]) as tm:
        assert not tm.wait([tm.submit(time.sleep, (0.3,)) for _ in range(8)], timeout=60).not_done
        assert executor.window == 0 and executor.capacity == 4  # 0.3 s each: nothing is queued ahead
        assert not tm.wait([tm.submit(int) for _ in range(300)], timeout=60).not_done
        assert executor.window >= 1  # no-op attempts: the window opens again


@pytest.mark.parametrize("bad", [-1, 65, 1.5, True, "2", None])
def test_a_bad_prefetch_is_refused_with_what_is_accepted(dask_client, bad):
    with pytest.raises(InvalidArgumentError, match="prefetch must be an int from 0 to 64"):
        DaskExecutor(dask_client, prefetch=bad)


def test_kwargs_named_like_dask_options_reach_the_tool_intact(tm):
    kwargs = {"priority": -7, "key": "my-key", "retries": 5, "pure": True, "workers": ["tcp://nowhere:1"],
              "resources": {"GPU": 1}, "allow_other_workers": False}
    result = tm.result(tm.submit(whoami, kwargs=kwargs), timeout=60)
    assert result["kwargs"] == kwargs


def test_a_task_error_comes_back_as_the_tasks_failure(tm):
    tid = tm.submit(fail, ("disk full on the worker",))
    tm.wait(tid, timeout=60)
    info = tm.get(tid)
    assert info.status is TaskStatus.FAILED
    assert info.error.type == "RuntimeError"
    assert "disk full on the worker" in info.error.message


def test_cancelling_a_running_task_fires_its_token_on_the_worker(tm, tmp_path):
    tid = tm.submit(wait_for_cancel, (str(tmp_path), 60))
    started = wait_for_file(tmp_path / "started")
    task_id, pid = started.split()
    assert task_id == tid and int(pid) != os.getpid()  # current_task() works remotely
    assert tm.cancel(tid, reason="the user changed their mind")
    info = tm.get(tid)
    assert info.status is TaskStatus.CANCELLED
    assert info.reason == "the user changed their mind"
    # The worker saw the token fire with the reason, and the task stopped well before its 60 s.
    assert wait_for_file(tmp_path / "stopped", timeout=15) == "cancelled: the user changed their mind"
    tm.shutdown(wait=True)  # returns once the abandoned attempt has reported back
    assert tm.get_statistics()["abandoned_threads"] == 0


class LockedTool:
    """A tool that keeps a lock: cannot travel to another process."""

    def __init__(self) -> None:
        self.name = "locked_tool"
        self.lock = threading.Lock()

    def __call__(self, query: str) -> str:
        return query


def test_an_unpicklable_tool_is_refused_at_submit_naming_the_object(tm):
    with pytest.raises(InvalidArgumentError) as err:
        tm.submit(LockedTool(), ("q",), name="locked_tool")
    message = str(err.value)
    assert "fn.lock (lock) inside fn (LockedTool)" in message
    assert "cannot pickle '_thread.lock' object" in message
    assert tm.get_statistics()["total"] == 0  # nothing was queued


def test_an_unpicklable_argument_is_refused_naming_where_it_is(tm):
    with pytest.raises(InvalidArgumentError, match=r"kwargs\['options'\]\['guard'\] \(lock\)"):
        tm.submit(whoami, kwargs={"options": {"ok": 1, "guard": threading.Lock()}})


def test_an_executor_built_from_an_address_closes_its_own_client(dask_cluster):
    cluster, given = dask_cluster
    executor = DaskExecutor(cluster.scheduler_address, trace_endpoint=None)
    with TaskManager(max_workers=2, executor=executor) as manager:
        assert manager.result(manager.submit(whoami, (1,)), timeout=60)["x"] == 1
    assert executor.client.status == "closed"
    assert given.status == "running"  # a client that was given is left open


def test_bad_targets_are_refused_with_what_is_accepted(monkeypatch):
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    with pytest.raises(InvalidArgumentError, match="DASK_SCHEDULER_ADDRESS"):
        DaskExecutor()
    with pytest.raises(InvalidArgumentError, match="accepts a distributed.Client, a scheduler address"):
        DaskExecutor(42)
    with pytest.raises(InvalidArgumentError, match="trace_endpoint must be an OTLP/HTTP URL"):
        DaskExecutor("tcp://127.0.0.1:9", trace_endpoint="localhost:4318")


def test_an_unreachable_scheduler_is_reported_clearly():
    with pytest.raises(InvalidArgumentError, match="could not reach the Dask scheduler"):
        DaskExecutor("tcp://127.0.0.1:9", trace_endpoint=None, connect_timeout=1)


def test_capacity_follows_workers_joining_and_leaving(dask_cluster, dask_client, tmp_path):
    cluster, _ = dask_cluster
    executor = DaskExecutor(dask_client, trace_endpoint=None, prefetch=0)  # capacity = threads
    old_pids = set(dask_client.run(os.getpid).values())

    def started() -> int:
        return len(list(tmp_path.glob("*.started")))

    try:
        with TaskManager(max_workers=8, executor=executor) as tm:
            try:
                # Six tasks that run until released: four fill the two workers' threads, two wait.
                ids = [tm.submit(hold, (str(tmp_path), f"job{i}")) for i in range(6)]
                assert until(lambda: started() == 4, timeout=60)
                waiting = [t for t in ids if tm.get(t).status is TaskStatus.PENDING]
                assert len(waiting) == 2
                # A third worker joins. Nothing is submitted and nothing ends (the four are held),
                # yet the two waiting tasks start on it: the executor told the manager it grew.
                cluster.scale(3)
                assert until(lambda: started() == 6, timeout=60), [tm.get(t).status.value for t in ids]
                assert executor.capacity == 6
                assert all(tm.get(t).status is TaskStatus.RUNNING for t in ids)
            finally:
                (tmp_path / "release").write_text("go")
            assert not tm.wait(ids, timeout=60).not_done
            late_pids = {tm.result(t)[1] for t in waiting}
        new_pids = set(dask_client.run(os.getpid).values()) - old_pids
        assert len(new_pids) == 1 and late_pids == new_pids  # they ran on the worker that joined
    finally:
        cluster.scale(2)
    assert until(lambda: executor.capacity == 4, timeout=20)


def test_a_closure_over_an_unpicklable_object_is_named(tm):
    guard = threading.Lock()

    def guarded_lookup(query):
        with guard:
            return query

    with pytest.raises(InvalidArgumentError, match=r"fn\.<closure guard> \(lock\) inside fn \(function\)"):
        tm.submit(guarded_lookup, ("q",))


def test_an_asynchronous_client_is_refused_with_what_to_pass_instead():
    import asyncio

    from distributed import Client, LocalCluster

    async def build():
        async with LocalCluster(n_workers=1, processes=False, asynchronous=True, dashboard_address=":0") as c:
            async with Client(c, asynchronous=True) as client:
                with pytest.raises(InvalidArgumentError, match="synchronous distributed.Client.*scheduler address"):
                    DaskExecutor(client)

    asyncio.run(build())


def test_a_callable_checked_once_still_has_its_arguments_checked(tm):
    assert tm.result(tm.submit(whoami, (1,)), timeout=60)["x"] == 1  # whoami now known to travel
    with pytest.raises(InvalidArgumentError, match=r"cannot send args\[0\] \(lock\) to a Dask worker"):
        tm.submit(whoami, (threading.Lock(),))
    with pytest.raises(InvalidArgumentError, match=r"cannot send kwargs\['x'\] \(lock\)"):
        tm.submit(whoami, kwargs={"x": threading.Lock()})


def test_an_unhashable_callable_is_checked_every_time_and_runs(tm):
    assert tm.result(tm.submit(dask_jobs.Unhashable()), timeout=60) == "ran"
    assert tm.result(tm.submit(dask_jobs.Unhashable()), timeout=60) == "ran"


def test_messages_wait_in_the_cluster_bounded_per_task(dask_client):
    executor = DaskExecutor(dask_client, trace_endpoint=None)
    try:
        assert [executor.post_message("t9", f"m{i}", 2) for i in range(3)] == [1, 2, None]  # the third: full
        assert executor.post_message("t8", "other task", 2) == 1  # one queue per task
    finally:
        executor.shutdown()
