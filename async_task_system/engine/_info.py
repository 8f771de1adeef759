"""What users read about a task: the status enum, the event log, the error, the ``TaskInfo`` snapshot.

Only the ``TaskManager`` changes its private records (``_state``), under its lock; everyone
else reads a ``TaskInfo`` snapshot, which never changes after it is taken.
"""

from __future__ import annotations

import enum
import traceback
from dataclasses import dataclass, field
from typing import Any, NamedTuple

__all__ = ["TaskStatus", "TaskEvent", "TaskError", "TaskInfo", "FINAL_STATES"]

_MAX_MESSAGE = 100_000  # characters of an exception's message kept in its TaskError


class TaskStatus(str, enum.Enum):
    """Where a task is in its life. The last four are final: a task reaches exactly one."""

    PENDING = "pending"  # ready (or waiting for a retry's backoff), not yet started
    WAITING = "waiting"  # waiting for its dependencies to complete
    RUNNING = "running"
    WAITING_FOR_INPUT = "waiting_for_input"  # running, its code blocked on a question (TaskManager.ask)
    COMPLETED = "completed"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATES

    def __str__(self) -> str:
        return self.value


FINAL_STATES = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.TIMEOUT, TaskStatus.CANCELLED})


class TaskEvent(NamedTuple):
    """One line of a task's event log: a status change, a retry, a discarded late result."""

    time: float  # wall clock, time.time()
    kind: str  # a TaskStatus value, or "retry_scheduled", "late_result_discarded", ...
    reason: str = ""
    attempt: int = 0


@dataclass(frozen=True, slots=True)
class TaskError:
    """What went wrong, in a form that can be shown, stored and sent over the wire."""

    type: str
    message: str
    traceback: str = ""

    @classmethod
    def from_exception(cls, exc: BaseException, *, limit: int = 8) -> TaskError:
        """Never raises: an exception whose ``__str__`` (or traceback) breaks is described by type."""
        kind = type(exc).__name__
        try:
            message = str(exc)
        except Exception as broken:  # noqa: BLE001 - the task's own exception class is user code
            message = f"<str() of the {kind} raised {type(broken).__name__}>"
        try:
            tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=limit))
        except Exception:  # noqa: BLE001
            tb = ""
        if len(tb) > 4000:
            tb = "...\n" + tb[-4000:]
        if len(message) > _MAX_MESSAGE:  # a record must not pin a 100 MB message
            message = f"{message[:_MAX_MESSAGE]}... [cut at {_MAX_MESSAGE} of {len(message)} characters]"
        return cls(type=kind, message=message, traceback=tb)

    def __str__(self) -> str:
        return f"{self.type}: {self.message}" if self.message else self.type


@dataclass(frozen=True, slots=True)
class TaskInfo:
    """A snapshot of one task, as returned by ``TaskManager.get()`` and ``tasks()``."""

    id: str
    name: str
    status: TaskStatus
    priority: int
    created_at: float
    started_at: float | None
    finished_at: float | None
    attempts: int
    max_retries: int
    timeout: float | None
    depends_on: tuple[str, ...]
    result: Any
    error: TaskError | None
    events: tuple[TaskEvent, ...]
    metadata: dict[str, Any] = field(default_factory=dict)
    question: str | None = None  # what a task waiting for input asked
    resources: dict[str, float] = field(default_factory=dict)  # what each attempt needs, e.g. {"GPU": 1.0}
    # Why a pending task has not started although it is ready: "no worker offers GPU=1 (...)", or
    # "waiting for GPU=1, held by running tasks"; None when nothing but a free slot is missing.
    waiting_reason: str | None = None

    @property
    def done(self) -> bool:
        return self.status.is_final

    @property
    def queue_wait(self) -> float | None:
        """Seconds from submission to the first start (None if it never started)."""
        return None if self.started_at is None else self.started_at - self.created_at

    @property
    def run_time(self) -> float | None:
        """Seconds from the first start to the end (None unless it started and ended)."""
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    @property
    def reason(self) -> str:
        """The reason given for the final transition (empty while the task is unfinished)."""
        if not self.status.is_final:
            return ""
        for event in reversed(self.events):
            if event.kind == self.status.value:
                return event.reason
        return ""

    def __repr__(self) -> str:
        return f"<TaskInfo {self.id} {self.name!r} {self.status.value}>"
