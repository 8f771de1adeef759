"""The executor interface: one attempt of one task (``TaskCall``), and how to report on it.

The manager (policy) decides what runs when; an executor (mechanism) runs a
``TaskCall`` and reports back through the ``AttemptReporter`` it is handed:
``attempt_starting`` just before running (the one gate that decides whether a
cancelled task still runs, and where its timeout clock starts) and
``attempt_finished`` after, from any thread.
"""

from __future__ import annotations

import abc
import contextlib
import contextvars
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ContextManager, Protocol

from ._cancel import CancelToken, TaskContext, _current

__all__ = ["TaskCall", "AttemptReporter", "Executor"]

_log = logging.getLogger("async_task_system")


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
    timeout: float | None = None  # seconds this attempt may run, counted from attempt_starting
    # Entered in the worker around the attempt, inside the task's context (tracing spans).
    scopes: Sequence[Callable[[TaskCall], ContextManager[Any]]] = ()
    # What the attempt needs to run, checked by the manager: {"GPU": 1.0}; empty for nothing.
    resources: dict[str, float] = field(default_factory=dict)

    def run(self) -> Any:
        """Run the callable here, in a copy of the submitter's context, as ``current_task()``."""
        # A fresh copy per attempt: nothing the task sets leaks into the next task on this thread.
        ctx = self.context.copy() if self.context is not None else contextvars.Context()
        return ctx.run(self._invoke)

    def _invoke(self) -> Any:
        _current.set(TaskContext(self.task_id, self.name, self.attempt, self.token))
        if not self.scopes:
            return self.fn(*self.args, **self.kwargs)
        with contextlib.ExitStack() as stack:
            for scope in self.scopes:
                stack.enter_context(_GuardedScope(scope, self))
            return self.fn(*self.args, **self.kwargs)


class _GuardedScope:
    """An observer's attempt scope whose failures are logged, never the task's: the callable runs
    (and its outcome stands) whatever the scope's factory, ``__enter__`` or ``__exit__`` raise."""

    __slots__ = ("_factory", "_call", "_scope")

    def __init__(self, factory: Callable[[TaskCall], ContextManager[Any]], call: TaskCall) -> None:
        self._factory, self._call, self._scope = factory, call, None

    def __enter__(self) -> None:
        try:
            scope = self._factory(self._call)
            scope.__enter__()
            self._scope = scope
        except Exception:  # noqa: BLE001 - instrumentation must not fail a task
            _log.exception("a task observer's attempt_scope raised on entry; the attempt runs without it")

    def __exit__(self, *exc_info: Any) -> bool:
        if self._scope is not None:
            try:
                self._scope.__exit__(*exc_info)
            except Exception:  # noqa: BLE001
                _log.exception("a task observer's attempt_scope raised on exit; the attempt's outcome stands")
        return False


class AttemptReporter(Protocol):
    """The manager's side of an executor: how an executor reports on a ``TaskCall``. Never raises."""

    def attempt_starting(self, call: TaskCall, where: str | None = None) -> bool:
        """Call just before running; False means do not run (the task was cancelled meanwhile).
        The attempt's timeout counts from here. ``where``: the worker that runs it (e.g. a Dask
        worker's address), logged in the task's events as ``worker``."""

    def attempt_finished(self, call: TaskCall, ok: bool, value: Any) -> None:
        """Call once after running: ``ok`` with the result, or not ``ok`` with the exception."""

    def capacity_changed(self) -> None:
        """Call when ``Executor.capacity`` grew or its ``offers`` changed (a worker joined or left):
        queued tasks start at once."""


class Executor(abc.ABC):
    """Runs task attempts somewhere. Knows nothing of priorities, retries or dependencies.

    An executor that runs attempts in another process reports through
    ``fn.unpack_remote(ok, value) -> (ok, value)`` when the callable has one, before ``attempt_finished``:
    the callable's own way to bring home what it measured remotely (a sub-agent's token usage).
    """

    #: How many attempts can run at once, or None for "as many as it is given".
    capacity: int | None = None
    #: True if it also runs coroutine functions (awaiting them); else the manager runs those
    #: on its own event loop and never hands them to this executor.
    runs_coroutines: bool = False
    #: The resources each of its workers offers (``[{"GPU": 1.0}, {}]``: one worker with a GPU, one
    #: without), or None: it does not say, and the manager hands it attempts whatever they need. When
    #: given, the manager accounts them (read at construction and after each ``capacity_changed``):
    #: it hands over an attempt only while what it needs is free, and a task that needs more than
    #: any worker offers waits with that reason (``TaskInfo.waiting_reason``) until one joins.
    offers: Sequence[Mapping[str, float]] | None = None
    #: True if ``offers`` never change (a local pool): a task that needs more than they hold is
    #: refused at submit instead of waiting for a worker that cannot join.
    fixed_offers: bool = False

    @abc.abstractmethod
    def start(self, call: TaskCall, reporter: AttemptReporter) -> None:
        """Begin running ``call`` without blocking; report through ``reporter``.

        Raising here means the attempt could not be started: the task fails with that error.
        """

    def attach(self, reporter: AttemptReporter) -> None:
        """Called once by the manager, before any attempt: an executor whose capacity or ``offers``
        change keeps ``reporter`` to call ``capacity_changed`` (a task may wait for a worker that
        offers a GPU before any attempt was ever started)."""

    def check(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Called by ``submit`` before anything is queued: raise ``InvalidArgumentError`` naming
        the object if this executor cannot run it (for instance, it does not pickle)."""

    def shutdown(self, wait: bool = True) -> None:
        """Release resources; with ``wait`` return only when every started attempt has ended."""

    def describe(self) -> str:
        return type(self).__name__
