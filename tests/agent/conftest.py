"""Fixtures for the agent-layer tests: agents on scripted models, shut down after each test."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from agent_helpers import CORPUS_TALLY, LARGEST_OBSERVATION, flaky_fetch, note_observations, slow_lookup

from async_task_system import create_async_agent
from async_task_system.agent import AsyncAgent
from async_task_system.testing import ScriptedModel


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The figures issue 10 asks for: the corpus outcomes and the largest observation of the suite."""
    if sum(CORPUS_TALLY.values()):
        counts = ", ".join(f"{n} {outcome}" for outcome, n in CORPUS_TALLY.items())
        terminalreporter.write_line(f"agent corpus: {counts}")
    if LARGEST_OBSERVATION[0]:
        size, where = LARGEST_OBSERVATION
        terminalreporter.write_line(f"largest observation shown to a model: {size} characters ({where})")


@pytest.fixture
def make_agent(request: pytest.FixtureRequest) -> Iterator[Callable[..., AsyncAgent]]:
    """``make_agent(replies, tools=..., **kwargs)``: an AsyncAgent on a ScriptedModel, shut down afterwards."""
    made: list[AsyncAgent] = []

    def build(replies: Any, *, tools: list[Any] | None = None, model_kwargs: dict[str, Any] | None = None,
              **kwargs: Any) -> AsyncAgent:
        model = replies if isinstance(replies, ScriptedModel) else ScriptedModel(replies, **(model_kwargs or {}))
        kwargs.setdefault("verbosity_level", 0)
        kwargs.setdefault("max_workers", 4)
        agent = create_async_agent(tools=[slow_lookup, flaky_fetch] if tools is None else tools, model=model,
                                   **kwargs)
        made.append(agent)
        return agent

    yield build
    for agent in made:
        agent.shutdown()
        note_observations(agent, request.node.nodeid)
