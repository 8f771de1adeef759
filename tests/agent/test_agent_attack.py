"""Hostile-caller findings against the agent layer: model code as small models write it.

Each snippet failed (a silently wrong answer, or a refusal that did not name the fix) before its fix.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from smolagents import tool
from test_agent_corpus import TOOLS, W, one, run_snippet

from async_task_system import InvalidArgumentError
from async_task_system.agent._placeholders import Placeholders
from async_task_system.agent._registry import normalize_task_id


def reader() -> Placeholders:
    """Placeholders for a run whose tasks are t1 and t2, and no variables."""
    run = ["t1", "t2"]
    return Placeholders(referable=run.__contains__, exists=run.__contains__, variables=dict,
                        normalize=normalize_task_id, run_ids=lambda: list(run))

FOUND = [
    one("a placeholder as a dict key is refused, not passed literally", "results for q",
        "a = submit_task('tool', 'search', {'query': 'q'})\n"
        "m = submit_task('tool', 'merge', {'data': {'$' + a: 1}})",
        W + "final_answer(get_task_results()[a])",
        fix=("the dict key '$t1' looks like a placeholder", "replaced only in values, never in keys")),
    one("$$ in a dict key is a literal dollar, as in values", "$HOME,b",
        "m = submit_task('tool', 'merge', {'data': {'$$HOME': 1, 'b': 2}})\n" + W +
        "final_answer(get_task_results()[m])"),
    one("a wait as long as 10**400 seconds waits like an infinite one", "value-of-k",
        # Found: math.isnan(10**400) raised a bare OverflowError naming neither the argument nor the fix.
        "a = submit_task('tool', 'slow_lookup', {'key': 'k', 'delay': 0.01})\n"
        "wait_for_tasks([a], 10**400)\nfinal_answer(get_task_results()[a])"),
    one("a timeout of 10**5000 seconds is refused naming the limit", "value-of-k",
        "a = submit_task('tool', 'slow_lookup', {'key': 'k', 'delay': 0.01}, timeout=10**5000)",
        "a = submit_task('tool', 'slow_lookup', {'key': 'k', 'delay': 0.01}, timeout=60)\n" + W +
        "final_answer(get_task_results()[a])",
        fix=("timeout must be a number of seconds > 0 and at most 31536000 (one year)",)),
    one("indexing the results by position names the fix", "results for q",
        "a = submit_task('tool', 'search', {'query': 'q'})\n" + W + "r = get_task_results()\nfinal_answer(r[0])",
        "final_answer(list(r.values())[0])",
        fix=("maps task ids to results, not positions", "results[t1]", "list(results.values())")),
    one("indexing the results with an id not asked for names the fix", "results for b",
        "a = submit_task('tool', 'search', {'query': 'a'})\nb = submit_task('tool', 'search', {'query': 'b'})\n" + W +
        "r = get_task_results([a])\nfinal_answer(r[b])",
        "final_answer(get_task_results([b])[b])",
        fix=("is not a key of these results (their task ids: t1)", "get_task_results([id])")),
]


@pytest.mark.parametrize("snippet", FOUND, ids=[s.name for s in FOUND])
def test_attack_snippets(make_agent, snippet) -> None:
    run_snippet(make_agent, snippet, count=False)


@tool
def show(data: dict) -> str:
    """The dict as text.

    Args:
        data: a dict
    """
    return repr(data)


def test_a_nested_dict_key_with_dollars_keeps_the_text_placeholder_beneath_it(make_agent) -> None:
    # The key is unescaped before the path to the text below it is recorded: the text renders there.
    agent = make_agent(["a = submit_task('tool', 'search', {'query': 'q'})\n"
                        "m = submit_task('tool', 'show', {'data': {'$$k': {'x': 'got $' + a}}})\n" + W +
                        "final_answer(get_task_results()[m])"], tools=[*TOOLS, show])
    assert agent.run("Go.") == repr({"$k": {"x": "got results for q"}})


@pytest.mark.parametrize("wait", [10**400, float("inf"), float("nan"), True, 0])
def test_create_async_agent_refuses_an_unbounded_max_wait_seconds_naming_the_limit(wait) -> None:
    # Found: 10**400 passed the check and then raised a bare OverflowError formatting the tools' descriptions.
    from async_task_system import create_async_agent
    from async_task_system.testing import ScriptedModel

    with pytest.raises(InvalidArgumentError, match=r"max_wait_seconds must be .* at most 31536000 \(one year\)"):
        create_async_agent(tools=[], model=ScriptedModel(["final_answer(1)"]), max_wait_seconds=wait)


@given(st.dictionaries(st.text(max_size=12), st.integers(), max_size=5))
@settings(max_examples=200, deadline=None)
def test_dict_keys_with_doubled_dollars_always_read_as_literal_text(data: dict) -> None:
    # The rule for keys, as for values: $$ is a literal $, and a key is never a placeholder.
    escaped = {key.replace("$", "$$"): value for key, value in data.items()}
    translation = reader().translate({"x": escaped})
    assert translation.values == {"x": data} and not translation.refs


_PLAIN = st.text(st.characters(blacklist_characters="$"), max_size=6)


@given(st.tuples(_PLAIN, st.from_regex(r"[A-Za-z_]\w{0,5}|\{[^}]{0,5}\}", fullmatch=True), st.text(max_size=6))
       .map(lambda parts: f"{parts[0]}${parts[1]}{parts[2]}"))
@settings(max_examples=200, deadline=None)
def test_a_dict_key_that_reads_as_a_placeholder_is_refused_with_the_fix(key: str) -> None:
    with pytest.raises(InvalidArgumentError, match="replaced only in values, never in keys"):
        reader().translate({"x": {key: 1}})
