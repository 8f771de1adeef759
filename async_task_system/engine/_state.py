"""The manager's private, mutable records: a task (``Task``) and a blocked ``wait()`` (``Waiter``).

Every field is guarded by ``TaskManager._lock``; readers get ``TaskInfo`` snapshots.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable
from typing import Any

from ._cancel import CancelToken
from ._info import TaskStatus
from ._markers import MarkerPlan
from ._retry import Backoff, RetryOn

__all__ = ["Task", "Waiter"]

PENDING = TaskStatus.PENDING


class Waiter:
    """One blocked ``wait()`` call. Counted down under the manager's lock."""

    __slots__ = ("remaining", "event")

    def __init__(self, remaining: int) -> None:
        self.remaining = remaining
        self.event = threading.Event()

    def task_done(self) -> None:
        self.remaining -= 1
        if self.remaining <= 0:
            self.event.set()


class Task:
    """The manager's own record of a task. Guarded by ``TaskManager._lock``; never handed out."""

    __slots__ = (
        "id", "name", "fn", "args", "kwargs", "priority", "timeout", "max_retries", "retry_on",
        "backoff", "depends_on", "metadata", "status", "created_at", "started_at", "finished_at",
        "finished_mono", "attempts", "result", "error", "events", "token", "context", "seq",
        "waiters", "dependents", "unmet", "inflight", "holds_slot", "callbacks", "observers",
        "dep_results", "plan", "lane", "question", "resources", "waiting_reason",
    )

    def __init__(self, task_id: str, name: str, fn: Callable[..., Any], args: tuple, kwargs: dict,
                 priority: int, timeout: float | None, max_retries: int, retry_on: RetryOn, backoff: Backoff,
                 depends_on: tuple[str, ...], metadata: dict, context: contextvars.Context | None,
                 seq: int, plan: MarkerPlan | None, observers: tuple, lane: Any = None,
                 resources: dict[str, float] | None = None) -> None:
        self.id = task_id
        self.name = name
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.priority = priority
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry_on = retry_on
        self.backoff = backoff
        self.depends_on = depends_on
        self.metadata = metadata
        self.context = context
        self.seq = seq
        self.status = PENDING
        self.created_at = time.time()
        self.token = CancelToken()
        self.unmet = 0
        self.started_at = None
        self.finished_at = None
        self.finished_mono = 0.0
        self.attempts = 0
        self.result = None
        self.error = None
        self.events = []
        self.waiters: Any = ()  # Waiter objects blocked on this task
        self.dependents: Any = ()  # Task objects waiting for this one
        self.inflight = 0  # attempt number handed to the executor and not yet ended, else 0
        self.holds_slot = False  # invariant: True iff inflight and the task is not final
        self.callbacks: Any = ()  # a list once a callback is added
        self.observers = observers  # the manager's observers that record this task, chosen at submit
        self.plan = plan  # where the arguments hold ResultOf markers, or None
        # Results of completed dependencies, kept here as each completes: the dependency's own
        # record may be forgotten (read, then past max_finished) before this task starts.
        self.dep_results: dict[str, Any] | None = None
        self.lane = lane  # the scheduler's Lane its attempts run in (threads or coroutines)
        # Live coordination: a running task whose code asked a question (TaskManager.ask). Internally
        # it stays RUNNING (deadline, cancel and finish work as for any running task); snapshots say
        # WAITING_FOR_INPUT while the question is open.
        self.question: str | None = None
        self.resources = resources or {}  # what each attempt needs (checked), e.g. {"GPU": 1.0}
        self.waiting_reason: str | None = None  # why it is ready but not started (resources), else None
