"""An AsyncAgent whose tasks run on a Dask cluster (DaskExecutor plugs into create_async_agent)."""

from __future__ import annotations

import pytest
from agent_helpers import slow_lookup
from smolagents import CodeAgent

from async_task_system.testing import ScriptedModel

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=1, threads_per_worker=4, processes=False, dashboard_address=":0") as c:
        yield c


@pytest.mark.slow
def test_tool_tasks_run_on_the_cluster(make_agent, cluster) -> None:
    from async_task_system.executors import DaskExecutor

    agent = make_agent([
        "ids = [submit_task('tool', 'slow_lookup', {'key': k, 'delay': 0.1}) for k in 'ab']\n"
        "print(wait_for_tasks(ids, max_wait_time=20))\n"
        "final_answer(get_task_results(ids))",
    ], tools=[slow_lookup], executor=DaskExecutor(cluster.scheduler_address))

    assert agent.run("Look up a and b on the cluster.") == {"t1": "value-of-a", "t2": "value-of-b"}
    assert "DaskExecutor" in repr(agent.task_manager)
    assert [info.status.value for info in agent.last_run.tasks] == ["completed", "completed"]


@pytest.mark.slow
def test_a_managed_agent_that_cannot_travel_is_refused_when_the_agent_is_built(cluster) -> None:
    from async_task_system import InvalidArgumentError, create_async_agent
    from async_task_system.executors import DaskExecutor

    helper = CodeAgent(tools=[], model=ScriptedModel(["final_answer(1)"]), name="helper", description="Helps.",
                       verbosity_level=-1)
    executor = DaskExecutor(cluster.scheduler_address)
    try:
        with pytest.raises(InvalidArgumentError, match=r"agent 'helper' cannot run on DaskExecutor.*does not pickle.*"
                                                       r"pass a zero-argument factory .* managed_agents=\[make_helper\]"):
            create_async_agent(tools=[slow_lookup], managed_agents=[helper], model=ScriptedModel([]),
                               executor=executor)
    finally:
        executor.shutdown()


@pytest.mark.slow
def test_placeholders_resolved_by_the_agent_layer_travel_to_the_cluster(make_agent, cluster) -> None:
    from async_task_system.executors import DaskExecutor

    agent = make_agent([
        "a = submit_task('tool', 'slow_lookup', {'key': 'a', 'delay': 0})\n"
        "b = submit_task('tool', 'slow_lookup', {'key': f'after ${a}', 'delay': 0})\n"
        "c = submit_task('tool', 'slow_lookup', {'key': 'k', 'delay': '$' + a})\n"
        "wait_for_tasks()\nres = get_task_results()\nfinal_answer([res[b], res[c].error])",
    ], tools=[slow_lookup], executor=DaskExecutor(cluster.scheduler_address))

    text, error = agent.run("Chain two lookups on the cluster.")
    assert text == "value-of-after value-of-a"
    assert "'$t1' (the result of t1) does not fit: argument 'delay' of slow_lookup must be number" in error


def make_coordinator():
    """A nested coordinator for the cluster: built there, from this zero-argument factory."""
    from async_task_system import create_async_agent

    return create_async_agent(
        tools=[slow_lookup], name="coordinator", description="Looks two keys up in the background.",
        model=ScriptedModel(["a = submit_task('tool', 'slow_lookup', {'key': 'x', 'delay': 0})\n"
                             "b = submit_task('tool', 'slow_lookup', {'key': f'${a}', 'delay': 0})\n"
                             "wait_for_tasks()\nfinal_answer(get_task_results()[b])"] * 4),
        verbosity_level=0)


@pytest.mark.slow
def test_a_factory_of_nested_coordinators_runs_on_the_cluster(make_agent, cluster) -> None:
    from async_task_system.executors import DaskExecutor

    agent = make_agent([
        "ids = [submit_task('agent', 'coordinator', {'task': 'go'}) for _ in range(2)]\n"
        "wait_for_tasks(ids, max_wait_time=20)\nres = get_task_results(ids)\nfinal_answer([res[i] for i in ids])",
    ], tools=[], managed_agents=[make_coordinator], executor=DaskExecutor(cluster.scheduler_address))

    answers = agent.run("Run two coordinators on the cluster.")
    assert [a.splitlines()[-1] for a in answers] == ["value-of-value-of-x"] * 2
    assert agent.last_run.sub_agent_usage.model_calls == 2  # counted there, added here


def make_slow_worker():
    """A sub-agent for the cluster that works three slow steps, then answers."""
    from async_task_system.testing import ScriptedModel as Scripted

    def script(messages) -> str:
        return "final_answer('done')" if len(messages) > 6 else "import time\ntime.sleep(0.3)"

    return CodeAgent(tools=[], model=Scripted(script), name="worker", description="Works slowly.",
                     verbosity_level=0, additional_authorized_imports=["time"])


@pytest.mark.slow
def test_a_message_to_an_agent_on_a_dask_worker_is_queued_for_it(make_agent, cluster) -> None:
    from async_task_system.executors import DaskExecutor

    agent = make_agent(["t = submit_task('agent', 'worker', {'task': 'work'})\nimport time\n"
                        "while 'running' not in check_task(t):\n    time.sleep(0.02)\n"
                        "send_message(t, 'hurry')", "final_answer('ok')"],
                       tools=[], managed_agents=[make_slow_worker], executor=DaskExecutor(cluster.scheduler_address),
                       additional_authorized_imports=["time"])
    agent.run("talk to the worker on the cluster")
    told = agent.model.received[1][-1].content[0]["text"]
    assert "Message queued for t1 (worker); it reads it at the start of its next step" in told
