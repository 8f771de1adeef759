"""``TaskRegistry``: the public check of what a caller may run, reusable outside the agent (REST)."""

from __future__ import annotations

import pytest
from agent_helpers import flaky_fetch, slow_lookup
from smolagents import CodeAgent

from async_task_system import InvalidArgumentError, TaskManager
from async_task_system.agent import TaskRegistry, normalize_task_id, normalize_task_ids
from async_task_system.testing import ScriptedModel


def make_registry() -> TaskRegistry:
    helper = CodeAgent(tools=[], model=ScriptedModel(["final_answer('done: ' + str(extra))"]), name="helper",
                       description="Does things.", verbosity_level=-1)
    return TaskRegistry([slow_lookup, flaky_fetch], [helper])


def test_validate_returns_the_entry_and_normalised_args() -> None:
    registry = make_registry()
    entry, args = registry.validate("tool", "slow_lookup", '{"key": "k", "delay": 1}')
    assert (entry.kind, entry.name, args) == ("tool", "slow_lookup", {"key": "k", "delay": 1})
    assert entry.signature() == "key: string, delay: number (optional)"
    entry, args = registry.validate("agent", "helper", "summarise this")
    assert (entry.kind, args) == ("agent", {"task": "summarise this"})
    assert registry.names() == ["slow_lookup", "flaky_fetch", "helper"]
    assert registry.names("agent") == ["helper"]


def test_validate_refuses_with_messages_that_list_what_is_accepted() -> None:
    registry = make_registry()
    with pytest.raises(InvalidArgumentError, match=r"unknown tool 'fetch' \(did you mean 'flaky_fetch'\?\); tools: slow_lookup, flaky_fetch; "
                                                   r"managed agents: helper"):
        registry.validate("tool", "fetch", {})
    with pytest.raises(InvalidArgumentError, match=r"tool 'flaky_fetch' needs argument 'url'"):
        registry.validate("tool", "flaky_fetch", {})
    with pytest.raises(InvalidArgumentError, match=r"argument 'key' of slow_lookup must be string, got int 3"):
        registry.validate("tool", "slow_lookup", {"key": 3})


def test_callable_for_runs_the_tool_and_a_fresh_agent_per_call_on_a_task_manager() -> None:
    registry = make_registry()
    with TaskManager(max_workers=2) as tm:
        entry, args = registry.validate("tool", "slow_lookup", {"key": "r", "delay": 0})
        t1 = tm.submit(registry.callable_for(entry), kwargs=args, name=entry.name)
        entry, args = registry.validate("agent", "helper", {"task": "go", "additional_args": {"extra": 5}})
        t2 = tm.submit(registry.callable_for(entry), kwargs=args, name=entry.name)
        assert tm.result(t1, timeout=10) == "value-of-r"
        assert tm.result(t2, timeout=10).endswith("done: 5")
    assert registry.usage.total.model_calls == 1
    with pytest.raises(InvalidArgumentError, match="unknown name 'nope'"):
        registry.callable_for("nope")


def test_duplicate_names_and_non_tools_are_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="two tools or managed agents are named 'slow_lookup'"):
        TaskRegistry([slow_lookup, slow_lookup])
    with pytest.raises(InvalidArgumentError, match="tools must be smolagents Tool objects"):
        TaskRegistry([print])


@pytest.mark.parametrize("given, expected", [("t3", "t3"), (3, "t3"), ("3", "t3"), (" T12 ", "t12"), ("x9", "x9")])
def test_task_ids_as_a_model_writes_them(given, expected) -> None:
    assert normalize_task_id(given) == expected


def test_id_lists_accept_one_id_and_drop_duplicates() -> None:
    assert normalize_task_ids("t1") == ["t1"]
    assert normalize_task_ids([2, "t2", "t1"]) == ["t2", "t1"]
    with pytest.raises(InvalidArgumentError, match="got NoneType None"):
        normalize_task_ids(None)
    with pytest.raises(InvalidArgumentError, match="got bool True"):
        normalize_task_id(True)
