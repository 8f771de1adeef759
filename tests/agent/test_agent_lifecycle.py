"""AsyncAgent's life: guidance, run summaries, tasks left unwaited, shutdown, misuse."""

from __future__ import annotations

import threading
import time

import pytest
from agent_helpers import BlockingWait, slow_lookup
from smolagents import tool

from async_task_system import (
    InvalidArgumentError,
    ShutdownError,
    TaskStatus,
    create_async_agent,
)
from async_task_system.agent import GUIDANCE
from async_task_system.testing import ScriptedModel, ScriptExhaustedError

LEAVE_ONE_RUNNING = [
    "done = submit_task('tool', 'slow_lookup', {'key': 'a', 'delay': 0})\n"
    "left = submit_task('tool', 'long_job', {'seconds': 1.5})\n"
    "wait_for_tasks([done])",
    "final_answer(get_task_results([done])[done])",
]


def once_started(job: BlockingWait, replies: list[str]) -> ScriptedModel:
    """A model whose later replies come only once the long job runs (so it is running, not queued)."""
    def script(messages) -> str:
        index = len(model.received) - 1
        if index > 0:
            job.started.wait(10)
        return replies[index]

    model = ScriptedModel(script)
    return model


def test_by_default_tasks_left_unwaited_are_cancelled_and_the_summary_says_so(make_agent) -> None:
    job = BlockingWait()
    agent = make_agent(once_started(job, LEAVE_ONE_RUNNING), tools=[slow_lookup, job])

    assert agent.run("Start two, use one.") == "value-of-a"

    summary = agent.last_run
    assert summary.unfinished_at_end == ("t2",) and summary.unfinished_policy == "cancel"
    info = agent.task_manager.get("t2")
    assert info.status is TaskStatus.CANCELLED
    assert info.reason == "the agent's run ended before the task was collected"
    assert job.stopped_early.wait(5)
    assert "unfinished when the run ended (cancelled): t2" in summary.format()


def test_policy_wait_waits_for_them(make_agent) -> None:
    agent = make_agent(LEAVE_ONE_RUNNING, tools=[slow_lookup, BlockingWait()], unfinished_tasks="wait")
    agent.run("Start two, use one.")
    assert agent.task_manager.get("t2").status is TaskStatus.COMPLETED
    assert agent.last_run.unfinished_at_end == ("t2",)
    assert "unfinished when the run ended (waited for): t2" in agent.last_run.format()


def test_policy_keep_leaves_them_running_for_the_next_run(make_agent) -> None:
    replies = LEAVE_ONE_RUNNING + ["wait_for_tasks(['t2'])\nfinal_answer(get_task_results('t2')['t2'])"]
    agent = make_agent(replies, tools=[slow_lookup, BlockingWait()], unfinished_tasks="keep")
    agent.run("Start two, use one.")
    assert not agent.task_manager.get("t2").done
    assert agent.run("Collect the one left over.") == "ran to the end"
    assert agent.last_run.tasks == ()  # the second run submitted nothing itself


def test_shutdown_stops_everything_and_leaves_no_worker_thread(make_agent) -> None:
    job = BlockingWait()
    agent = make_agent(once_started(job, [
        "a = submit_task('tool', 'long_job', {'seconds': 60})\n"
        "b = submit_task('tool', 'long_job', {'seconds': 60})",
        "final_answer('left them running')",
    ]), tools=[job], unfinished_tasks="keep")
    agent.run("Start two long jobs.")
    assert any(t.name.startswith("task-worker") for t in threading.enumerate())

    start = time.monotonic()
    agent.shutdown()

    assert time.monotonic() - start < 10
    assert job.stopped_early.is_set()
    assert [i.status for i in agent.task_manager.tasks()] == [TaskStatus.CANCELLED] * 2
    leftover = [t.name for t in threading.enumerate() if t.name.startswith(("task-worker", "task-timer"))]
    assert leftover == []
    with pytest.raises(ShutdownError, match="shut down"):
        agent.run("Anything else?")
    agent.shutdown()  # idempotent


def test_shutdown_ends_a_sleep_in_the_model_code_at_once(make_agent) -> None:
    agent = make_agent(["print(sleep(25))\nfinal_answer('woke')"])
    runner = threading.Thread(target=agent.run, args=("Sleep.",))
    runner.start()
    time.sleep(0.3)
    agent.shutdown()
    runner.join(10)
    assert not runner.is_alive()
    assert agent.last_run.final_answer == "woke" and agent.last_run.wall_time < 10


def test_run_with_async_guidance_adds_the_guidance_for_that_run_only(make_agent) -> None:
    agent = make_agent(["final_answer(1)", "final_answer(2)"], instructions="Be brief.")
    model = agent.agent.model

    agent.run_with_async_guidance("First.")
    agent.run("Second.")

    first_prompt = model.received[0][0].content[0]["text"]
    second_prompt = model.received[1][0].content[0]["text"]
    assert "Be brief." in first_prompt and GUIDANCE.splitlines()[0] in first_prompt
    assert "Tasks still unfinished when you give your final answer are cancelled." in first_prompt
    assert "Be brief." in second_prompt and GUIDANCE.splitlines()[0] not in second_prompt
    assert agent.agent.instructions == "Be brief."
    # The seven tools are described to the model, with their examples.
    for name in ("submit_task", "wait_for_tasks", "sleep", "get_task_results", "check_task", "list_tasks",
                 "cancel_task"):
        assert f"def {name}(" in second_prompt


def test_the_summary_of_a_run_that_failed_keeps_its_error(make_agent) -> None:
    agent = make_agent(["t = submit_task('tool', 'slow_lookup', {'key': 'a', 'delay': 0})"])  # then runs dry
    with pytest.raises(Exception) as raised:
        agent.run("Run out of script.")
    assert isinstance(raised.value.__cause__, ScriptExhaustedError)
    summary = agent.last_run
    assert summary.error.startswith("AgentGenerationError") and len(summary.tasks) == 1
    assert summary.agent_usage.model_calls == 1


def test_one_run_at_a_time(make_agent) -> None:
    gate = threading.Event()

    @tool
    def hold() -> str:
        """Hold until released."""
        gate.wait(10)
        return "held"

    agent = make_agent(["hold()\nfinal_answer('ok')"], tools=[hold])
    runner = threading.Thread(target=agent.run, args=("Hold.",))
    runner.start()
    time.sleep(0.2)
    try:
        with pytest.raises(RuntimeError, match="already running a task; one run at a time"):
            agent.run("Meanwhile.")
    finally:
        gate.set()
        runner.join(10)
    assert agent.last_run.final_answer == "ok"


def test_misconfiguration_is_refused_with_what_would_work() -> None:
    with pytest.raises(InvalidArgumentError, match="model is required: e.g. smolagents.LiteLLMModel"):
        create_async_agent(tools=[slow_lookup])
    with pytest.raises(InvalidArgumentError, match="unfinished_tasks must be one of cancel, wait, keep"):
        create_async_agent(tools=[slow_lookup], model=ScriptedModel([]), unfinished_tasks="abandon")

    @tool
    def sleep(seconds: float) -> str:
        """A tool whose name clashes.

        Args:
            seconds: how long
        """
        return "zz"

    with pytest.raises(InvalidArgumentError, match=r"tool names \['sleep'\] are taken by the background-task tools"):
        create_async_agent(tools=[sleep], model=ScriptedModel([]))
    with pytest.raises(InvalidArgumentError, match="managed agents must be smolagents agents|managed_agents must be"):
        create_async_agent(managed_agents=["researcher"], model=ScriptedModel([]))


def test_a_task_that_is_not_text_is_refused_before_the_model_is_called(make_agent) -> None:
    agent = make_agent(["final_answer(1)"])
    with pytest.raises(InvalidArgumentError, match="task must be a non-empty string, got '  '"):
        agent.run("  ")
    with pytest.raises(InvalidArgumentError, match=r"unpaired surrogate '\\udbbd' at position 2"):
        agent.run("ok\udbbd")
    assert agent.agent.model.calls == 0
    assert agent.run("Now a real one.") == 1


def test_a_run_past_its_timeout_stops_waiting_is_interrupted_and_cancels_its_tasks(make_agent) -> None:
    from async_task_system import TaskTimeoutError

    job = BlockingWait()
    agent = make_agent([
        "t = submit_task('tool', 'long_job', {'seconds': 60})\n"
        "report = wait_for_tasks([t], max_wait_time=25)",  # cut short at the run's time limit
        "print('a step the run should never reach')",
    ], tools=[job])

    start = time.monotonic()
    with pytest.raises(TaskTimeoutError, match=r"the run took longer than its timeout of 0.5s and was interrupted "
                                               r"after step 1"):
        agent.run("Wait for the long job.", timeout=0.5)

    assert time.monotonic() - start < 10  # not the 25 s the model asked for
    assert agent.agent.model.calls == 1
    summary = agent.last_run
    assert summary.error.startswith("TaskTimeoutError") and summary.unfinished_at_end == ("t1",)
    assert job.stopped_early.wait(5)
    report = agent.agent.python_executor.state["report"]
    assert "Stopped at the run's time limit (you asked max_wait_time=25)" in report
    assert not agent.board.past_deadline()  # no deadline left over for the next run
    with pytest.raises(InvalidArgumentError, match="timeout must be a number of seconds > 0"):
        agent.run("Again.", timeout=0)
