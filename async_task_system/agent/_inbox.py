"""What reaches a running agent between its steps: notices and messages, as user messages.

smolagents 1.26 builds every model call's prompt with ``agent.write_memory_to_messages()``
(the system prompt, then each memory step's ``to_messages()``), called at the start of
each action step (``CodeAgent._step_stream``) and of a planning step. ``hook_inbox``
wraps that method on one agent instance: before rendering, it drains its source and,
if there is news, appends an ``InboxStep`` to the agent's memory. So the news is in the
prompt of the very next model call (no extra model step), stays in memory for the steps
after it, and the model reads it as a user message. Hooks chain (notices and messages).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smolagents.memory import MemoryStep
from smolagents.models import ChatMessage, MessageRole

__all__ = ["InboxStep", "hook_inbox"]

_log = logging.getLogger("async_task_system")

#: the most characters one InboxStep puts into the prompt
MAX_INBOX_CHARS = 4000


@dataclass
class InboxStep(MemoryStep):
    """News an agent got between two steps (``kind``: "notices" or "message"); rendered as a user message."""

    kind: str
    text: str

    def to_messages(self, summary_mode: bool = False) -> list[ChatMessage]:
        return [ChatMessage(role=MessageRole.USER, content=[{"type": "text", "text": self.text}])]


def hook_inbox(agent: Any, kind: str, drain: Callable[[], str | None]) -> None:
    """Before each prompt ``agent`` renders, put ``drain()``'s text (if any) into its memory.

    ``drain`` runs on the agent's thread; whatever it raises is logged and the step goes on
    without news (an inbox must never stop an agent).
    """
    render = agent.write_memory_to_messages  # the class's method, or an earlier hook: chained

    def write_memory_to_messages(summary_mode: bool = False) -> list[ChatMessage]:
        if not summary_mode:  # summary mode renders for planning/final-answer summaries: nothing drained
            try:
                text = drain()
            except Exception:  # noqa: BLE001 - see the docstring
                _log.exception("an agent inbox (%s) raised; the step goes on without it", kind)
                text = None
            if text:
                if len(text) > MAX_INBOX_CHARS:
                    text = text[:MAX_INBOX_CHARS] + f" [... cut: {len(text) - MAX_INBOX_CHARS} more characters]"
                agent.memory.steps.append(InboxStep(kind=kind, text=text))
        return render(summary_mode=summary_mode)

    agent.write_memory_to_messages = write_memory_to_messages


def unhook_inbox(agent: Any) -> None:
    """Drop every hook from ``agent`` (a copy of it must not render the original's memory)."""
    agent.__dict__.pop("write_memory_to_messages", None)
