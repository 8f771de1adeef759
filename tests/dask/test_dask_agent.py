"""An agent whose tool calls run on the Dask cluster: create_async_agent(..., executor=DaskExecutor(...))."""

from __future__ import annotations

import os

import pytest
from dask_jobs import where_am_i_tool

from async_task_system import InvalidArgumentError, TaskStatus, create_async_agent
from async_task_system.executors import DaskExecutor
from async_task_system.testing import ScriptedModel

pytestmark = pytest.mark.slow


def test_an_agents_tool_calls_run_in_worker_processes(dask_client):
    worker_pids = set(dask_client.run(os.getpid).values())
    model = ScriptedModel([
        'ids = [submit_task("tool", "where_am_i", {"label": f"job{i}"}) for i in range(4)]\n'
        "wait_for_tasks(ids)\n"
        "results = get_task_results(ids)\n"
        "print(results)",
        'final_answer("done")',
    ])
    with create_async_agent(tools=[where_am_i_tool()], model=model, max_workers=4,
                            executor=DaskExecutor(dask_client), verbosity_level=0) as agent:
        assert agent.run("Where do my tools run?") == "done"
        tasks = agent.task_manager.tasks()
    assert len(tasks) == 4
    assert all(t.status is TaskStatus.COMPLETED for t in tasks), [t.reason for t in tasks]
    assert sorted(t.result["label"] for t in tasks) == ["job0", "job1", "job2", "job3"]
    pids = {t.result["pid"] for t in tasks}
    assert os.getpid() not in pids and pids <= worker_pids


def test_an_unpicklable_tool_is_refused_when_the_agent_is_built(dask_client):
    from dask_jobs import locked_tool

    with pytest.raises(InvalidArgumentError) as err:
        create_async_agent(tools=[locked_tool()], model=ScriptedModel(['final_answer("never")']),
                           executor=DaskExecutor(dask_client), verbosity_level=0)
    message = str(err.value)
    assert "locked_lookup" in message and "does not pickle" in message
    assert "fn.guard (lock) inside fn (LockedLookup)" in message
