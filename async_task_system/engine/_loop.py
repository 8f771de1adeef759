"""Coroutine tasks: one event loop on one daemon thread, many coroutines, real cancellation.

``EventLoopExecutor`` runs the attempts of coroutine tasks (``async def`` functions) as
asyncio tasks on a loop it owns. Unlike a thread, a coroutine can be stopped: when the
task's ``CancelToken`` fires (``cancel()``, a timeout, shutdown), the asyncio task is
cancelled from whichever thread fired it, the coroutine sees ``CancelledError`` at its
next ``await`` and its ``finally`` blocks run. The loop thread starts with the first
coroutine task and exits at ``shutdown()``.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import contextvars
import functools
import inspect
import logging
import math
import threading
import types
from collections.abc import Callable
from typing import Any, Literal

from ..errors import InvalidArgumentError, ShutdownError, TaskCancelledError
from ._executor import AttemptReporter, Executor, TaskCall, _GuardedScope
from ._cancel import CancelToken, TaskContext, _current
from ._validate import quote

__all__ = [
    "EventLoopExecutor", "CallableKind", "callable_kind", "check_runnable", "not_callable_error",
    "refuse_coroutine_result",
]

_log = logging.getLogger("async_task_system")

CANCEL_GRACE = 1.0  # seconds run() waits for a cancelled coroutine to end before it leaves it behind

CallableKind = Literal["function", "coroutine", "generator", "async generator"]


def callable_kind(fn: Callable[..., Any]) -> CallableKind:
    """What calling ``fn`` gives: a value, a coroutine, a generator or an async generator.

    Looks through ``functools.partial`` and bound methods, and at ``__call__`` of a callable
    object; a class is a plain function (calling it makes an instance).
    """
    code = getattr(fn, "__code__", None)  # fast path: a plain function or bound method
    if type(code) is types.CodeType:
        flags = code.co_flags
        if flags & inspect.CO_COROUTINE:
            return "coroutine"
        if flags & inspect.CO_ASYNC_GENERATOR:
            return "async generator"
        return "generator" if flags & inspect.CO_GENERATOR else "function"
    if isinstance(fn, (type, types.BuiltinFunctionType)):
        return "function"
    target: Any = fn
    while isinstance(target, functools.partial):
        target = target.func
    if inspect.isclass(target):
        return "function"
    candidates = [target]
    if not (inspect.isfunction(target) or inspect.ismethod(target)):
        call = getattr(type(target), "__call__", None)
        if inspect.isfunction(call):  # a callable object: its __call__ decides
            candidates.append(call)
    for candidate in candidates:
        if inspect.iscoroutinefunction(candidate):
            return "coroutine"
        if inspect.isasyncgenfunction(candidate):
            return "async generator"
        if inspect.isgeneratorfunction(candidate):
            return "generator"
    return "function"


def check_runnable(fn: Callable[..., Any]) -> bool:
    """True for a coroutine function, False for a plain one; raises for (async) generator functions."""
    kind = callable_kind(fn)
    if kind == "function":
        return False
    if kind == "coroutine":
        return True
    raise InvalidArgumentError(
        f"fn must be a function or an async def coroutine function, got the {kind} function {quote(fn)}: "
        f"a task has one result, and a {kind} yields many. Submit a function that collects them, "
        f"e.g. lambda: list(gen()) or an async def that loops `async for` and returns a list"
    )


def not_callable_error(fn: Any) -> InvalidArgumentError:
    """The error for a non-callable ``fn``; a coroutine object (``submit(fetch(url))``) is closed, un-run."""
    if inspect.iscoroutine(fn):
        name = getattr(fn, "__qualname__", "fn")
        fn.close()
        return InvalidArgumentError(
            f"fn must be callable, got the coroutine object {name}(...) (the result of calling an async "
            f"function); pass the function and its arguments instead: submit({name}, args=(...))"
        )
    try:
        shown = repr(fn)
    except Exception:  # noqa: BLE001 - a broken __repr__ must not hide the real mistake
        shown = f"<{type(fn).__name__} object>"
    return InvalidArgumentError(f"fn must be callable, got {type(fn).__name__} {shown}")


def refuse_coroutine_result(value: Any) -> tuple[bool, Any]:
    """A plain function's task that returned a coroutine (``lambda: fetch(x)``) fails, clearly.

    The coroutine is closed (it never ran: no "was never awaited" warning).
    """
    name = getattr(value, "__qualname__", type(value).__name__)
    try:
        value.close()  # a coroutine already started runs its finally blocks here: user code, guarded
    except BaseException:  # noqa: BLE001 - the task fails with the error below either way
        pass
    return False, TypeError(
        f"the task's function returned an un-awaited coroutine ({name}()) instead of a result; submit the "
        f"async def function itself (or functools.partial of it) so it runs on the task manager's event loop"
    )


class EventLoopExecutor(Executor):
    """Runs coroutine attempts as asyncio tasks on one loop thread of its own.

    ``capacity`` bounds the coroutines in flight (the manager's ``max_coroutines`` plus room
    for ones that are slow to honour a cancellation). The loop thread starts with the first
    attempt; ``shutdown()`` cancels what is still in flight and ends the thread.
    """

    def __init__(self, capacity: int, *, thread_name: str = "task-loop") -> None:
        self.capacity = capacity
        self._thread_name = thread_name
        self._lock = threading.Lock()  # guards starting and closing the loop
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._thread_id = 0
        self._closing = False
        self._stopped = False  # set on the loop thread once run_forever() returned for good
        # Touched on the loop thread only: the asyncio tasks of attempts in flight.
        self._inflight: set[asyncio.Task[Any]] = set()
        # Attempts handed over by start() and not begun yet (deque: appends and pops are thread-safe).
        self._handed: collections.deque[tuple[TaskCall, AttemptReporter]] = collections.deque()
        self._calls: set[concurrent.futures.Future[tuple[bool, Any]]] = set()  # run() calls waiting (under _lock)
        self._drain_scheduled = False  # a _drain is scheduled and has not started: no need for another
        # Done callbacks of coroutine tasks run here, off the loop (made on the loop thread, when first needed).
        self._callbacks: concurrent.futures.ThreadPoolExecutor | None = None

    # ------------------------------------------------------------------ the Executor interface

    def start(self, call: TaskCall, reporter: AttemptReporter) -> None:
        loop = self._loop or self._start_loop()
        # Batched: one wake-up of the loop for all the attempts handed over before it drains them.
        self._handed.append((call, reporter))
        if not self._drain_scheduled:
            self._drain_scheduled = True
            if threading.get_ident() == self._thread_id:  # from a coroutine that just ended
                loop.call_soon(self._drain)
            else:
                loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        """On the loop: begin every attempt handed over so far."""
        self._drain_scheduled = False  # first: an attempt handed over from now on schedules another drain
        handed = self._handed
        while handed:
            self._begin(*handed.popleft())

    def shutdown(self, wait: bool = True) -> None:
        with self._lock:
            self._closing = True
            loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop is already closed
            loop.call_soon_threadsafe(self._stop_when_idle, loop)
        if wait and threading.get_ident() != self._thread_id:
            thread.join()
        pool = self._callbacks
        if pool is not None:  # a callback that shuts the manager down cannot wait for itself
            own = threading.current_thread() in getattr(pool, "_threads", ())
            pool.shutdown(wait=wait and not own)

    def run_elsewhere(self, fn: Callable[..., Any], *args: Any) -> bool:
        """On the loop thread: run ``fn(*args)`` on a callbacks thread instead and return True, so a
        slow (or waiting) done callback never stalls the coroutines; elsewhere: False (run it there)."""
        if threading.get_ident() != self._thread_id:
            return False
        pool = self._callbacks
        if pool is None:
            pool = self._callbacks = concurrent.futures.ThreadPoolExecutor(
                max_workers=4, thread_name_prefix=f"{self._thread_name}-callbacks")
        try:
            pool.submit(fn, *args)
        except RuntimeError:  # shut down (a late report after shutdown): run it on the loop
            return False
        return True

    def describe(self) -> str:
        return f"EventLoopExecutor(capacity={self.capacity})"

    # ------------------------------------------------------------------ running coroutines

    def run(self, fn: Callable[..., Any], args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None, *,
            timeout: float | None = None, token: CancelToken | None = None) -> Any:
        """Run ``fn(*args, **kwargs)`` on the loop and block this (other) thread for its result.

        The coroutine runs in a copy of the caller's context. It is cancelled when ``timeout``
        passes (``TimeoutError``) or ``token`` fires (``TaskCancelledError``); ``token``
        defaults to the cancel token of the task the caller runs as, if any. Either way this
        returns once the coroutine has ended (its ``finally`` blocks ran), or, if it swallows its
        cancellation, ``CANCEL_GRACE`` seconds later, leaving it behind (logged). Any exception
        of the coroutine (``SystemExit`` too) is raised here, never on the loop; at shutdown
        this raises ``ShutdownError``.
        """
        if threading.get_ident() == self._thread_id:
            raise RuntimeError(f"{quote(fn)} was called synchronously on the task manager's event loop thread, "
                               f"where it would wait for itself; await it instead")
        if self._closing:
            raise ShutdownError("cannot run coroutines after the task manager was shut down")
        loop = self._loop or self._start_loop()
        if token is None:
            caller = _current.get()
            token = None if caller is None else caller.cancel_token
        ctx = contextvars.copy_context()
        outcome: concurrent.futures.Future[tuple[bool, Any]] = concurrent.futures.Future()
        woken: concurrent.futures.Future[None] = concurrent.futures.Future()  # set once the token fires
        started: list[asyncio.Task[Any]] = []  # the asyncio task, once the loop has made it

        def begin() -> None:
            task = loop.create_task(_guarded(fn, args, kwargs or {}), context=ctx)
            task.add_done_callback(functools.partial(_settle, outcome))
            started.append(task)

        def cancel(reason: str) -> None:  # scheduled after begin(): the loop runs callbacks in order
            with contextlib.suppress(RuntimeError):  # the loop is closed: the task has ended
                loop.call_soon_threadsafe(lambda: started[0].cancel(reason))

        def on_token(reason: str) -> None:
            cancel(reason)
            with contextlib.suppress(concurrent.futures.InvalidStateError):
                woken.set_result(None)

        with self._lock:
            self._calls.add(outcome)  # settled at the loop's end, whatever the coroutine does
        try:
            try:
                loop.call_soon_threadsafe(begin)
            except RuntimeError:  # the loop closed meanwhile
                raise ShutdownError("cannot run coroutines after the task manager was shut down") from None
            if token is not None:
                token.add_callback(on_token)
            ok, value = self._outcome(fn, outcome, woken, timeout, cancel, token)
        finally:
            with self._lock:
                self._calls.discard(outcome)
            if token is not None:
                token.remove_callback(on_token)  # a long-lived token must not keep this call's task alive
        if ok:
            return value
        if isinstance(value, asyncio.CancelledError):
            if token is not None:
                token.raise_if_cancelled()
            if self._closing:
                raise ShutdownError(f"{quote(fn)} was cancelled: the task manager was shut down") from None
        raise value

    def _outcome(self, fn: Callable[..., Any], outcome: concurrent.futures.Future[tuple[bool, Any]],
                 woken: concurrent.futures.Future[None], timeout: float | None, cancel: Callable[[str], None],
                 token: CancelToken | None) -> tuple[bool, Any]:
        """Wait for ``outcome`` until ``timeout`` or the token fires, then at most ``CANCEL_GRACE`` more."""
        limit = None if timeout is None or math.isinf(timeout) else timeout
        concurrent.futures.wait([outcome, woken], limit, return_when=concurrent.futures.FIRST_COMPLETED)
        if outcome.done():
            return outcome.result()
        name = quote(getattr(fn, "__name__", fn))
        if woken.done():
            why: BaseException = TaskCancelledError(token.reason if token is not None else "cancelled")
        else:
            cancel(f"it ran longer than its timeout of {timeout}s")
            why = TimeoutError(f"{name} did not finish within {timeout}s")
        try:
            ended = outcome.result(CANCEL_GRACE)
        except concurrent.futures.TimeoutError:
            _log.warning("the coroutine %s ignored its cancellation for %ss: left running on the event loop",
                         name, CANCEL_GRACE)
            ended = False, asyncio.CancelledError()  # raised as the token's TaskCancelledError
        if isinstance(why, TimeoutError):
            raise why from None
        return ended

    def _start_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._closing:
                raise ShutdownError("cannot start coroutines after the task manager's event loop was shut down")
            if self._loop is None:
                loop = asyncio.new_event_loop()
                started = threading.Event()
                thread = threading.Thread(target=self._serve, args=(loop, started), name=self._thread_name,
                                          daemon=True)
                thread.start()
                started.wait()
                self._thread = thread
                self._loop = loop
            return self._loop

    def _serve(self, loop: asyncio.AbstractEventLoop, started: threading.Event) -> None:
        self._thread_id = threading.get_ident()
        asyncio.set_event_loop(loop)
        started.set()
        try:
            while True:
                try:
                    loop.run_forever()
                    break  # stopped: the executor is closing
                except (KeyboardInterrupt, SystemExit):  # a task the coroutines spawned raised it
                    _log.exception("a coroutine on the task manager's event loop raised; the loop carries on")
                    if self._closing:  # the stop this may have swallowed is asked again
                        loop.call_soon(self._stop_when_idle, loop)
            self._stopped = True  # from here on nothing stops the loop: the steps below run to their end
            # Whatever is left (tasks the coroutines spawned themselves) is cancelled and awaited.
            leftovers = asyncio.all_tasks(loop)
            for task in leftovers:
                task.cancel("the task manager's event loop is shutting down")
            if leftovers:  # bounded: one that ignores its cancellation must not hang shutdown
                loop.run_until_complete(asyncio.wait(leftovers, timeout=5))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()
            with self._lock:
                calls = list(self._calls)
            for outcome in calls:  # a coroutine that outlived the loop (it swallowed its cancellation)
                _settle_once(outcome, (False, asyncio.CancelledError()))  # raised as ShutdownError

    def _stop_when_idle(self, loop: asyncio.AbstractEventLoop) -> None:
        """On the loop: stop once no attempt is in flight; cancel the ones still running.

        The manager shuts its executors down only when every task is final, so an attempt
        still in flight belongs to a task that already ended (a coroutine that swallowed its
        cancellation): it is cancelled again, every 0.1 s, and the loop stops when it returns.
        """
        if self._stopped:
            return
        if not self._inflight:
            loop.stop()
            return
        for task in list(self._inflight):
            task.cancel("the task manager is shutting down")
        loop.call_later(0.1, self._stop_when_idle, loop)

    def _begin(self, call: TaskCall, reporter: AttemptReporter) -> None:
        """On the loop: the gate, then the attempt as an asyncio task in the call's own context."""
        if not reporter.attempt_starting(call):
            self._maybe_stop()
            return
        # A fresh copy per attempt, as on threads: nothing one attempt sets leaks into the next.
        ctx = call.context.copy() if call.context is not None else contextvars.Context()
        reported: list[bool] = []  # set once the attempt's end is reported: it is reported exactly once
        task = self._loop.create_task(self._attempt(call, reporter, reported), context=ctx)  # type: ignore[union-attr]
        self._inflight.add(task)
        task.add_done_callback(functools.partial(self._attempt_done, call, reporter, reported))
        call.token.add_callback(functools.partial(self._cancel_from_token, task))

    def _cancel_from_token(self, task: asyncio.Task[Any], reason: str) -> None:
        """A token callback, from any thread: cancel the coroutine on its loop."""
        if threading.get_ident() == self._thread_id:
            task.cancel(reason)
            return
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop was closed: the task has ended
                loop.call_soon_threadsafe(task.cancel, reason)

    async def _attempt(self, call: TaskCall, reporter: AttemptReporter, reported: list[bool]) -> None:
        _current.set(TaskContext(call.task_id, call.name, call.attempt, call.token))
        try:
            if call.scopes:
                with contextlib.ExitStack() as stack:
                    for scope in call.scopes:
                        stack.enter_context(_GuardedScope(scope, call))  # its failures are logged, never the task's
                    value = await _call_async(call.fn, call.args, call.kwargs)
            else:  # the common case, one coroutine frame less
                value = call.fn(*call.args, **call.kwargs)
                if type(value) is types.CoroutineType or inspect.isawaitable(value):
                    value = await value
            ok = True
        except BaseException as exc:  # noqa: BLE001 - CancelledError too: every end is the task's result
            ok, value = False, exc
        reported.append(True)
        # The report may fire this task's own token (it failed): that cancels this asyncio task while
        # it runs, so it ends "cancelled" although it returns here; _attempt_done must not report again.
        reporter.attempt_finished(call, ok, value)

    def _attempt_done(self, call: TaskCall, reporter: AttemptReporter, reported: list[bool],
                      task: asyncio.Task[Any]) -> None:
        self._inflight.discard(task)
        if not reported:  # cancelled before its first step: _attempt never ran, so report here
            reporter.attempt_finished(call, False, asyncio.CancelledError(call.token.reason or "cancelled"))
        self._maybe_stop()

    def _maybe_stop(self) -> None:
        if self._closing and not self._stopped and not self._inflight and self._loop is not None:
            self._loop.stop()


def _settle(outcome: concurrent.futures.Future[tuple[bool, Any]], task: asyncio.Task[tuple[bool, Any]]) -> None:
    """Hand a ``_guarded`` task's ``(ok, value)`` to a waiting thread (cancelled before it began: not ok)."""
    _settle_once(outcome, (False, asyncio.CancelledError()) if task.cancelled() else task.result())


def _settle_once(outcome: concurrent.futures.Future[tuple[bool, Any]], end: tuple[bool, Any]) -> None:
    with contextlib.suppress(concurrent.futures.InvalidStateError):  # the loop's end settled it first
        outcome.set_result(end)


async def _guarded(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[bool, Any]:
    """``run()``'s coroutine: its end as ``(ok, value)``, so no exception (``SystemExit`` either)
    reaches the loop, and an un-awaited coroutine as the result is refused, as for a task."""
    try:
        value = await _call_async(fn, args, kwargs)
    except BaseException as exc:  # noqa: BLE001 - CancelledError too: raised in the calling thread
        return False, exc
    if type(value) is types.CoroutineType:
        return refuse_coroutine_result(value)
    return True, value


async def _call_async(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    value = fn(*args, **kwargs)
    if inspect.isawaitable(value):
        value = await value
    return value
