"""The guidance is short, says what its docstring says, and names only real tools."""

from __future__ import annotations

import importlib.util
import os
import re

import pytest

from async_task_system import TaskManager
from async_task_system.agent import (
    GUIDANCE,
    TaskBoard,
    TaskRegistry,
    _guidance,
    guidance_for,
    task_tools,
)


@pytest.fixture(scope="module")
def encoding():
    """tiktoken's cl100k_base from the copy litellm ships (no download)."""
    tiktoken = pytest.importorskip("tiktoken")
    spec = importlib.util.find_spec("litellm")  # its location only: importing litellm takes seconds
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("litellm (which bundles the tokenizer files) is not installed")
    bundled = os.path.join(spec.submodule_search_locations[0], "litellm_core_utils", "tokenizers")
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", bundled)
    try:
        return tiktoken.get_encoding("cl100k_base")
    except Exception as exc:  # pragma: no cover - depends on the installed litellm
        pytest.skip(f"no offline cl100k_base: {exc}")


def test_the_token_counts_in_the_docstring_are_the_real_ones(encoding) -> None:
    doc = _guidance.__doc__
    claimed = [int(n) for n in re.findall(r"(\d+) tokens", doc)] + [int(re.search(r"(\d+) with the line", doc)[1])]
    tm = TaskManager(1)
    try:
        tools_text = "\n\n".join(t.to_code_prompt() for t in task_tools(TaskBoard(tm, TaskRegistry())))
    finally:
        tm.shutdown()
    actual = [len(encoding.encode(GUIDANCE)), len(encoding.encode(tools_text)),
              len(encoding.encode(guidance_for("cancel")))]
    assert claimed == actual
    assert actual[1] + actual[2] < 1200  # guidance (with its last line) plus the seven descriptions


def test_every_tool_the_guidance_names_exists() -> None:
    tm = TaskManager(1)
    try:
        names = {t.name for t in task_tools(TaskBoard(tm, TaskRegistry()))}
    finally:
        tm.shutdown()
    called = set(re.findall(r"(\w+)\(", GUIDANCE)) - {"isinstance"}
    assert called <= names, called - names
    assert {"submit_task", "wait_for_tasks", "get_task_results"} <= called


@pytest.mark.parametrize("policy, words", [("cancel", "are cancelled"), ("wait", "waits for"), ("keep", "keep running")])
def test_the_guidance_tells_the_model_the_unfinished_task_policy(policy: str, words: str) -> None:
    assert words in guidance_for(policy).splitlines()[-1]


def test_the_guidance_says_what_a_newcomer_model_needs_in_the_right_order() -> None:
    text = guidance_for("cancel")
    assert text.startswith("## Background tasks\n")  # a heading of its own
    forms = [text.index(form) for form in ("'$' + paris", "f'Summarise: ${paris}'", "'$paris'")]
    assert forms == sorted(forms)  # the recommended spelling first
    assert "isinstance(r, NoResult)" in text and "r.error" in text
    assert "Here is the final answer from your managed agent" in text
    assert "optional" in text and "default: every unfinished task" in text
    # where our tools differ from smolagents' own rules (print for the next step; never repeat a call)
    assert "usable at once in that block" in text and "again with the same arguments is right" in text
    assert "'error' in r" not in text and "isinstance(r, dict)" not in text  # the old, colliding test is gone


def test_the_descriptions_use_the_same_placeholder_spelling_and_failure_test_as_the_guidance() -> None:
    tm = TaskManager(1)
    try:
        tools = {t.name: t for t in task_tools(TaskBoard(tm, TaskRegistry()))}
    finally:
        tm.shutdown()
    assert "'$' + paris" in tools["submit_task"].description
    assert "isinstance(r, NoResult)" in tools["get_task_results"].description
    assert "Text" in tools["list_tasks"].description  # it returns text, not a list


def test_with_live_coordination_guidance_and_descriptions_stay_under_1200_tokens(encoding) -> None:
    """Notices and send_message add one guidance line and one tool: still under the budget."""
    from async_task_system.agent._guidance import LIVE_GUIDANCE
    from async_task_system.agent._message_tool import SendMessageTool
    from async_task_system.agent._messages import Mailboxes

    tm = TaskManager(1)
    try:
        board = TaskBoard(tm, TaskRegistry())
        tools = [*task_tools(board), SendMessageTool(board, Mailboxes())]
        tools_text = "\n\n".join(t.to_code_prompt() for t in tools)
    finally:
        tm.shutdown()
    guidance = f"{guidance_for('cancel')}\n{LIVE_GUIDANCE}"
    total = len(encoding.encode(guidance)) + len(encoding.encode(tools_text))
    print(f"live guidance {len(encoding.encode(LIVE_GUIDANCE))} tokens, all in all {total}")
    assert total < 1200
    assert set(re.findall(r"(\w+)\(", LIVE_GUIDANCE)) <= {t.name for t in tools}
