"""Coroutine tasks beside a DaskExecutor: until the Dask wrapper runs coroutines on the workers' loops
(it declares ``runs_coroutines``), they run on the manager's own loop, mixed with Dask tasks."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest
from dask_jobs import add, whoami

from async_task_system import ResultOf, TaskManager, TaskStatus
from async_task_system.executors import DaskExecutor

pytestmark = pytest.mark.slow


async def local_double(x):
    await asyncio.sleep(0)
    return 2 * x, os.getpid(), threading.current_thread().name


async def hang(stopped: list):
    try:
        await asyncio.Event().wait()
    finally:
        stopped.append("finally ran")


def test_coroutine_and_dask_tasks_depend_on_each_other(dask_client):
    with TaskManager(executor=DaskExecutor(dask_client, trace_endpoint=None)) as tm:
        t1 = tm.submit(add, (20, 1))                    # on a Dask worker
        t2 = tm.submit(local_double, (ResultOf(t1),))  # coroutine, on the manager's loop
        t3 = tm.submit(whoami, (ResultOf(t2),))  # on a Dask worker, gets the coroutine's result
        assert tm.result(t2, timeout=60) == (42, os.getpid(), "task-loop")
        remote = tm.result(t3, timeout=60)
    assert tuple(remote["x"]) == (42, os.getpid(), "task-loop")
    assert remote["pid"] != os.getpid()


def test_a_coroutine_task_beside_dask_is_cancelled_for_real(dask_client):
    stopped: list[str] = []
    with TaskManager(executor=DaskExecutor(dask_client, trace_endpoint=None)) as tm:
        tid = tm.submit(hang, (stopped,), timeout=0.2)
        tm.wait(tid, timeout=30)
        assert tm.get(tid).status is TaskStatus.TIMEOUT
    assert stopped == ["finally ran"]


def test_an_agent_on_dask_runs_an_unpicklable_async_tool_on_its_own_loop(dask_client):
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

    model = ScriptedModel([
        "t = submit_task('tool', 'guarded', {'x': 21})\nprint(wait_for_tasks([t]))",
        "final_answer([get_task_results([t])[t], guarded(x=1)])",
    ])
    with create_async_agent(tools=[guarded], model=model, verbosity_level=0,
                            executor=DaskExecutor(dask_client, trace_endpoint=None)) as agent:
        assert agent.run("Double 21.") == [42, 2]
