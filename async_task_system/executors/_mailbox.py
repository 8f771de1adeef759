"""Messages to tasks that run in another process: the interface, free of any executor's imports.

An executor that runs attempts elsewhere and can carry messages to them offers, on the
submitting side, ``post_message(task_id, text, limit)`` (how many now wait), and, in the
process where the attempt runs, makes a ``RemoteInbox`` current for the attempt
(``using_inbox``). A running task reads it with ``current_inbox()`` (a managed agent does, before
each step). The Dask transport is in ``_dask_messages``.
"""

from __future__ import annotations

import contextvars
from typing import Protocol

__all__ = ["RemoteInbox", "MessageCarrier", "current_inbox", "set_inbox"]


class RemoteInbox(Protocol):
    """Where the attempt running here finds the messages sent to its task."""

    def take(self) -> list[str]:
        """Every message waiting, oldest first (they are removed)."""


class MessageCarrier(Protocol):
    """An executor's submitting side: queue a message for a task of its, wherever that runs."""

    def post_message(self, task_id: str, text: str, limit: int) -> int | None:
        """Queue ``text`` for ``task_id``; return how many messages now wait for it, or None (not
        queued) if ``limit`` already do."""


_inbox: contextvars.ContextVar[RemoteInbox | None] = contextvars.ContextVar("async_task_system_inbox",
                                                                             default=None)


def current_inbox() -> RemoteInbox | None:
    """The inbox of the attempt running here in another process than its manager's, if its executor has one."""
    return _inbox.get()


def set_inbox(inbox: RemoteInbox | None) -> None:
    """Make ``inbox`` current (in the attempt's own context copy, so it ends with the attempt)."""
    _inbox.set(inbox)
