"""A running sub-agent and its coordinator: messages down, progress up.

``SubAgentLink.attach(instance)`` wires one managed-agent instance (run as task
``task_id`` on this process): its inbox reads the task's mailbox before each step
(``send_message``); each step's progress note says the step and the model's latest thought;
a ``report_progress(note)`` tool lets it say more (it wins over the thought until its
next report). ``close()`` drops the mailbox when the task ends, recording in the task's
events how many messages came too late to be read.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from smolagents.tools import Tool

from ._inbox import hook_inbox, unhook_inbox
from ._input import InputRequests, RequestInputTool, current_requests, reset_requests, set_requests
from ._messages import Mailboxes, RemoteBoxes, reset_mailboxes, set_mailboxes
from ._progress import reset_sink, set_sink

__all__ = ["SubAgentLink", "ReportProgressTool", "live_scope", "thought_of"]

ProgressSink = Callable[[str, str], None]

#: characters of a thought or report shown in check_task / list_tasks
NOTE_CHARS = 160


def thought_of(step: Any) -> str:
    """The first line of what the model wrote before its code (its thought), or ''."""
    text = getattr(step, "model_output", None)
    if not isinstance(text, str):
        return ""
    for line in text.splitlines():
        line = line.strip()
        if line.lower().startswith("thought:"):
            line = line[len("thought:"):].strip()
        if line and not line.startswith(("<code>", "```")):
            return line[:NOTE_CHARS]
    return ""


class ReportProgressTool(Tool):
    name = "report_progress"
    description = ("Tell the agent that gave you this task how far you are (one short line); it sees it when it "
                   "checks on you. Example: report_progress('3 of 5 sources read')")
    inputs = {"note": {"type": "string", "description": "one short line"}}
    output_type = "string"

    def __init__(self, report: Callable[[str], None]) -> None:
        self._report = report
        super().__init__()

    def forward(self, note: str) -> str:
        self._report(str(note))
        return "noted"


class SubAgentLink:
    """Messages and progress for one sub-agent task (``task_id``) on this process."""

    def __init__(self, task_id: str, sink: ProgressSink | None, boxes: Mailboxes | RemoteBoxes | None, name: str,
                 token: Any = None) -> None:
        self.task_id = task_id
        self.token = token  # the task's CancelToken: a question's wait ends when the task does
        self.questions = current_requests()
        self.sink = sink
        self.boxes = boxes
        self.name = name
        self.reported = ""  # the latest report_progress note
        self.step = ""  # "step 2 of at most 20"

    def attach(self, instance: Any, *, own_tools: bool = True) -> None:
        """Wire ``instance`` (a fresh copy or a factory's agent; with ``own_tools=False`` a nested
        coordinator's CodeAgent, which keeps its hooks and tools)."""
        if own_tools:
            unhook_inbox(instance)  # a copy of a hooked agent must not render the original's memory
        if self.boxes is not None:
            self.boxes.open(self.task_id)
            hook_inbox(instance, "message", lambda: self.boxes.drain_for(self.task_id))
        if own_tools and self.sink is not None and "report_progress" not in instance.tools:
            instance.tools = {**instance.tools, "report_progress": ReportProgressTool(self._report)}
        if own_tools and self.questions is not None and "request_input" not in instance.tools:
            asker = RequestInputTool(self.questions, self.task_id, self.token)
            instance.tools = {**instance.tools, "request_input": asker}

    def on_step(self, step: Any, max_steps: Any) -> None:
        """After an action step: the progress note (step, then the report or the thought)."""
        self.step = f"{self.name} finished step {step.step_number} of at most {max_steps}"
        thought = thought_of(step)
        self._send(self.reported or (f"thought: {thought}" if thought else ""))

    def _report(self, note: str) -> None:
        self.reported = " ".join(note.split())[:NOTE_CHARS]
        self._send(self.reported)

    def _send(self, detail: str) -> None:
        if self.sink is not None:
            head = self.step or f"{self.name} is at its first step"
            self.sink(self.task_id, f"{head}; {detail}" if detail else head)

    def close(self) -> None:
        """The agent's run ended: drop its box, and log in the task's events what it never read."""
        if self.boxes is None:
            return
        unread = self.boxes.close(self.task_id)
        if unread and self.questions is not None:  # the agent's InputRequests knows its TaskManager
            self.questions.tm.record_event(
                self.task_id, "messages_unread",
                f"{len(unread)} message(s) came after the agent's last step and were never read")


@contextlib.contextmanager
def live_scope(mailboxes: Mailboxes | None, questions: InputRequests | None,
               progress: ProgressSink | None) -> Iterator[None]:
    """Inside it, tasks submitted to a ``TaskManager`` (which copies the submitter's context) can be
    messaged (``mailboxes``), ask for input (``questions``) and report progress (``progress``), as an
    AsyncAgent's tasks can: for a host that runs tools and managed agents without an AsyncAgent."""
    boxes, asks, sink = set_mailboxes(mailboxes), set_requests(questions), set_sink(progress)
    try:
        yield
    finally:
        reset_sink(sink)
        reset_requests(asks)
        reset_mailboxes(boxes)
