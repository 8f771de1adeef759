"""Coroutine tasks on a DaskExecutor run on the workers' event loops, and are cancelled there for real."""

from __future__ import annotations

import os
import threading

import pytest
from dask_jobs import add, double_async, flaky_async, hang_async, raise_base, raise_base_async, until, \
    wait_for_file, where_async, whoami

from async_task_system import InvalidArgumentError, ResultOf, TaskManager, TaskStatus
from async_task_system.executors import DaskExecutor

pytestmark = pytest.mark.slow


@pytest.fixture
def tm(dask_client):
    with TaskManager(executor=DaskExecutor(dask_client, trace_endpoint=None)) as manager:
        yield manager


def test_a_coroutine_task_runs_on_a_workers_event_loop(tm, dask_client):
    workers = dask_client.scheduler_info(n_workers=-1)["workers"]
    loop_threads = dask_client.run(lambda: threading.current_thread().name)  # Client.run: on the worker's loop
    tid = tm.submit(where_async, (7,))
    seen = tm.result(tid, timeout=60)
    assert seen["x"] == 7 and seen["task_id"] == tid
    assert seen["worker"] in workers and seen["pid"] != os.getpid()
    assert seen["on_worker_loop"] is True
    assert seen["thread"] == loop_threads[seen["worker"]]


def test_cancel_reaches_the_coroutine_on_its_worker(tm, tmp_path):
    tid = tm.submit(hang_async, (str(tmp_path), "c"))
    wait_for_file(tmp_path / "c.started")
    assert tm.cancel(tid)
    assert tm.get(tid).status is TaskStatus.CANCELLED
    assert wait_for_file(tmp_path / "c.finally") == "CancelledError True"  # it saw CancelledError, its finally ran
    assert _until_event(tm, tid, "coroutine_stopped")


def test_a_timeout_cancels_the_coroutine_on_its_worker(tm, tmp_path):
    tid = tm.submit(hang_async, (str(tmp_path), "t"), timeout=0.5)
    tm.wait(tid, timeout=60)
    assert tm.get(tid).status is TaskStatus.TIMEOUT
    assert wait_for_file(tmp_path / "t.finally") == "CancelledError True"
    assert _until_event(tm, tid, "coroutine_stopped")


def test_thread_and_coroutine_tasks_on_dask_depend_on_each_other(tm):
    t1 = tm.submit(add, (20, 1))                       # a thread of a worker
    t2 = tm.submit(double_async, (ResultOf(t1),))      # a worker's event loop
    t3 = tm.submit(whoami, (ResultOf(t2),))            # a thread again, given the coroutine's result
    t4 = tm.submit(where_async, (ResultOf(t3),))
    last = tm.result(t4, timeout=60)
    assert last["x"]["x"] == 42 and last["x"]["pid"] != os.getpid()
    assert last["on_worker_loop"] is True


def test_a_failing_coroutine_is_retried_on_dask(tm):
    tid = tm.submit(flaky_async, (2,), max_retries=2, backoff=lambda attempt: 0.0)
    assert tm.result(tid, timeout=60) == 3
    assert tm.get(tid).attempts == 3
    failed = tm.submit(flaky_async, (5,), max_retries=1, backoff=lambda attempt: 0.0)
    tm.wait(failed, timeout=60)
    info = tm.get(failed)
    assert info.status is TaskStatus.FAILED and "attempt 2 fails on purpose" in info.error.message


def test_many_coroutines_at_once(tm):
    ids = [tm.submit(double_async, (i,)) for i in range(100)]
    assert not tm.wait(ids, timeout=120).not_done
    assert [tm.result(i) for i in ids] == [2 * i for i in range(100)]


@pytest.mark.parametrize("fn", [raise_base_async, raise_base], ids=["coroutine", "thread"])
@pytest.mark.parametrize("kind", ["exit", "interrupt", "generator"])
def test_a_task_raising_a_base_exception_fails_and_leaves_its_worker_alive(tm, dask_client, fn, kind):
    before = set(dask_client.scheduler_info(n_workers=-1)["workers"])
    tid = tm.submit(fn, (kind,))
    tm.wait(tid, timeout=60)
    info = tm.get(tid)
    assert info.status is TaskStatus.FAILED
    assert info.error.type in ("SystemExit", "KeyboardInterrupt", "GeneratorExit")
    assert tm.result(tm.submit(where_async), timeout=60)["worker"] in before
    # No worker died or restarted (a restarted one comes back at another address).
    assert until(lambda: set(dask_client.scheduler_info(n_workers=-1)["workers"]) == before, timeout=10)


def test_a_coroutine_that_does_not_pickle_is_refused_at_submit(tm):
    lock = threading.Lock()

    async def guarded() -> int:
        with lock:
            return 1

    with pytest.raises(InvalidArgumentError, match="cannot send .* to a Dask worker"):
        tm.submit(guarded)


def test_an_agent_on_dask_refuses_an_unpicklable_async_tool_when_built(dask_client):
    from async_task_system import create_async_agent
    from async_task_system.agent import tool
    from async_task_system.testing import ScriptedModel

    lock = threading.Lock()  # does not pickle: the tool could not travel to a worker

    @tool
    async def guarded(x: int) -> int:
        """Double x under a lock.

        Args:
            x: a number
        """
        with lock:
            return 2 * x

    with pytest.raises(InvalidArgumentError, match="'guarded' cannot run on DaskExecutor"):
        create_async_agent(tools=[guarded], model=ScriptedModel(["final_answer(1)"]), verbosity_level=0,
                           executor=DaskExecutor(dask_client, trace_endpoint=None))


def _until_event(tm: TaskManager, tid: str, kind: str) -> bool:
    return until(lambda: any(e.kind == kind for e in tm.get(tid).events), timeout=30)
