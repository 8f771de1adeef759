"""An AsyncAgent (or a factory of them) as a managed agent of another: own board per run, cancelled with
its task, no thread left behind."""

from __future__ import annotations

import re
import threading
import time

import pytest
from agent_helpers import BlockingWait, observations
from smolagents import tool

from async_task_system import create_async_agent
from async_task_system.agent import AsyncAgent
from async_task_system.testing import ScriptedModel, task_text

CITIES = ("Oslo", "Lima", "Pune")


@tool
def city_facts(city: str) -> str:
    """Facts about a city.

    Args:
        city: the city
    """
    time.sleep(0.05)
    return f"facts about {city}"


def _inner_script(messages) -> str:
    """The researcher: submits two lookups of its own, then answers with every result of its run."""
    city = next(c for c in CITIES if re.search(rf"\b{c}\b", task_text(messages)))
    return (f"a = submit_task('tool', 'city_facts', {{'city': '{city}'}})\n"
            f"b = submit_task('tool', 'city_facts', {{'city': '{city} old town'}})\n"
            "wait_for_tasks()\nfinal_answer(sorted(get_task_results().values()))")


def make_researcher(script=_inner_script, tools=None) -> AsyncAgent:
    return create_async_agent(tools=tools or [city_facts], model=ScriptedModel(script), name="researcher",
                              description="Researches one city with background lookups.", verbosity_level=0)


OUTER = ("ids = [submit_task('agent', 'researcher', {'task': c}) for c in ['Oslo', 'Lima', 'Pune']]\n"
         "wait_for_tasks()\nres = get_task_results()\nfinal_answer([res[i] for i in ids])")


@pytest.mark.parametrize("given", ["instance", "factory"])
def test_each_run_of_a_nested_coordinator_sees_only_its_own_tasks(make_agent, given: str) -> None:
    template = make_researcher() if given == "instance" else None
    try:
        outer = make_agent([OUTER], tools=[], managed_agents=[template if template else make_researcher])
        answers = outer.run("Research three cities.")
    finally:
        if template is not None:
            template.shutdown()
    assert len(answers) == 3
    for city, answer in zip(CITIES, answers, strict=True):
        assert answer.startswith("Here is the final answer from your managed agent 'researcher':")
        assert f"facts about {city}" in answer and f"facts about {city} old town" in answer
        assert all(other not in answer for other in CITIES if other != city)  # no sibling's tasks
    assert outer.last_run.sub_agent_usage.model_calls == 3


def test_a_direct_call_of_a_nested_coordinator_runs_a_fresh_one(make_agent) -> None:
    outer = make_agent(["final_answer(researcher(task='Lima'))"], tools=[], managed_agents=[make_researcher])
    answer = outer.run("Research Lima.")
    assert "facts about Lima old town" in answer and "Oslo" not in answer
    assert outer.last_run.sub_agent_usage.model_calls == 1  # a direct call is counted too


def test_the_nested_coordinator_gets_the_guidance_and_the_task_text(make_agent) -> None:
    seen: list[str] = []

    def script(messages) -> str:
        seen.append(messages[0].content[0]["text"] if isinstance(messages[0].content, list) else messages[0].content)
        return _inner_script(messages)

    outer = make_agent([OUTER.replace("['Oslo', 'Lima', 'Pune']", "['Oslo']")], tools=[],
                       managed_agents=[lambda: make_researcher(script)])
    outer.run("Research Oslo.")
    assert seen and "## Background tasks" in seen[0]


@pytest.mark.parametrize("how", ["cancel", "timeout"])
def test_cancelling_or_timing_out_the_outer_task_cancels_the_inner_tasks(make_agent, how: str) -> None:
    job = BlockingWait()
    inner_script = ["j = submit_task('tool', 'long_job', {'seconds': 30})\nwait_for_tasks()\nwait_for_tasks()\n"
                    "final_answer('inner done')"]

    def factory() -> AsyncAgent:
        return make_researcher(ScriptedModel(inner_script * 4), tools=[job])

    if how == "cancel":
        outer_code = ["t = submit_task('agent', 'researcher', {'task': 'Oslo'})",
                      "cancel_task(t)\nwait_for_tasks()\nfinal_answer(get_task_results()[t].status)"]
    else:
        outer_code = ["t = submit_task('agent', 'researcher', {'task': 'Oslo'}, timeout=0.5)\nwait_for_tasks()\n"
                      "final_answer(get_task_results()[t].status)"]

    def outer_script(messages) -> str:
        index = len(outer_model.received) - 1
        if index == 1:
            assert job.started.wait(10)
        return outer_code[index]

    outer_model = ScriptedModel(outer_script)
    outer = make_agent(outer_model, tools=[], managed_agents=[factory], max_wait_seconds=5)
    status = outer.run("Research, then change your mind.")
    assert status == ("cancelled" if how == "cancel" else "timeout")
    assert job.stopped_early.wait(5)  # the inner agent's own task was cancelled, not left running


def test_nothing_leaks_threads_across_many_nested_runs(make_agent) -> None:
    before = threading.active_count()
    outer = create_async_agent(tools=[], model=ScriptedModel([OUTER] * 3), managed_agents=[make_researcher],
                               verbosity_level=0)
    with outer:
        for _ in range(3):
            outer.run("Research three cities.")
    deadline = time.monotonic() + 5
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() <= before, [t.name for t in threading.enumerate()]


def test_a_nested_coordinator_built_without_create_async_agent_is_refused_with_the_fix(make_agent) -> None:
    inner = make_researcher()
    try:
        inner._recipe = None
        outer = make_agent(["t = submit_task('agent', 'researcher', {'task': 'Oslo'})\nwait_for_tasks()\n"
                            "final_answer(get_task_results()[t].error)"], tools=[], managed_agents=[inner])
        assert "pass a factory instead" in outer.run("Research.")
    finally:
        inner.shutdown()


def test_the_outer_models_observations_stay_small(make_agent) -> None:
    outer = make_agent([OUTER], tools=[], managed_agents=[make_researcher])
    outer.run("Research three cities.")
    assert all(len(text) < 2000 for text in observations(outer))
