"""Harmless variations in how a model writes its calls are accepted and do what it meant."""

from __future__ import annotations

import re

import pytest
from agent_helpers import observations
from smolagents import CodeAgent

from async_task_system.testing import ScriptedModel, task_text

SUBMIT_VARIANTS = {
    "args as a JSON string": "t = submit_task('tool', 'slow_lookup', '{\"key\": \"v\", \"delay\": 0}')",
    "args as a Python dict literal in a string": "t = submit_task('tool', 'slow_lookup', \"{'key': 'v'}\")",
    "the tool object instead of its name": "t = submit_task('tool', slow_lookup, {'key': 'v', 'delay': 0})",
    "task args as keyword arguments": "t = submit_task('tool', 'slow_lookup', key='v', delay=0)",
    "task type left out": "t = submit_task('slow_lookup', {'key': 'v', 'delay': 0})",
    "a bare value for a tool with one required input": "t = submit_task('tool', 'slow_lookup', 'v')",
    "task type capitalised and plural": "t = submit_task('Tools', 'slow_lookup', {'key': 'v'})",
    "the whole call as one dict": "t = submit_task({'task_type': 'tool', 'name': 'slow_lookup', 'args': {'key': 'v'}})",
    "an integral float for an integer": "t = submit_task('tool', 'big_text', {'size': 3.0})",
    "guessed argument names": "t = submit_task(type='tool', tool_name='slow_lookup', arguments={'key': 'v'})",
    "no task type, name and args by keyword": "t = submit_task(name='slow_lookup', args={'key': 'v'})",
}


@pytest.mark.parametrize("case", list(SUBMIT_VARIANTS), ids=list(SUBMIT_VARIANTS))
def test_submit_variants_run_the_intended_tool(make_agent, case: str) -> None:
    from agent_helpers import big_text, slow_lookup

    agent = make_agent([
        SUBMIT_VARIANTS[case] + "\nwait_for_tasks(t)\nfinal_answer(get_task_results(t)[t])",
    ], tools=[slow_lookup, big_text])
    expected = "012" if "big_text" in SUBMIT_VARIANTS[case] else "value-of-v"
    assert agent.run("Look up v.") == expected


def test_ids_as_ints_single_ids_and_no_ids_are_understood(make_agent) -> None:
    agent = make_agent([
        "a = submit_task('tool', 'slow_lookup', {'key': 'a', 'delay': 0.05})\n"
        "b = submit_task('tool', 'slow_lookup', {'key': 'b', 'delay': 0.05})\n"
        "print(wait_for_tasks())\n"  # no ids: every unfinished task of this run
        "r = get_task_results([1, '2'])\n"  # ints and bare digits
        "print(sorted(r.items()))\n"
        "print(check_task(['T1']))\n"  # a one-element list and another case
        "print(get_task_results(b))",  # one id for a list
        "final_answer(r['t1'] + ' ' + r['t2'])",
    ])

    assert agent.run("Look up a and b.") == "value-of-a value-of-b"
    seen = observations(agent)[0]
    assert "Waited" in seen and "for 2 tasks" in seen and "2 finished, 0 unfinished" in seen
    assert "[('t1', 'value-of-a'), ('t2', 'value-of-b')]" in seen
    assert "t1 (tool slow_lookup): completed in" in seen
    assert "{'t2': 'value-of-b'}" in seen


def test_an_agent_task_can_be_a_bare_task_string_and_type_tool_is_forgiven(make_agent) -> None:
    def sub(messages) -> str:
        n = int(re.search(r"square of (\d+)", task_text(messages)).group(1))
        return f"final_answer({n * n})"

    squarer = CodeAgent(tools=[], model=ScriptedModel(sub), name="squarer", description="Squares.",
                        verbosity_level=-1)
    agent = make_agent([
        "a = submit_task('agent', 'squarer', 'compute the square of 7')\n"
        "b = submit_task('tool', 'squarer', {'task': 'compute the square of 8'})\n"
        "c = submit_task('agent', squarer, {'task': 'compute the square of 9'})\n"  # the agent object itself
        "wait_for_tasks([a, b, c])\n"
        "r = get_task_results([a, b, c])\n"
        "final_answer([r[a][-2:], r[b][-2:], r[c][-2:]])",
    ], tools=[], managed_agents=[squarer])

    assert agent.run("Square 7, 8 and 9.") == ["49", "64", "81"]


def test_guessed_argument_names_of_the_other_tools_are_understood(make_agent) -> None:
    agent = make_agent([
        "t = submit_task('tool', 'slow_lookup', {'key': 'g', 'delay': 0.05})\n"
        "print(wait_for_tasks(ids=[t], timeout=10, mode='all'))\n"
        "print(check_task(id=t))\n"
        "r = get_task_results(task_id=t)\n"
        "print(cancel_task(task=t))",
        "wait_for_tasks(t, frobnicate=True)",
        "final_answer(r[t])",
    ])

    assert agent.run("Look up g.") == "value-of-g"
    first, second = observations(agent)
    assert "1 finished, 0 unfinished" in first and "t1 (tool slow_lookup): completed" in first
    assert "t1 had already ended (completed); nothing to cancel." in first
    assert "wait_for_tasks() has no argument 'frobnicate'; it takes: task_ids, max_wait_time, return_when" in second
