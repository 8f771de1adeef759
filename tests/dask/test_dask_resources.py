"""Worker resources on a heterogeneous process cluster: GPU calls go to the GPU worker, CPU calls flow.

The cluster: a LocalCluster of one CPU worker process (2 threads), plus a GPU worker started by a
test as a real ``dask worker --resources GPU=1`` process, and killed again.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from dask_jobs import local_client, stamp, until, where
from distributed import Client

from async_task_system import TaskManager, TaskStatus
from async_task_system.executors import DaskExecutor

pytestmark = pytest.mark.slow

@pytest.fixture(scope="module")
def cpu_cluster():
    with local_client(n_workers=1, threads=2) as cluster_and_client:
        yield cluster_and_client


class GpuWorker:
    """A ``dask worker`` process offering GPU=1, started and killed by the test."""

    def __init__(self, scheduler: str) -> None:
        self.proc = subprocess.Popen(
            [os.path.join(os.path.dirname(sys.executable), "dask"), "worker", scheduler, "--nthreads", "1",
             "--resources", "GPU=1", "--name", "gpu-worker", "--no-dashboard", "--no-nanny"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path])},
        )

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=30)


@pytest.fixture
def gpu_worker(cpu_cluster):
    cluster, client = cpu_cluster
    workers: list[GpuWorker] = []

    def start() -> str:
        worker = GpuWorker(cluster.scheduler_address)
        workers.append(worker)
        assert until(lambda: _gpu_address(client) is not None, timeout=60), "the GPU worker did not join"
        return _gpu_address(client)

    yield start
    for worker in workers:
        worker.kill()
    assert until(lambda: _gpu_address(client) is None, timeout=60)


def _gpu_address(client: Client) -> str | None:
    for address, info in client.scheduler_info(n_workers=-1)["workers"].items():
        if info.get("resources", {}).get("GPU"):
            return address
    return None


def test_gpu_calls_land_only_on_the_gpu_worker_while_cpu_calls_keep_flowing(cpu_cluster, gpu_worker):
    _, client = cpu_cluster
    gpu_address = gpu_worker()
    executor = DaskExecutor(client, trace_endpoint=None)
    assert until(lambda: executor.resources() == {"GPU": 1.0})
    with TaskManager(executor=executor, observers=[]) as tm:
        gpu_ids = [tm.submit(where, (f"g{i}", 0.4), resources={"GPU": 1}) for i in range(4)]
        cpu_ids = [tm.submit(where, (f"c{i}", 0.05)) for i in range(24)]
        assert not tm.wait(gpu_ids + cpu_ids, timeout=120).not_done
        gpu = sorted((tm.result(t) for t in gpu_ids), key=lambda r: r[2])
        cpu = [tm.result(t) for t in cpu_ids]
    assert {address for _, address, _, _ in gpu} == {gpu_address}
    for (_, _, _, end), (_, _, start, _) in zip(gpu, gpu[1:]):
        assert start >= end - 0.01  # GPU=1: one GPU call at a time
    # The CPU calls did not queue behind the GPU chain: most ran while it was still going.
    assert sum(end < gpu[-1][2] for _, _, _, end in cpu) >= len(cpu) // 2


def test_a_gpu_call_waits_with_a_reason_until_a_gpu_worker_joins(cpu_cluster, gpu_worker):
    _, client = cpu_cluster
    executor = DaskExecutor(client, trace_endpoint=None)
    assert until(lambda: executor.resources() == {})  # a GPU worker of an earlier test has left
    reason = "no worker offers GPU=1 (the workers offer no resources)"
    assert executor.missing({"GPU": 1}) == reason
    # The need comes from the task's name (a tool that always needs a GPU), not from this submit; it is
    # the first task of this manager: no attempt was ever handed to the executor before the worker joins.
    with TaskManager(executor=executor, observers=[], name_resources={"render": {"GPU": 1}}) as tm:
        gpu_id = tm.submit(where, ("g", 0.0), name="render")
        info = tm.get(gpu_id)
        assert info.status is TaskStatus.PENDING and info.waiting_reason == reason
        assert [e.reason for e in info.events if e.kind == "waiting_for_resources"] == [reason]
        assert tm.get_statistics()["resources"]["waiting"] == {"GPU": 1}
        # CPU calls run meanwhile: the waiting GPU call holds no slot.
        cpu_ids = [tm.submit(stamp, (f"c{i}", 0.0)) for i in range(20)]
        assert not tm.wait(cpu_ids, timeout=60).not_done
        assert tm.get(gpu_id).status is TaskStatus.PENDING
        gpu_address = gpu_worker()
        assert tm.result(gpu_id, timeout=60)[1] == gpu_address
        assert tm.get(gpu_id).waiting_reason is None
        assert [e.kind for e in tm.get(gpu_id).events].count("waiting_for_resources") == 1
        stats = tm.get_statistics()["resources"]
        assert stats["offered"] == {"GPU": 1.0} and stats["held"] == {} and stats["waiting"] == {}
        assert sorted(stats["workers"], key=len) == [{}, {"GPU": 1.0}]
        assert executor.missing({"GPU": 1}) is None
        assert executor.missing({"GPU": 2}) == "no worker offers GPU=2 (the workers offer GPU=1 in all)"


def test_priorities_hold_among_gpu_calls(cpu_cluster, gpu_worker, tmp_path):
    from dask_jobs import hold

    _, client = cpu_cluster
    gpu_address = gpu_worker()
    executor = DaskExecutor(client, trace_endpoint=None)
    assert until(lambda: executor.resources() == {"GPU": 1.0})
    with TaskManager(executor=executor, observers=[]) as tm:
        holder = tm.submit(hold, (str(tmp_path), "gpu"), resources={"GPU": 1})
        assert until(lambda: (tmp_path / "gpu.started").exists())
        ids = {p: tm.submit(where, (f"p{p}", 0.0), priority=p, resources={"GPU": 1}) for p in (1, 7, 3, 5)}
        cpu = [tm.submit(stamp, (f"c{i}", 0.0)) for i in range(8)]
        assert not tm.wait(cpu, timeout=60).not_done  # CPU calls do not wait behind the held GPU
        assert {tm.get(t).status for t in ids.values()} == {TaskStatus.PENDING}
        assert tm.get(ids[7]).waiting_reason == "waiting for GPU=1, held by running tasks"
        assert tm.get_statistics()["resources"]["held"] == {"GPU": 1.0}
        (tmp_path / "release").write_text("go")
        assert tm.result(holder, timeout=60)[0] == "gpu"
        results = [tm.result(ids[p], timeout=60) for p in (7, 5, 3, 1)]
    assert {address for _, address, _, _ in results} == {gpu_address}
    starts = [start for _, _, start, _ in results]
    assert starts == sorted(starts)  # 7, 5, 3, 1: one at a time, best priority first


def test_the_view_follows_a_gpu_worker_that_is_killed(cpu_cluster):
    cluster, client = cpu_cluster
    executor = DaskExecutor(client, trace_endpoint=None)
    worker = GpuWorker(cluster.scheduler_address)
    try:
        assert until(lambda: executor.resources() == {"GPU": 1.0}, timeout=60)
        names = sorted(w.name for w in executor.workers().values())
        assert "gpu-worker" in names and len(names) == 2
        status = executor.cluster_status()
        assert status["threads"] == 3 and status["resources"] == {"GPU": 1.0}
        assert {w["name"]: w["resources"] for w in status["workers"]}["gpu-worker"] == {"GPU": 1.0}
        assert "gpu-worker: 0/1 threads, GPU=1" in executor.describe()
    finally:
        worker.kill()  # kill -9: no goodbye, the scheduler notices the lost connection
    assert until(lambda: executor.resources() == {}, timeout=60)
    assert len(executor.workers()) == 1


def test_the_cluster_status_shows_where_attempts_run(cpu_cluster, tmp_path):
    from dask_jobs import hold

    _, client = cpu_cluster
    executor = DaskExecutor(client, trace_endpoint=None)
    with TaskManager(max_workers=64, executor=executor, observers=[]) as tm:
        ids = [tm.submit(hold, (str(tmp_path), f"h{i}")) for i in range(3)]
        try:
            assert until(lambda: len(list(tmp_path.glob("*.started"))) == 2)
            assert until(lambda: executor.cluster_status()["running"] == 2)
            status = executor.cluster_status()
            assert [w["running"] for w in status["workers"]] == [2]
            assert status["queued"] == 1  # the third waits in the worker's queue (the prefetch window)
            assert "2/2 threads" in executor.describe() and "queued=1" in executor.describe()
        finally:
            (tmp_path / "release").write_text("go")
        assert not tm.wait(ids, timeout=60).not_done


def test_an_agent_given_an_executor_but_no_max_workers_fills_the_executors_capacity(cpu_cluster):
    from async_task_system import create_async_agent
    from async_task_system.testing import ScriptedModel

    _, client = cpu_cluster
    executor = DaskExecutor(client, trace_endpoint=None, min_capacity=10)
    with create_async_agent(model=ScriptedModel(['final_answer("done")']), executor=executor,
                            verbosity_level=0) as agent:
        stats = agent.task_manager.get_statistics()
        assert stats["max_workers"] == executor.capacity == 10  # not the 4 threads of an agent of its own
    with create_async_agent(model=ScriptedModel(['final_answer("done")']), executor=executor, max_workers=3,
                            verbosity_level=0) as capped:
        assert capped.task_manager.get_statistics()["max_workers"] == 3
    with create_async_agent(model=ScriptedModel(['final_answer("done")']), verbosity_level=0) as local:
        assert local.task_manager.max_workers == 4
