"""Managed agents as tasks: one instance per task, interrupted on cancel/timeout, usage counted."""

from __future__ import annotations

import re
import threading
import time

from agent_helpers import observations
from smolagents import CodeAgent

from async_task_system import TaskStatus
from async_task_system.testing import ScriptedModel, task_text


def squarer_script(messages) -> str:
    """A sub-agent that reads its number from its task, thinks for a step, then answers."""
    n = int(re.search(r"square of (\d+)", task_text(messages)).group(1))
    if len(messages) <= 3:  # first step: system prompt + task (+ nothing yet)
        return f"import time\ntime.sleep(0.2)\nvalue = {n} * {n}\nprint(value)"
    return "final_answer(value)"


def make_squarer(**kwargs) -> CodeAgent:
    model = kwargs.pop("model", None) or ScriptedModel(squarer_script, token_usage=(50, 5))
    return CodeAgent(tools=[], model=model, name="squarer", description="Squares the number in its task.",
                     verbosity_level=0, additional_authorized_imports=["time"], **kwargs)


FAN_OUT_FOUR = (
    "ids = [submit_task('agent', 'squarer', {'task': f'compute the square of {n}'}) for n in (2, 3, 4, 5)]\n"
    "print(wait_for_tasks(ids, max_wait_time=25))\n"
    "answers = get_task_results(ids)"
)


def test_the_same_managed_agent_four_times_at_once_gives_four_distinct_correct_answers(make_agent) -> None:
    squarer = make_squarer()
    agent = make_agent([FAN_OUT_FOUR, "final_answer([answers[i] for i in ids])"], tools=[],
                       managed_agents=[squarer], model_kwargs={"token_usage": (100, 10)})

    answers = agent.run("Square 2, 3, 4 and 5 with your team member.")

    finals = [a.rsplit(":", 1)[1].strip() for a in answers]
    assert finals == ["4", "9", "16", "25"]
    assert all(a.startswith("Here is the final answer from your managed agent 'squarer'") for a in answers)
    infos = agent.last_run.tasks
    assert all(i.metadata == {"task_type": "agent", "tool": "squarer"} for i in infos)
    first_end = min(i.finished_at for i in infos)
    assert all(i.started_at < first_end for i in infos), "the four runs did not overlap"
    # The template itself never ran: each task had its own copy.
    assert squarer.memory.steps == []
    # 2 calls of the main model + 4 sub-agents x 2 steps, with their tokens.
    summary = agent.last_run
    assert summary.agent_usage.model_calls == 2 and summary.sub_agent_usage.model_calls == 8
    assert summary.sub_agent_usage.input_tokens == 8 * 50 and summary.sub_agent_usage.output_tokens == 8 * 5
    assert summary.input_tokens == 2 * 100 + 8 * 50


def test_a_factory_gives_each_agent_task_a_new_instance(make_agent) -> None:
    made: list[CodeAgent] = []

    def factory() -> CodeAgent:
        made.append(make_squarer())
        return made[-1]

    agent = make_agent([FAN_OUT_FOUR, "final_answer(sorted(a.rsplit(':', 1)[1].strip() for a in answers.values()))"],
                       tools=[], managed_agents=[factory])

    assert agent.run("Square four numbers.") == sorted(["4", "9", "16", "25"])
    assert len(made) == 1 + 4  # one template for the prompt, one per task
    assert len({id(a) for a in made}) == 5


def looping_sub_agent(calls: list[float]) -> CodeAgent:
    def script(messages) -> str:
        calls.append(time.monotonic())
        return "x = 1"  # never answers: only an interrupt (or max_steps) stops it

    model = ScriptedModel(script, delay=0.05, token_usage=(7, 3))
    return CodeAgent(tools=[], model=model, name="looper", description="Works until stopped.", verbosity_level=-1,
                     max_steps=10_000)


def settled(calls: list[float], quiet: float = 0.4, limit: float = 10.0) -> bool:
    """True once no new model call has happened for ``quiet`` seconds."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        count = len(calls)
        time.sleep(quiet)
        if len(calls) == count:
            return True
    return False


def test_an_agent_task_that_times_out_is_interrupted_and_stops_calling_its_model(make_agent) -> None:
    calls: list[float] = []
    agent = make_agent([
        "t = submit_task('agent', 'looper', {'task': 'work forever'}, timeout=0.5)\n"
        "print(wait_for_tasks([t], max_wait_time=10))\n"
        "print(check_task(t))",
        "final_answer('gave up')",
    ], tools=[], managed_agents=[looping_sub_agent(calls)])

    agent.run("Let the looper try for half a second.")

    seen = observations(agent)[0]
    assert "timeout (1): t1 looper: attempt 1 ran longer than its timeout of 0.5s" in seen
    assert agent.task_manager.get("t1").status is TaskStatus.TIMEOUT
    assert settled(calls), "the sub-agent kept calling its model after its task timed out"
    stats = agent.task_manager.get_statistics()
    assert stats["abandoned_threads"] == 0 and stats["late_results_discarded"] == 1
    assert len(calls) < 100  # it stopped within a step or two of the timeout, not at max_steps
    # Its calls up to the interrupt are counted in the run's totals.
    assert agent.last_run.sub_agent_usage.model_calls >= 1
    assert agent.last_run.sub_agent_usage.input_tokens == 7 * agent.last_run.sub_agent_usage.model_calls


def test_cancelling_an_agent_task_interrupts_the_running_sub_agent(make_agent) -> None:
    calls: list[float] = []
    replies = ["t = submit_task('agent', 'looper', {'task': 'work forever'})", "print(cancel_task(t))",
               "final_answer('stopped it')"]

    def script(messages) -> str:  # cancels once the sub-agent has called its model twice
        index = len(main.received) - 1
        deadline = time.monotonic() + 10
        while index == 1 and len(calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        return replies[index]

    main = ScriptedModel(script)
    agent = make_agent(main, tools=[], managed_agents=[looping_sub_agent(calls)])

    agent.run("Start the looper, then stop it.")

    assert "Cancelled t1 (it was running)." in observations(agent)[1]
    assert calls, "the sub-agent never started"
    assert settled(calls), "the sub-agent kept calling its model after its task was cancelled"
    assert agent.task_manager.get_statistics()["abandoned_threads"] == 0


def test_sub_agent_progress_shows_in_check_task(make_agent) -> None:
    gate = threading.Event()

    def sub_script(messages) -> str:
        if len(messages) <= 3:
            return "x = 1"  # step 1 at once
        gate.wait(10)  # step 2 only once the main model has looked
        return "final_answer('ok')"

    stepper = CodeAgent(tools=[], model=ScriptedModel(sub_script), name="stepper", description="Takes two steps.",
                        verbosity_level=-1)
    replies = [
        "t = submit_task('agent', 'stepper', {'task': 'go'})\n"
        "print(wait_for_tasks([t], max_wait_time=0.5))",
        "print(check_task(t))",
        "wait_for_tasks([t], max_wait_time=10)\nfinal_answer(get_task_results([t])[t])",
    ]
    main = ScriptedModel(lambda messages: replies[len(main.received) - 1] if len(main.received) < 3
                         else (gate.set(), replies[2])[1])
    agent = make_agent(main, tools=[], managed_agents=[stepper])

    try:
        answer = agent.run("Run the stepper.")
    finally:
        gate.set()
    assert answer.endswith("ok")
    seen = observations(agent)
    assert "0 finished, 1 unfinished" in seen[0]
    assert "t1 (agent stepper): running for" in seen[1]
    assert "progress: stepper finished step 1 of at most 20" in seen[1]


def test_a_finished_sub_agent_instance_is_not_kept_alive_by_its_task_record(make_agent) -> None:
    import gc
    import weakref

    refs: list[weakref.ref] = []

    def factory() -> CodeAgent:
        agent = make_squarer()
        refs.append(weakref.ref(agent))
        return agent

    agent = make_agent([FAN_OUT_FOUR, "final_answer(len(answers))"], tools=[], managed_agents=[factory])
    assert agent.run("Square four numbers.") == 4
    assert len(agent.task_manager.tasks()) == 4  # the records are still kept
    gc.collect()
    assert [ref() is None for ref in refs[1:]] == [True] * 4  # refs[0] is the template
