"""Test your agents offline: a smolagents ``Model`` that plays back scripted replies.

``ScriptedModel`` returns what a real model would write (code for a ``CodeAgent``)
without any API. Give it a list of replies, played in order, or a function of the
messages it receives, so a reply can depend on what the agent observed:

>>> from smolagents import CodeAgent
>>> model = ScriptedModel(["x = 6 * 7", "final_answer(x)"])
>>> CodeAgent(tools=[], model=model, verbosity_level=0).run("What is 6 * 7?")
42
>>> model.calls
2

A reply without a code block is wrapped in ``<code>...</code>``. A reply may also be a
``ChatMessage`` (for a ``ToolCallingAgent``'s tool calls), returned as given.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal

from smolagents.models import ChatMessage, MessageRole, Model
from smolagents.monitoring import TokenUsage

__all__ = ["ScriptedModel", "ScriptExhaustedError", "message_text", "last_observation", "task_text"]

Reply = str | ChatMessage
Script = Sequence[Reply] | Callable[[list[ChatMessage]], Reply]


class ScriptExhaustedError(RuntimeError):
    """A ``ScriptedModel`` was asked for more replies than its script holds."""


def message_text(message: ChatMessage | dict[str, Any]) -> str:
    """The text of one chat message, whatever shape its content has."""
    content = message.get("content") if isinstance(message, dict) else message.content
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "\n".join(part.get("text", "") for part in content if isinstance(part, dict))


def last_observation(messages: Sequence[ChatMessage]) -> str:
    """The text of the last observation or error the agent fed back to the model ("" if none)."""
    for message in reversed(messages):
        role = message.get("role") if isinstance(message, dict) else message.role
        if role in (MessageRole.TOOL_RESPONSE, MessageRole.TOOL_RESPONSE.value):
            return message_text(message)
    return ""


def task_text(messages: Sequence[ChatMessage]) -> str:
    """The text of the first user message: the task the agent was given."""
    for message in messages:
        role = message.get("role") if isinstance(message, dict) else message.role
        if role in (MessageRole.USER, MessageRole.USER.value):
            return message_text(message)
    return ""


class ScriptedModel(Model):
    """A model that replies from a script, for tests, demos and benchmarks.

    ``replies``: a list of replies played in order (``ScriptExhaustedError`` when it runs
    out), or ``fn(messages) -> reply``. ``delay``: seconds slept per call, to stand in for
    model latency. ``token_usage``: ``"estimate"`` (about 4 characters per token of the
    messages in and the reply out), a fixed ``(input, output)`` pair per call, or None.
    Thread-safe: copies of one managed agent may share it.
    """

    def __init__(
        self,
        replies: Script,
        *,
        delay: float = 0.0,
        token_usage: Literal["estimate"] | tuple[int, int] | TokenUsage | None = "estimate",
        model_id: str = "scripted-model",
        **kwargs: Any,
    ) -> None:
        super().__init__(model_id=model_id, **kwargs)
        if callable(replies):
            self._script: Callable[[list[ChatMessage]], Reply] | None = replies
            self._replies: list[Reply] = []
        elif isinstance(replies, (str, bytes)) or not isinstance(replies, Sequence):
            raise TypeError(f"replies must be a list of replies or a function of the messages, got {replies!r}")
        else:
            self._script = None
            self._replies = list(replies)
        if not isinstance(delay, (int, float)) or delay < 0:
            raise ValueError(f"delay must be a number of seconds >= 0, got {delay!r}")
        if isinstance(token_usage, TokenUsage):
            token_usage = (token_usage.input_tokens, token_usage.output_tokens)
        if token_usage not in ("estimate", None) and not (
            isinstance(token_usage, tuple) and len(token_usage) == 2 and all(isinstance(n, int) for n in token_usage)
        ):
            raise ValueError(f"token_usage must be 'estimate', (input, output) ints or None, got {token_usage!r}")
        self.delay = float(delay)
        self.token_usage = token_usage
        self._lock = threading.Lock()
        self.calls = 0
        self.received: list[list[ChatMessage]] = []  # the messages of every call, in order

    @property
    def estimates_tokens(self) -> bool:
        """Whether the token counts it reports are estimates (``token_usage="estimate"``), not a provider's."""
        return self.token_usage == "estimate"

    def generate(
        self,
        messages: list[ChatMessage],
        stop_sequences: list[str] | None = None,
        response_format: dict[str, str] | None = None,
        tools_to_call_from: list[Any] | None = None,
        **kwargs: Any,
    ) -> ChatMessage:
        with self._lock:
            index = self.calls
            self.calls += 1
            self.received.append(list(messages))
        if self._script is not None:
            reply = self._script(list(messages))
        elif index < len(self._replies):
            reply = self._replies[index]
        else:
            raise ScriptExhaustedError(
                f"ScriptedModel has {len(self._replies)} replies and was asked for reply {index + 1}"
            )
        if self.delay:
            time.sleep(self.delay)
        if isinstance(reply, ChatMessage):
            if reply.token_usage is None:
                reply.token_usage = self._usage(messages, message_text(reply))
            return reply
        if not isinstance(reply, str):
            raise TypeError(f"a scripted reply must be a str or ChatMessage, got {type(reply).__name__}")
        text = reply if ("<code>" in reply or "```" in reply) else f"Thought: step {index + 1}.\n<code>\n{reply}\n</code>"
        return ChatMessage(role=MessageRole.ASSISTANT, content=text, token_usage=self._usage(messages, text))

    def _usage(self, messages: Sequence[ChatMessage], reply: str) -> TokenUsage | None:
        if self.token_usage is None:
            return None
        if self.token_usage == "estimate":
            chars_in = sum(len(message_text(m)) for m in messages)
            return TokenUsage(input_tokens=max(1, chars_in // 4), output_tokens=max(1, len(reply) // 4))
        return TokenUsage(input_tokens=self.token_usage[0], output_tokens=self.token_usage[1])

    def __repr__(self) -> str:
        return f"<ScriptedModel calls={self.calls} delay={self.delay:g}s>"
