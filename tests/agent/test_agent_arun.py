"""``await agent.arun(task)``: the run does not block the caller's event loop; cancelling it stops the agent."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest
from agent_helpers import BlockingWait, slow_lookup
from smolagents import tool

from async_task_system import InvalidArgumentError, ShutdownError, TaskStatus, create_async_agent
from async_task_system.testing import ScriptedModel, message_text

CALLER: contextvars.ContextVar[str] = contextvars.ContextVar("caller", default="unset")
ticked_after_start = threading.Event()


def engine_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(("task-worker", "task-timer", "task-loop"))]


@tool
def needs_the_loop(ticks: int) -> str:
    """Return once the caller's event loop has ticked `ticks` more times: blocks forever on a blocked loop.

    Args:
        ticks: how many ticks to see
    """
    ticked_after_start.clear()
    return "the loop kept running" if ticked_after_start.wait(10) else "the loop was blocked"


@tool
def whose_context() -> str:
    """Return the caller's context variable as the task sees it."""
    return CALLER.get()


def test_arun_leaves_the_callers_loop_running_and_returns_the_answer(make_agent):
    agent = make_agent([
        "t = submit_task('tool', 'needs_the_loop', {'ticks': 3})\nprint(wait_for_tasks([t]))",
        "final_answer(get_task_results([t])[t])",
    ], tools=[needs_the_loop])
    ticks = 0

    async def ticker(stop: asyncio.Event) -> None:
        nonlocal ticks
        seen = 0
        while not stop.is_set():
            await asyncio.sleep(0.005)
            ticks += 1
            seen += 1
            if seen >= 3:
                ticked_after_start.set()
                seen = 0

    async def main() -> str:
        stop = asyncio.Event()
        background = asyncio.create_task(ticker(stop))
        try:
            return await agent.arun("Wait for the loop.")
        finally:
            stop.set()
            await background

    assert asyncio.run(main()) == "the loop kept running"
    assert ticks >= 3
    assert agent.last_run.final_answer == "the loop kept running" and agent.last_run.error is None


def test_arun_carries_the_callers_context_into_the_run_and_its_tasks(make_agent):
    agent = make_agent([
        "t = submit_task('tool', 'whose_context', {})\nprint(wait_for_tasks([t]))\ndirect = whose_context()",
        "final_answer([direct, get_task_results([t])[t]])",
    ], tools=[whose_context])

    async def main():
        CALLER.set("request-42")
        return await agent.arun("Whose context?")

    assert asyncio.run(main()) == ["request-42", "request-42"]


def test_arun_with_async_guidance_adds_the_guidance(make_agent):
    model = ScriptedModel(["final_answer('ok')"])
    agent = make_agent(model, tools=[slow_lookup])

    assert asyncio.run(agent.arun_with_async_guidance("Plan.")) == "ok"
    assert "## Background tasks" in message_text(model.received[0][0])
    assert "Background tasks:" not in (agent.agent.instructions or "")  # only for that run


def test_arun_raises_what_run_raises(make_agent):
    agent = make_agent(["final_answer(1)"])
    with pytest.raises(InvalidArgumentError, match="non-empty string"):
        asyncio.run(agent.arun("   "))


async def cancel_once_started(run_coroutine, started: threading.Event) -> None:
    """Await an arun in a task, cancel it once ``started`` is set, check it raises CancelledError."""
    run = asyncio.create_task(run_coroutine)
    while not started.is_set():
        await asyncio.sleep(0.01)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run


def test_cancelling_arun_interrupts_the_agent_and_cancels_its_tasks(make_agent):
    job = BlockingWait()
    model = ScriptedModel([
        "t = submit_task('tool', 'long_job', {'seconds': 60})\nprint(wait_for_tasks([t], max_wait_time=25))",
        "final_answer('should not get here')",
    ])
    agent = make_agent(model, tools=[job, slow_lookup], unfinished_tasks="keep")

    asyncio.run(cancel_once_started(agent.arun("Start a long job."), job.started))
    assert job.stopped_early.wait(10)
    info = agent.last_run.tasks[0]
    assert info.status is TaskStatus.CANCELLED and "cancelled by its caller" in info.reason
    assert "interrupted" in agent.last_run.error
    assert model.calls == 1  # no step after the cancellation


def test_the_agent_runs_again_after_a_cancelled_arun(make_agent):
    job = BlockingWait()
    model = ScriptedModel([
        "t = submit_task('tool', 'long_job', {'seconds': 60})\nprint(wait_for_tasks([t], max_wait_time=25))",
        "final_answer('the second run')",
    ])
    agent = make_agent(model, tools=[job])

    async def main():
        await cancel_once_started(agent.arun("First."), job.started)
        return await agent.arun("Second.")

    assert asyncio.run(main()) == "the second run"


def test_async_with_shuts_the_agent_down_and_leaves_no_worker_thread():
    @tool
    def quick(x: int) -> int:
        """Double x.

        Args:
            x: a number
        """
        return 2 * x

    async def main():
        async with create_async_agent(tools=[quick], model=ScriptedModel([
            "t = submit_task('tool', 'quick', {'x': 21})\nprint(wait_for_tasks([t]))",
            "final_answer(get_task_results([t])[t])",
        ]), verbosity_level=0) as agent:
            answer = await agent.arun("Double 21.")
        return agent, answer

    agent, answer = asyncio.run(main())
    assert answer == 42
    assert engine_threads() == []
    with pytest.raises(ShutdownError):
        agent.run("again")


def test_cancelling_arun_cancels_a_direct_async_tool_call_in_flight(make_agent):
    from async_task_system.agent import tool as async_tool

    started, stopped = threading.Event(), threading.Event()

    @async_tool
    async def hang(url: str) -> str:
        """Fetch a page that never answers.

        Args:
            url: the page
        """
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            stopped.set()
        return url

    agent = make_agent(["page = hang('http://x')", "final_answer(page)"], tools=[hang])

    asyncio.run(cancel_once_started(agent.arun("Fetch."), started))
    assert stopped.is_set()  # arun returned only after the coroutine's finally ran
    assert agent.agent.model.calls == 1
