"""Messages to running sub-agents: ``send_message(task_id, message)``.

An ``AsyncAgent`` keeps one ``Mailboxes`` and sets it in the context its tasks are
submitted from (as the progress sink); a managed-agent task running on a thread of this
process (``ManagedAgentRun``) reads its own box before each of its steps (an inbox, see
``_inbox``), so the message is a user message in its next model call. A message to an
agent task that has not started yet waits in its box. An agent task that runs in another
process (a Dask worker) gets its messages through its executor (``post_message``, the
``executors._mailbox`` interface): there it reads the inbox its executor made current.
Refused, with the reason: an unknown id, a tool task, a finished task, and a task on an
executor that carries no messages.
"""

from __future__ import annotations

import contextvars
import threading
from collections import deque
from typing import Any

from ..engine import TaskManager, ThreadExecutor
from ..errors import InvalidArgumentError
from ..executors._mailbox import RemoteInbox, current_inbox
from ._observation import clip

__all__ = ["Mailboxes", "MAX_MESSAGE_CHARS", "MAX_QUEUED_MESSAGES", "deliver_message"]

#: the longest message kept (longer ones are refused, naming the length)
MAX_MESSAGE_CHARS = 20_000
#: the most messages waiting in one box
MAX_QUEUED_MESSAGES = 100

_mailboxes: contextvars.ContextVar[Mailboxes | None] = contextvars.ContextVar(
    "async_task_system_mailboxes", default=None)


class Mailboxes:
    """Messages waiting for agent tasks, by task id. Thread-safe; bounded per box."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._boxes: dict[str, deque[str]] = {}
        self._open: set[str] = set()  # tasks whose agent is running here and reads its box
        self._watched: set[str] = set()  # tasks whose box is dropped when they end (see watch)

    def post(self, task_id: str, text: str) -> int:
        """Queue ``text`` for ``task_id``; return how many messages now wait there."""
        with self._lock:
            box = self._boxes.setdefault(task_id, deque())
            if len(box) >= MAX_QUEUED_MESSAGES:
                raise InvalidArgumentError(
                    f"task {task_id} already has {len(box)} unread messages (at most {MAX_QUEUED_MESSAGES}); "
                    "wait for it to take them (its next step) before sending more"
                )
            box.append(text)
            return len(box)

    def open(self, task_id: str) -> None:
        with self._lock:
            self._open.add(task_id)

    def is_open(self, task_id: str) -> bool:
        with self._lock:
            return task_id in self._open

    def take(self, task_id: str) -> list[str]:
        """Every message waiting for ``task_id``, oldest first (its box is emptied)."""
        with self._lock:
            box = self._boxes.pop(task_id, None)
            return list(box) if box else []

    def watch(self, task_id: str) -> bool:
        """True the first time only: the caller arranges for ``close(task_id)`` when the task ends."""
        with self._lock:
            first = task_id not in self._watched
            self._watched.add(task_id)
            return first

    def close(self, task_id: str) -> list[str]:
        """The task ended: drop its box; return what it never read."""
        with self._lock:
            self._open.discard(task_id)
            self._watched.discard(task_id)
            box = self._boxes.pop(task_id, None)
            return list(box) if box else []

    def drain_for(self, task_id: str) -> str | None:
        """The inbox text for ``task_id``'s agent: its messages as one user message, or None."""
        return inbox_text(self.take(task_id))


class RemoteBoxes:
    """The box of the one agent task running here, in another process than its coordinator's: what
    its executor's inbox holds (``Mailboxes``' reading side, for ``SubAgentLink``)."""

    def __init__(self, inbox: RemoteInbox) -> None:
        self._inbox = inbox

    def open(self, task_id: str) -> None:
        pass

    def drain_for(self, task_id: str) -> str | None:
        return inbox_text(self._inbox.take())

    def close(self, task_id: str) -> list[str]:
        return []


def inbox_text(messages: list[str], sender: str = "the agent that gave you this task",
               one: str = "answer it or act on it") -> str | None:
    """Messages as one user message for the agent they were sent to (from ``sender``), or None."""
    if not messages:
        return None
    if len(messages) == 1:
        return f"New message from {sender} ({one}):\n{messages[0]}"
    body = "\n".join(f"{n}. {m}" for n, m in enumerate(messages, 1))
    return f"New messages from {sender} (act on them; the last one wins):\n{body}"


def set_mailboxes(boxes: Mailboxes | None) -> contextvars.Token:
    return _mailboxes.set(boxes)


def reset_mailboxes(token: contextvars.Token) -> None:
    _mailboxes.reset(token)


def current_mailboxes() -> Mailboxes | RemoteBoxes | None:
    """The boxes agent tasks read here: the coordinator's (same process), else the remote inbox, if any."""
    boxes = _mailboxes.get()
    if boxes is None:
        inbox = current_inbox()
        return None if inbox is None else RemoteBoxes(inbox)
    return boxes


def message_text(message: Any) -> str:
    """``message`` checked, as a plain str: a non-empty one of at most ``MAX_MESSAGE_CHARS`` that encodes as UTF-8."""
    if not isinstance(message, str):
        try:
            shown = clip(repr(message), 80)
        except Exception:  # noqa: BLE001 - a broken __repr__ must not hide the real mistake
            shown = f"<{type(message).__name__} object>"
        raise InvalidArgumentError(f"message must be text (a str), got {type(message).__name__}: {shown}")
    message = str.__str__(message)  # a str subclass as a plain str: none of its methods run later
    if not message.strip():
        raise InvalidArgumentError("message is empty; write what the sub-agent should know or do")
    if len(message) > MAX_MESSAGE_CHARS:
        raise InvalidArgumentError(f"message has {len(message)} characters; at most {MAX_MESSAGE_CHARS} are "
                                   "accepted (send a summary, or pass data as the task's args)")
    try:
        message.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidArgumentError(f"message has an unpaired surrogate {message[exc.start]!r} at position "
                                   f"{exc.start}; send valid Unicode text") from None
    return message


def deliver_message(tm: TaskManager, boxes: Mailboxes, task_id: str, message: Any, questions: Any = None) -> str:
    """Queue ``message`` for agent task ``task_id`` (already a known id), or answer the question it
    waits on (``questions``: an ``InputRequests``), and say what happens next; raise
    ``InvalidArgumentError`` saying why when it reaches nobody."""
    text = message_text(message)
    info = tm.get(task_id)
    kind = info.metadata.get("task_type", "task")
    if questions is not None and questions.answer(task_id, text):
        tm.record_event(task_id, "message", clip(text, 500))
        return f"Answered the question of {task_id} ({info.name}); it goes on with your answer."
    if kind != "agent":
        raise InvalidArgumentError(
            f"{task_id} is a {kind} task ({info.name}) and asks no question; only managed agents read messages "
            "(a tool task only an answer to its request_input). Cancel it and submit it again with other args instead"
        )
    if info.done:
        raise InvalidArgumentError(
            f"{task_id} ({info.name}) already ended ({info.status.value}); a message reaches only an agent task "
            "that has not finished. Submit a new task with what you wanted to say"
        )
    if not isinstance(tm.executor, ThreadExecutor):  # it runs elsewhere: its executor carries the message
        post = getattr(tm.executor, "post_message", None)
        if post is None:
            raise InvalidArgumentError(
                f"{task_id} ({info.name}) runs on {tm.executor.describe()}, which carries no messages to its "
                "tasks. Cancel it and submit it again with what you wanted to say"
            )
        queued = post(task_id, text, MAX_QUEUED_MESSAGES)
        if queued is None:
            raise InvalidArgumentError(
                f"task {task_id} already has {MAX_QUEUED_MESSAGES} unread messages (at most "
                f"{MAX_QUEUED_MESSAGES}); wait for it to take them (its next step) before sending more"
            )
        when = "at the start of its next step (or when it starts)"
    else:
        queued = boxes.post(task_id, text)
        if boxes.watch(task_id):  # its box goes when it ends, even if its agent never starts (cancelled pending)
            tm.add_done_callback(task_id, lambda _info: boxes.close(task_id))
        when = "at the start of its next step" if boxes.is_open(task_id) else "when it starts"
    tm.record_event(task_id, "message", clip(text, 500))
    return (f"Message queued for {task_id} ({info.name}); it reads it {when}"
            + (f" ({queued} unread)." if queued > 1 else "."))

