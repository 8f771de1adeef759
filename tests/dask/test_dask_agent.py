"""An agent whose tool calls run on the Dask cluster: create_async_agent(..., executor=DaskExecutor(...))."""

from __future__ import annotations

import functools
import importlib
import os
import re
import time

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


FAN_OUT_TWO = (
    "ids = [submit_task('agent', 'squarer', {'task': f'compute the square of {n}'}) for n in (6, 7)]\n"
    "print(wait_for_tasks(ids, max_wait_time=25))\n"
    "answers = get_task_results(ids)\n"
    "print(answers)"
)


def test_the_same_managed_agent_runs_twice_at_once_in_worker_processes(dask_client):
    from dask_jobs import make_squarer

    worker_pids = set(dask_client.run(os.getpid).values())
    dask_client.run(importlib.import_module, "async_task_system.testing")  # smolagents imported before the clock
    model = ScriptedModel([FAN_OUT_TWO, "final_answer([answers[i] for i in ids])"], token_usage=(100, 10))
    with create_async_agent(managed_agents=[make_squarer], model=model, max_workers=4,
                            executor=DaskExecutor(dask_client), verbosity_level=0) as agent:
        answers = agent.run("Square 6 and 7 with your team member.")
        summary = agent.last_run

    assert all(a.startswith("Here is the final answer from your managed agent 'squarer'") for a in answers), answers
    found = [re.search(r"(\d+) \(process (\d+)\)", a).groups() for a in answers]
    assert [value for value, _ in found] == ["36", "49"]
    pids = {int(pid) for _, pid in found}
    assert os.getpid() not in pids and pids <= worker_pids
    infos = summary.tasks
    assert [i.status for i in infos] == [TaskStatus.COMPLETED] * 2
    assert all(i.started_at < min(j.finished_at for j in infos) for i in infos), "the two runs did not overlap"
    # Tokens counted on the workers came home: 2 sub-agents x 2 model calls of (50 in, 5 out).
    assert summary.sub_agent_usage.model_calls == 4
    assert (summary.sub_agent_usage.input_tokens, summary.sub_agent_usage.output_tokens) == (200, 20)
    assert summary.agent_usage.model_calls == 2
    assert (summary.input_tokens, summary.output_tokens) == (2 * 100 + 200, 2 * 10 + 20)


def test_a_managed_agent_given_as_an_instance_is_refused_with_the_fix(dask_client):
    from dask_jobs import make_squarer

    executor = DaskExecutor(dask_client)
    try:
        with pytest.raises(InvalidArgumentError) as err:
            create_async_agent(managed_agents=[make_squarer()], model=ScriptedModel([]), executor=executor,
                               verbosity_level=0)
    finally:
        executor.shutdown()
    message = str(err.value)
    assert message.startswith("agent 'squarer' cannot run on DaskExecutor")
    assert "was given as an agent instance, which cannot travel to another process" in message
    assert "pass a zero-argument factory that builds the agent, e.g. managed_agents=[make_squarer]" in message


def test_a_managed_agent_instance_is_refused_at_submit_too(dask_client):
    from dask_jobs import make_squarer

    from async_task_system import TaskManager
    from async_task_system.agent import TaskRegistry

    run = TaskRegistry(managed_agents=[make_squarer()]).callable_for("squarer")
    with TaskManager(max_workers=2, executor=DaskExecutor(dask_client)) as tm:
        with pytest.raises(InvalidArgumentError, match=r"pass a zero-argument factory .* managed_agents=\[make_squarer\]"):
            tm.submit(run, kwargs={"task": "compute the square of 3"})
        assert tm.tasks() == []  # nothing was queued


def test_a_timed_out_managed_agent_on_a_worker_is_interrupted(dask_client, tmp_path):
    from dask_jobs import make_looper

    def calls() -> int:
        return len(list(tmp_path.glob("*.call")))

    model = ScriptedModel([
        "t = submit_task('agent', 'looper', {'task': 'work forever'}, timeout=2)\n"
        "print(wait_for_tasks([t], max_wait_time=20))",
        "final_answer('gave up')",
    ])
    with create_async_agent(managed_agents=[functools.partial(make_looper, str(tmp_path))], model=model,
                            executor=DaskExecutor(dask_client), verbosity_level=0) as agent:
        assert agent.run("Let the looper try for two seconds.") == "gave up"
        assert agent.task_manager.get("t1").status is TaskStatus.TIMEOUT
        # The token fired on the worker and interrupted the sub-agent: its model calls stop.
        deadline = time.monotonic() + 20
        while True:
            before = calls()
            time.sleep(1.0)
            if calls() == before or time.monotonic() > deadline:
                break
        assert calls() == before, "the sub-agent kept calling its model after its task timed out"
    assert 0 < calls() < 200  # it stopped within a step or two, not at max_steps
    pids = {int(p.read_text()) for p in tmp_path.glob("*.call")}
    assert os.getpid() not in pids


def test_a_failing_managed_agent_on_a_worker_reports_its_error(dask_client):
    from dask_jobs import make_broken_agent

    model = ScriptedModel([
        "t = submit_task('agent', 'broken', {'task': 'try'})\n"
        "print(wait_for_tasks([t], max_wait_time=20))",
        "final_answer('noted')",
    ])
    with create_async_agent(managed_agents=[make_broken_agent], model=model, executor=DaskExecutor(dask_client),
                            verbosity_level=0) as agent:
        assert agent.run("Ask the broken agent.") == "noted"
        info = agent.task_manager.get("t1")
    assert info.status is TaskStatus.FAILED
    assert info.error.type == "SubAgentError"
    assert info.error.message.startswith("AgentGenerationError: Error in generating model output")
    assert "the model API is down" in info.error.message


def test_a_sub_agent_on_a_worker_changes_its_answer_when_a_message_arrives(dask_client, tmp_path):
    from dask_jobs import make_listener, until

    model = ScriptedModel([
        "t = submit_task('agent', 'listener', {'task': 'work on it'})\nprint(t)",
        "print(wait_for_tasks([t], max_wait_time=60))\nr = get_task_results([t])[t]",
        "final_answer(r)",
    ])
    with create_async_agent(managed_agents=[functools.partial(make_listener, str(tmp_path))], model=model,
                            executor=DaskExecutor(dask_client, trace_endpoint=None), verbosity_level=0) as agent:
        import threading

        result: dict = {}
        runner = threading.Thread(target=lambda: result.setdefault("answer", agent.run("steer the listener")))
        runner.start()
        assert until(lambda: any(tmp_path.glob("*.step")), timeout=60)  # it is running on a worker
        task_id = agent.task_manager.tasks()[0].id
        reply = agent.send_message(task_id, "use 2024 figures")
        runner.join(60)
        events = agent.task_manager.get(task_id).events
    assert "Message queued for" in reply and "next step" in reply
    answer = str(result["answer"])
    assert "changed my answer: use 2024 figures (process " in answer
    assert int(re.search(r"process (\d+)", answer).group(1)) != os.getpid()
    assert [e.reason for e in events if e.kind == "message"] == ["use 2024 figures"]


def test_a_message_sent_before_the_sub_agent_starts_on_a_worker_waits_for_it(dask_client, tmp_path):
    from dask_jobs import make_listener

    model = ScriptedModel([
        "t = submit_task('agent', 'listener', {'task': 'work on it'})\nprint(send_message(t, 'start with B'))\n"
        "print(wait_for_tasks([t], max_wait_time=60))\nr = get_task_results([t])[t]",
        "final_answer(r)",
    ])
    with create_async_agent(managed_agents=[functools.partial(make_listener, str(tmp_path))], model=model,
                            executor=DaskExecutor(dask_client, trace_endpoint=None), verbosity_level=0) as agent:
        assert "changed my answer: start with B" in str(agent.run("steer it early"))
