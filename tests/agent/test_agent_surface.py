"""``AsyncAgent`` feels like the CodeAgent it wraps: memory, logs, replay, stream=True, return_full_result."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from smolagents.agents import RunResult
from smolagents.memory import ActionStep, AgentMemory, FinalAnswerStep, TaskStep
from smolagents.monitoring import AgentLogger, LogLevel

from async_task_system.errors import ShutdownError

FAN_OUT = ("ids = [submit_task('tool', 'slow_lookup', {'key': k, 'delay': 0.05}) for k in 'ab']\n"
           "print(wait_for_tasks(ids))\nresults = get_task_results(ids)")
ANSWER = "final_answer(results[ids[0]] + ' ' + results[ids[1]])"


def test_memory_and_logs_are_the_codeagents(make_agent):
    agent = make_agent([FAN_OUT, ANSWER])
    assert agent.run("look up a and b") == "value-of-a value-of-b"
    assert isinstance(agent.memory, AgentMemory) and agent.memory is agent.agent.memory
    assert agent.logs is agent.memory.steps
    assert [type(s).__name__ for s in agent.logs] == ["TaskStep", "ActionStep", "ActionStep"]
    assert isinstance(agent.logs[0], TaskStep) and agent.logs[0].task == "look up a and b"
    assert "value-of-a" in str(agent.memory.get_full_steps())


def test_replay_prints_the_run_as_codeagent_does(make_agent):
    out = io.StringIO()
    logger = AgentLogger(level=LogLevel.INFO, console=Console(file=out, width=100, color_system=None))
    agent = make_agent([FAN_OUT, ANSWER], logger=logger)
    agent.run("look up a and b")
    out.seek(0)
    out.truncate()
    agent.replay()
    replayed = out.getvalue()
    assert "look up a and b" in replayed and "submit_task('tool', 'slow_lookup'" in replayed
    assert "Step 1" in replayed and "Step 2" in replayed


def test_return_full_result_gives_smolagents_run_result(make_agent):
    agent = make_agent([FAN_OUT, ANSWER])
    result = agent.run("look up a and b", return_full_result=True)
    assert isinstance(result, RunResult) and result.output == "value-of-a value-of-b"
    assert result.state == "success" and result.token_usage.input_tokens > 0
    assert agent.last_run.final_answer == "value-of-a value-of-b" and len(agent.last_run.tasks) == 2


def test_stream_yields_the_steps_then_the_final_answer_and_fills_last_run(make_agent):
    agent = make_agent([FAN_OUT, ANSWER])
    stream = agent.run("look up a and b", stream=True)
    first = next(stream)
    assert isinstance(first, ActionStep) and first.step_number == 1
    assert "value-of-a" in first.observations  # a step arrives once it has ended
    rest = list(stream)
    assert [type(s) for s in rest] == [ActionStep, FinalAnswerStep]
    assert rest[-1].output == "value-of-a value-of-b"
    assert agent.last_run.final_answer == "value-of-a value-of-b"
    assert agent.last_run.status_counts() == {"completed": 2} and agent.last_run.steps == 2


def test_a_stream_closed_early_interrupts_the_run_and_frees_the_agent(make_agent):
    agent = make_agent([FAN_OUT, "print('still thinking')", "print('more')", ANSWER] + ["final_answer(1)"] * 3)
    stream = agent.run("look up a and b", stream=True)
    assert isinstance(next(stream), ActionStep)
    stream.close()  # the consumer stops: the agent is interrupted after its current step
    assert agent.last_run is not None and agent.last_run.error is not None
    assert "interrupted" in agent.last_run.error.lower()
    assert agent.run("one more", max_steps=1) is not None  # the run lock was released


def test_a_failing_streamed_run_raises_from_the_generator(make_agent):
    def down(messages):
        raise ConnectionError("the model API is down")

    agent = make_agent(down)
    stream = agent.run("look up a and b", stream=True, max_steps=1)
    with pytest.raises(Exception, match="the model API is down"):
        list(stream)
    assert agent.last_run is not None and "the model API is down" in agent.last_run.error
    assert agent.model is agent.agent.model


def test_stream_after_shutdown_is_refused_at_once(make_agent):
    agent = make_agent([ANSWER])
    agent.shutdown()
    with pytest.raises(ShutdownError):
        agent.run("x", stream=True)
