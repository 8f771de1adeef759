"""A task can ask for input: ``request_input(question)`` from inside a tool or a sub-agent.

The task shows as ``waiting_for_input`` with its question (``TaskManager.ask``) while its
code blocks for the answer; the coordinating model sees the question in its next
completion notices and answers with ``send_message(task_id, answer)``; a human answers
with ``AsyncAgent.answer(task_id, text)``. The wait ends with the answer, or when the
task is cancelled or times out (its own ``timeout`` applies as usual: the engine times it
out, the wait wakes and raises), or at ``request_input``'s own ``timeout``.

The worker thread is *not* released while it waits: the question is asked from the
middle of a synchronous Python call (the tool's ``forward``, the sub-agent's code), whose
stack cannot be parked without async code. So the task keeps its slot; give such tasks a
``timeout``, or more ``max_workers``. A sub-agent built with smolagents' default executor
(``timeout_seconds=30``, checked only after a code block returns) loses the step in which it waited
longer than that: build sub-agents that ask with ``executor_kwargs={"timeout_seconds": None}``.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from smolagents.tools import Tool

from ..engine import TaskManager, cancel_token, check_seconds, current_task
from ..errors import InvalidArgumentError, TaskCancelledError, TaskTimeoutError
from ._observation import preview

__all__ = ["InputRequests", "RequestInputTool", "request_input"]

_log = logging.getLogger("async_task_system")
_requests: contextvars.ContextVar[InputRequests | None] = contextvars.ContextVar(
    "async_task_system_input_requests", default=None)


@dataclass
class _Question:
    task_id: str
    name: str
    kind: str
    text: str
    answered: threading.Event = field(default_factory=threading.Event)
    answer: str | None = None


class InputRequests:
    """The open questions of one agent's tasks, and their answers. Thread-safe."""

    def __init__(self, tm: TaskManager) -> None:
        self.tm = tm
        self._lock = threading.Lock()
        self._open: dict[str, _Question] = {}
        self._announced: set[str] = set()  # task ids whose current question was shown in a notice
        self._listeners: list[Callable[[str], object]] = []  # called with the task id once it asks

    def on_question(self, callback: Callable[[str], object]) -> None:
        """Call ``callback(task_id)`` each time a task starts waiting for input (on the asking thread,
        after its status shows the question; whatever the callback raises is logged, the ask goes on)."""
        with self._lock:
            self._listeners.append(callback)

    def ask(self, task_id: str, question: str, *, timeout: float | None = None, token: Any = None) -> str:
        """Block until ``question`` (asked by running task ``task_id``) is answered; return the answer."""
        if _on_an_event_loop():
            raise RuntimeError("request_input() blocks until the answer comes, so it cannot run inside a coroutine "
                               "task (it would stall every coroutine on the loop); ask from a plain (def) tool")
        if not isinstance(question, str) or not question.strip():
            raise InvalidArgumentError(f"request_input needs a question (a non-empty str), got {question!r}")
        timeout = check_seconds("timeout", timeout)
        info = self.tm.get(task_id)
        asked = _Question(task_id, info.name, info.metadata.get("task_type", "task"), question[:10_000])
        with self._lock:
            if task_id in self._open:
                raise InvalidArgumentError(f"task {task_id} already waits for an answer; one question at a time")
            self._open[task_id] = asked
            self._announced.discard(task_id)
        def wake(reason: str) -> None:
            asked.answered.set()

        if token is not None:
            token.add_callback(wake)
        outcome = "given up"
        try:
            if not self.tm.ask(task_id, asked.text):
                raise TaskCancelledError(f"task {task_id} is not running; it cannot wait for input")
            self._tell_listeners(task_id)
            asked.answered.wait(timeout)
            if asked.answer is not None:
                outcome = "input received"
                return asked.answer
            if token is not None and token.cancelled:
                outcome = "the task ended while it waited"
                raise TaskCancelledError(f"task {task_id} ended while it waited for input: {token.reason}")
            outcome = f"no answer within {timeout or 0:g}s"
            raise TaskTimeoutError(f"no answer to the question {preview(question, 80)} within {timeout or 0:g}s")
        finally:
            if token is not None:
                token.remove_callback(wake)  # a long-lived token would keep every question it ever asked
            with self._lock:
                self._open.pop(task_id, None)
                self._announced.discard(task_id)
            self.tm.answered(task_id, outcome)

    def _tell_listeners(self, task_id: str) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(task_id)
            except BaseException:  # noqa: BLE001 - a listener's bug (even SystemExit) must not lose the question
                _log.exception("an on_question callback raised; the question stays open")

    def is_open(self, task_id: str) -> bool:
        """Whether ``task_id`` waits for an answer (a question answered but not yet taken is not open)."""
        with self._lock:
            asked = self._open.get(task_id)
            return asked is not None and asked.answer is None

    def question(self, task_id: str) -> str | None:
        with self._lock:
            asked = self._open.get(task_id)
            return asked.text if asked else None

    def answer(self, task_id: str, text: str) -> bool:
        """Answer ``task_id``'s open question; False if it has none (any more)."""
        with self._lock:
            asked = self._open.get(task_id)
            if asked is None or asked.answer is not None:
                return False
            asked.answer = text
        asked.answered.set()
        return True

    def new_question_lines(self, limit: int | None = None) -> list[str]:
        """Notice lines for at most ``limit`` questions not yet announced (each announced once: the
        ones past ``limit`` wait for a later notice, counted in an "and N more ask" line)."""
        with self._lock:
            fresh = [q for tid, q in self._open.items() if tid not in self._announced and q.answer is None]
            shown = fresh if limit is None else fresh[: max(0, limit)]
            self._announced.update(q.task_id for q in shown)
        lines = [f"- {q.task_id} ({q.kind} {q.name}) is waiting for input: {preview(q.text, 300)}. "
                 f"Answer with send_message('{q.task_id}', '...')" for q in shown]
        if len(fresh) > len(shown):
            lines.append(f"- and {len(fresh) - len(shown)} more ask for input (shown in a later notice; "
                         "list_tasks('waiting_for_input') lists them now)")
        return lines


def set_requests(requests: InputRequests | None) -> contextvars.Token:
    return _requests.set(requests)


def reset_requests(token: contextvars.Token) -> None:
    _requests.reset(token)


def current_requests() -> InputRequests | None:
    return _requests.get()


def request_input(question: str, timeout: float | None = None) -> str:
    """From inside a task of an ``AsyncAgent`` (a tool's code): ask ``question`` and return the answer.

    The task shows as ``waiting_for_input`` until the coordinating model (``send_message``) or a
    human (``AsyncAgent.answer``) answers. Raises ``TaskCancelledError`` if the task is cancelled or
    times out meanwhile, ``TaskTimeoutError`` past ``timeout`` seconds, and ``RuntimeError`` outside
    an agent's task. The worker thread stays taken while it waits (see the module docstring).
    """
    task = current_task()
    requests = _requests.get()
    if task is None or requests is None:
        raise RuntimeError("request_input() works only inside a task an AsyncAgent runs (a tool or sub-agent "
                           "it submitted); elsewhere, nobody is there to answer")
    return requests.ask(task.task_id, question, timeout=timeout, token=cancel_token())


def _on_an_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class RequestInputTool(Tool):
    name = "request_input"
    description = ("Ask the agent that gave you this task a question and wait for its answer (use it when you "
                   "cannot go on without one). Example: year = request_input('Which year should I cover?')")
    inputs = {"question": {"type": "string", "description": "one clear question"}}
    output_type = "string"

    def __init__(self, requests: InputRequests, task_id: str, token: Any) -> None:
        self._requests, self._task_id, self._token = requests, task_id, token
        super().__init__()

    def forward(self, question: str) -> str:
        return self._requests.ask(self._task_id, str(question), token=self._token)
