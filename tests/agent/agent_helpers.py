"""Tools and helpers shared by the agent-layer tests (fixtures live in conftest.py)."""

from __future__ import annotations

import threading
import time
from typing import Any

from smolagents import Tool, tool

from async_task_system import cancel_token
from async_task_system.agent import AsyncAgent
from async_task_system.testing import last_observation


@tool
def slow_lookup(key: str, delay: float = 0.3) -> str:
    """Look up a value by key; takes a while.

    Args:
        key: what to look up
        delay: seconds it takes
    """
    time.sleep(delay)
    return f"value-of-{key}"


@tool
def flaky_fetch(url: str) -> str:
    """Fetch a page; fails for URLs containing 'broken'.

    Args:
        url: the page address
    """
    if "broken" in url:
        raise ConnectionError(f"could not reach {url}")
    return f"<html>{url}</html>"


class BlockingWait(Tool):
    """Waits until its task is cancelled (or a bound passes): stands for a long job that checks its token."""

    name = "long_job"
    description = "A long job that stops early when its task is cancelled."
    inputs = {"seconds": {"type": "number", "description": "how long it would run"}}
    output_type = "string"

    def __init__(self) -> None:
        super().__init__()
        self.started = threading.Event()
        self.stopped_early = threading.Event()

    def forward(self, seconds: float) -> str:
        self.started.set()
        token = cancel_token()
        if token is not None and token.wait(seconds):
            self.stopped_early.set()
            return "stopped"
        return "ran to the end"


@tool
def big_text(size: int) -> str:
    """Return a long text of `size` characters (digits repeating).

    Args:
        size: how many characters
    """
    return "".join(str(i % 10) for i in range(size))


def observations(agent: AsyncAgent) -> list[str]:
    """What the model was shown after each of its steps, in order (observations and errors)."""
    model = agent.agent.model
    return [last_observation(messages) for messages in model.received[1:]]


# ---------------------------------------------------------------- the corpus of model-written snippets

#: outcome -> count, filled by ``run_snippet``; conftest prints it at the end of the session
CORPUS_TALLY: dict[str, int] = {"worked": 0, "refused with a fix": 0, "wrong": 0}
#: the longest observation any agent of the suite showed its model: (characters, test name)
LARGEST_OBSERVATION: list[Any] = [0, ""]


def all_observations(agent: AsyncAgent) -> list[str]:
    """Every observation of ``agent``: what its model was shown, and its last run's steps (the final
    step's observation included, which no model call reads)."""
    from smolagents.memory import ActionStep

    seen = observations(agent) if hasattr(agent.agent.model, "received") else []
    for step in agent.agent.memory.steps:
        if isinstance(step, ActionStep):
            seen += [text for text in (step.observations, str(step.error) if step.error else None) if text]
    return seen


def note_observations(agent: AsyncAgent, where: str) -> None:
    """Remember the longest observation ``agent`` produced (for the session's report)."""
    for text in all_observations(agent):
        if len(text) > LARGEST_OBSERVATION[0]:
            LARGEST_OBSERVATION[:] = [len(text), where]
