"""End to end in a real Phoenix: an AsyncAgent fans out three tool tasks and two managed-agent
tasks; the whole run is one trace, every task under the call that submitted it, and the
sub-agents' LLM and tool spans under their task spans. With propagation off it falls apart."""

from __future__ import annotations

import re
import time
import uuid

import pytest
from openinference.instrumentation import using_session
from smolagents import CodeAgent, tool

from async_task_system import create_async_agent, setup_tracing
from async_task_system.testing import ScriptedModel, task_text

pytestmark = pytest.mark.slow


@tool
def slow_lookup(key: str) -> str:
    """Look up a value by key; takes a while.

    Args:
        key: what to look up
    """
    time.sleep(0.2)
    return f"value-of-{key}"


def squarer_script(messages) -> str:
    n = int(re.search(r"square of (\d+)", task_text(messages)).group(1))
    if len(messages) <= 3:  # first step: system prompt and task only
        return f"value = {n} * {n}\nprint(value)"
    return "final_answer(value)"


FAN_OUT = (
    "ids = [submit_task('tool', 'slow_lookup', {'key': k}) for k in ('a', 'b', 'c')]\n"
    "ids += [submit_task('agent', 'squarer', {'task': f'compute the square of {n}'}) for n in (2, 3)]\n"
    "print(wait_for_tasks(ids, max_wait_time=20))\n"
    "results = get_task_results(ids)"
)
# main: AGENT, 2 steps, 2 LLM, 5 submit_task, wait, get, final_answer = 13;
# tool tasks: 3 x (task, tool) = 6; agent tasks: 2 x (task, AGENT, 2 steps, 2 LLM, final_answer) = 14
EXPECTED_SPANS = 33


def run_traced(phoenix_server, *, propagate: bool) -> tuple[dict, list[dict]]:
    project = f"agent-{'on' if propagate else 'off'}-{uuid.uuid4().hex[:8]}"
    provider = setup_tracing(project_name=project, endpoint=phoenix_server.url, batch=False, set_global=False)
    squarer = CodeAgent(tools=[], model=ScriptedModel(squarer_script), name="squarer",
                        description="Squares the number in its task.", verbosity_level=0)
    model = ScriptedModel([FAN_OUT, "final_answer(results)"])
    with (create_async_agent(tools=[slow_lookup], managed_agents=[squarer], model=model, max_workers=5,
                             propagate_context=propagate, verbosity_level=0) as agent, using_session("session-e2e")):
        answer = agent.run("Look up a, b and c, and square 2 and 3.")
    provider.force_flush()
    return answer, phoenix_server.spans(project, expect=EXPECTED_SPANS)


class Tree:
    """Phoenix's spans as a tree."""

    def __init__(self, spans: list[dict]) -> None:
        self.spans = spans
        self.by_id = {s["context"]["span_id"]: s for s in spans}

    def parent(self, span: dict) -> dict | None:
        return self.by_id.get(span["parent_id"]) if span["parent_id"] else None

    def ancestors(self, span: dict) -> list[dict]:
        chain = []
        while (span := self.parent(span)) is not None:
            chain.append(span)
        return chain

    def children(self, span: dict) -> list[dict]:
        return [s for s in self.spans if s["parent_id"] == span["context"]["span_id"]]

    def descendants(self, span: dict) -> list[dict]:
        found, pending = [], [span]
        while pending:
            kids = self.children(pending.pop())
            found += kids
            pending += kids
        return found

    def named(self, prefix: str) -> list[dict]:
        return [s for s in self.spans if s["name"].startswith(prefix)]


def test_one_trace_from_the_agent_run_down_to_every_task(phoenix_server):
    answer, spans = run_traced(phoenix_server, propagate=True)
    assert answer["t1"] == "value-of-a" and answer["t5"].endswith("9")
    tree = Tree(spans)
    assert len(spans) == EXPECTED_SPANS, sorted(s["name"] for s in spans)
    assert len({s["context"]["trace_id"] for s in spans}) == 1

    (run,) = [s for s in spans if s["parent_id"] is None]
    assert run["name"] == "CodeAgent.run" and run["span_kind"] == "AGENT"
    tasks = [s for s in spans if s["name"].startswith("task ")]
    assert sorted(s["name"] for s in tasks) == ["task slow_lookup"] * 3 + ["task squarer"] * 2
    for task in tasks:
        submitter = tree.parent(task)
        assert submitter["attributes"]["tool.name"] == "submit_task"
        assert tree.ancestors(task)[-1] is run
        assert task["status_code"] == "OK"
    for task in tree.named("task slow_lookup"):
        assert task["attributes"]["task.type"] == "tool"
        (inner,) = tree.children(task)
        assert inner["span_kind"] == "TOOL" and inner["attributes"]["tool.name"] == "slow_lookup"
    for task in tree.named("task squarer"):
        assert task["attributes"]["task.type"] == "agent"
        (sub_run,) = tree.children(task)
        assert sub_run["span_kind"] == "AGENT" and sub_run["name"] == "squarer.run"
        below = tree.descendants(sub_run)
        assert [s["span_kind"] for s in below].count("LLM") == 2
        assert any(s["span_kind"] == "TOOL" and s["attributes"]["tool.name"] == "final_answer" for s in below)
    # The sub-agents' LLM spans are nowhere but under their task spans.
    for llm in (s for s in spans if s["span_kind"] == "LLM"):
        names = [a["name"] for a in tree.ancestors(llm)]
        assert "task squarer" in names or names[-1] == "CodeAgent.run" and len(names) == 2
    # The session set around run() reaches every span, down to the sub-agents' LLM calls.
    assert {s["attributes"].get("session.id") for s in spans} == {"session-e2e"}


def test_without_propagation_every_task_starts_a_trace_of_its_own(phoenix_server):
    answer, spans = run_traced(phoenix_server, propagate=False)
    assert answer["t1"] == "value-of-a"
    tree = Tree(spans)
    (run,) = [s for s in spans if s["name"] == "CodeAgent.run"]
    tasks = tree.named("task ")
    assert len(tasks) == 5
    assert len({s["context"]["trace_id"] for s in spans}) == 6  # the run's, and one per task
    for task in tasks:
        assert task["parent_id"] is None
        assert task["context"]["trace_id"] != run["context"]["trace_id"]
        assert "session.id" not in task["attributes"]
    for sub_run in tree.named("squarer.run"):
        assert tree.parent(sub_run)["name"] == "task squarer"
        assert sub_run["context"]["trace_id"] != run["context"]["trace_id"]


def test_background_async_tools_show_their_tool_spans_under_their_task_spans_in_one_trace(phoenix_server):
    import asyncio

    from async_task_system.agent import tool as async_tool

    @async_tool
    async def fetch(key: str) -> str:
        """Fetch a record, asynchronously.

        Args:
            key: which record
        """
        await asyncio.sleep(0.05)
        return f"record-{key}"

    project = f"agent-async-{uuid.uuid4().hex[:8]}"
    provider = setup_tracing(project_name=project, endpoint=phoenix_server.url, batch=False, set_global=False)
    model = ScriptedModel(["ids = [submit_task('tool', 'fetch', {'key': k}) for k in ('a', 'b')]\n"
                           "print(wait_for_tasks(ids))\nresults = get_task_results(ids)", "final_answer(results)"])
    with create_async_agent(tools=[fetch], model=model, verbosity_level=0) as agent:
        assert agent.run("Fetch a and b.") == {"t1": "record-a", "t2": "record-b"}
    provider.force_flush()
    # AGENT, 2 steps, 2 LLM, 2 submit_task, wait, get, final_answer = 10; 2 x (task, tool) = 4
    spans = phoenix_server.spans(project, expect=14)
    tree = Tree(spans)
    assert len(spans) == 14, sorted(s["name"] for s in spans)
    assert len({s["context"]["trace_id"] for s in spans}) == 1
    tasks = tree.named("task fetch")
    assert len(tasks) == 2
    for task in tasks:
        assert tree.parent(task)["attributes"]["tool.name"] == "submit_task"
        (inner,) = tree.children(task)
        assert inner["span_kind"] == "TOOL" and inner["attributes"]["tool.name"] == "fetch"
        assert inner["attributes"]["output.value"] in ("record-a", "record-b")
        assert inner["status_code"] == "OK"
