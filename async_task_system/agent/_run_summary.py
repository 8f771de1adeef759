"""``RunSummary``: what one ``AsyncAgent.run`` did (``AsyncAgent.last_run``), and its timeline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..engine import TaskInfo
from ._managed import Usage
from ._timeline import ModelStep, Timeline

__all__ = ["RunSummary", "model_steps_of"]


@dataclass(frozen=True)
class RunSummary:
    """What one ``AsyncAgent.run`` did: ``AsyncAgent.last_run`` after each run."""

    task: str
    final_answer: Any
    error: str | None  # the exception that ended the run, if one did
    wall_time: float  # seconds, the whole run (model calls included)
    tasks: tuple[TaskInfo, ...]  # the tasks the run submitted, in order, as they were at its end
    agent_usage: Usage  # the main agent's model calls and tokens
    sub_agent_usage: Usage  # managed agents run as tasks during the run
    steps: int
    unfinished_at_end: tuple[str, ...] = ()  # tasks not final when the model answered
    unfinished_policy: str = "cancel"  # what was done with them
    started_at: float = 0.0  # time.time() when the run began (the timeline's zero)
    model_steps: tuple[ModelStep, ...] = ()  # the main agent's steps, with their times
    tokens_estimated: bool = False  # the main model's token counts are estimates (ScriptedModel), not a provider's

    @property
    def sequential_time(self) -> float:
        """Sum of the tasks' run times: what the same tasks would take one after another."""
        return sum(info.run_time or 0.0 for info in self.tasks)

    @property
    def usage(self) -> Usage:
        """Main agent plus sub-agents."""
        return self.agent_usage + self.sub_agent_usage

    @property
    def model_calls(self) -> int:
        return self.usage.model_calls

    @property
    def input_tokens(self) -> int:
        return self.usage.input_tokens

    @property
    def output_tokens(self) -> int:
        return self.usage.output_tokens

    def status_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for info in self.tasks:
            counts[info.status.value] = counts.get(info.status.value, 0) + 1
        return counts

    def timeline(self) -> Timeline:
        """A Gantt-style view of the run: each model step and each task (queue wait, run time, status
        by colour) on one time axis. Print it with rich, or let a notebook display it (SVG)."""
        return Timeline.of_run(self)

    def format(self) -> str:
        """A few lines for a terminal."""
        counts = ", ".join(f"{n} {status}" for status, n in sorted(self.status_counts().items())) or "none"
        subs = self.sub_agent_usage.model_calls
        tokens = "tokens (estimated)" if self.tokens_estimated else "tokens"
        lines = [
            f"tasks: {len(self.tasks)} ({counts})",
            f"wall time: {self.wall_time:.2f}s; the same tasks one after another: {self.sequential_time:.2f}s",
            f"model calls: {self.model_calls} ({self.agent_usage.model_calls} agent, {subs} "
            f"sub-agent{'' if subs == 1 else 's'}); {tokens}: {self.input_tokens} in, {self.output_tokens} out",
        ]
        if self.unfinished_at_end:
            verb = {"cancel": "cancelled", "wait": "waited for", "keep": "left running"}[self.unfinished_policy]
            lines.append(f"unfinished when the run ended ({verb}): {', '.join(self.unfinished_at_end)}")
        if self.error:
            lines.append(f"error: {self.error}")
        return "\n".join(lines)


def model_steps_of(agent: Any, since: float) -> tuple[ModelStep, ...]:
    """The agent's action steps that began at or after ``since`` (``time.time()``), with their times."""
    from smolagents.memory import ActionStep

    steps = []
    for step in agent.memory.steps:
        timing = getattr(step, "timing", None)
        if isinstance(step, ActionStep) and timing is not None and timing.start_time >= since:
            error = getattr(step, "error", None)
            steps.append(ModelStep(step.step_number, timing.start_time, timing.end_time,
                                   None if error is None else str(error)))
    return tuple(steps)
