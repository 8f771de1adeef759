"""What the manager hands an executor: one attempt of one task, and how to report on it.

The manager (policy) decides what runs when; an executor (mechanism) runs a
``TaskCall`` and reports back through the ``AttemptReporter``: ``begin`` before
running (the one gate that decides whether a cancelled task still runs) and
``end`` after, from any thread.
"""

from __future__ import annotations

import abc
import contextlib
import contextvars
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ContextManager, Protocol

from ._cancel import CancelToken, TaskContext, _current

__all__ = ["TaskCall", "AttemptReporter", "Executor", "TaskObserver"]


@dataclass(slots=True)
class TaskCall:
    """One attempt of one task, ready to run."""

    task_id: str
    name: str
    attempt: int
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    token: CancelToken
    # The submitter's context (OpenTelemetry's lives in it); None when propagation is off.
    context: contextvars.Context | None
    metadata: dict[str, Any] = field(default_factory=dict)
    priority: int = 0
    # Entered in the worker around the attempt, inside the task's context (tracing spans).
    scopes: Sequence[Callable[[TaskCall], ContextManager[Any]]] = ()

    def run(self) -> Any:
        """Run the callable here, in a copy of the submitter's context, as ``current_task()``."""
        # A fresh copy per attempt: nothing the task sets leaks into the next task on this thread.
        ctx = self.context.copy() if self.context is not None else contextvars.Context()
        return ctx.run(self._invoke)

    def _invoke(self) -> Any:
        _current.set(TaskContext(self.task_id, self.name, self.attempt, self.token))
        if not self.scopes:
            return self.fn(*self.args, **self.kwargs)
        if len(self.scopes) == 1:
            with self.scopes[0](self):
                return self.fn(*self.args, **self.kwargs)
        with contextlib.ExitStack() as stack:
            for scope in self.scopes:
                stack.enter_context(scope(self))
            return self.fn(*self.args, **self.kwargs)


class AttemptReporter(Protocol):
    """The manager's side of an executor: how an executor reports on a ``TaskCall``."""

    def begin(self, call: TaskCall) -> bool:
        """Call just before running; False means do not run (the task was cancelled)."""

    def end(self, call: TaskCall, ok: bool, value: Any) -> None:
        """Call once after running: ``ok`` with the result, or not ``ok`` with the exception."""

    def capacity_changed(self) -> None:
        """Call when ``Executor.capacity`` grew (a worker joined): queued tasks start at once."""


class Executor(abc.ABC):
    """Runs task attempts somewhere. Knows nothing of priorities, retries or dependencies.

    An executor that runs attempts in another process reports through
    ``fn.unpack_remote(ok, value) -> (ok, value)`` when the callable has one, before ``end``:
    the callable's own way to bring home what it measured remotely (a sub-agent's token usage).
    """

    #: How many attempts can run at once, or None for "as many as it is given".
    capacity: int | None = None

    @abc.abstractmethod
    def start(self, call: TaskCall, reporter: AttemptReporter) -> None:
        """Begin running ``call`` without blocking; report through ``reporter``.

        Raising here means the attempt could not be started: the task fails with that error.
        """

    def check(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Called by ``submit`` before anything is queued: raise ``InvalidArgumentError`` naming
        the object if this executor cannot run it (for instance, it does not pickle)."""

    def shutdown(self, wait: bool = True) -> None:
        """Release resources; with ``wait`` return only when every started attempt has ended."""

    def describe(self) -> str:
        return type(self).__name__


class TaskObserver:
    """Hooks for instrumentation (tracing): all optional, all called outside the manager's lock."""

    def is_active(self) -> bool:
        """Whether to observe a task; asked once per task, when it first starts. False skips
        every hook of this observer for that task (and costs the manager nothing more)."""
        return True

    def attempt_scope(self, call: TaskCall) -> ContextManager[Any]:
        """Entered in the worker around one attempt, inside the task's own context."""
        return contextlib.nullcontext()

    def on_event(self, task_id: str, event: Any, info: Any | None) -> None:
        """A ``TaskEvent`` was logged; ``info`` is a ``TaskInfo`` snapshot for final events, else None."""
