"""The worker side of ``DaskExecutor``: what runs in the Dask worker processes.

One attempt is one Dask task: ``run_attempt`` (a plain callable, on a worker thread) or
``run_attempt_async`` (a coroutine function, on the worker's event loop). Each registers the
attempt's ``CancelToken`` here under its Dask key, so a cancel broadcast from the client
(``cancel_on_worker``) reaches it, or is remembered for an attempt that has not started yet.
A coroutine's token cancels the coroutine itself: it sees ``CancelledError``, its ``finally``
runs, and the attempt fails with ``CoroutineCancelled`` (which the client reports as the
``CancelledError`` a local coroutine ends with).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import distributed
from distributed.diagnostics.plugin import WorkerPlugin

from ..engine._cancel import CancelToken, TaskContext, _current
from ..errors import TaskCancelledError
from ..tracing._remote import (
    attach_carrier,
    carried_attributes,
    configure_worker_tracing,
    flush_worker_spans,
    tracer_provider_set,
    worker_tracing_active,
)
from ._dask_cluster import WORKER_JOINED_TOPIC
from ._dask_messages import DaskInbox
from ._dask_notes import notes_of, pickled_small
from ._mailbox import set_inbox

__all__ = [
    "run_attempt", "run_attempt_async", "cancel_on_worker", "CoroutineCancelled", "CarriedBaseException",
    "WorkerTracingPlugin", "WorkerJoinedPlugin",
]

_registry_lock = threading.Lock()
_running: dict[str, CancelToken] = {}  # Dask key -> token of the attempt running here
_cancelled: collections.OrderedDict[str, str] = collections.OrderedDict()  # key -> reason, bounded
_MAX_CANCELLED = 10_000


class CoroutineCancelled(TaskCancelledError):
    """A coroutine attempt on a worker was cancelled by its token and has returned (its finally ran)."""


class CarriedBaseException(Exception):  # noqa: N818 - not an error of its own: it carries one home
    """Carries home a ``BaseException`` that is not an ``Exception`` (``SystemExit``, ``KeyboardInterrupt``,
    ``GeneratorExit``) raised by a task: raised as it is on a worker, it would stop the worker (Dask lets
    the first two through) or leave the attempt unfinished for ever (a coroutine's ``GeneratorExit``)."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(error)
        self.error = error


def run_attempt(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                meta: dict[str, Any]) -> tuple[Any, float]:
    """On a worker thread: the attempt, as ``current_task()``, inside the submitter's trace context.

    Returns its value and the seconds it ran here (what sizes the prefetch window: a time measured
    on the client would add the round trip's delays, which grow with the load)."""
    key = meta["key"]
    worker = _this_worker()
    try:
        token = _register(meta, worker)
        try:
            # A copy of the worker thread's context (Dask's get_worker() lives in it): nothing the
            # task sets leaks into the next task on this thread.
            began = time.perf_counter()
            value = contextvars.copy_context().run(_invoke, fn, args, kwargs, meta, token)
            took = time.perf_counter() - began
        finally:
            _unregister(key)
            flush_worker_spans()
        data = _for_note(value, meta)
    except BaseException:
        _note_end(worker, key, ok=False)
        raise
    _note_end(worker, key, data, took, seal=meta.get("seal", ""))  # after the spans: reported at once, maybe
    return value, took


async def run_attempt_async(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                            meta: dict[str, Any]) -> tuple[Any, float]:
    """On the worker's event loop: a coroutine attempt, as its own asyncio task, cancelled by its token.

    The coroutine runs in a copy of the loop task's context (``get_worker()`` works in it), with the
    submitter's trace context attached. Spans are flushed on a thread, never blocking the loop.
    """
    key = meta["key"]
    worker = _this_worker()
    try:
        value, took = await _run_coroutine_attempt(fn, args, kwargs, meta, worker)
        data = _for_note(value, meta)
    except BaseException:
        _note_end(worker, key, ok=False)
        raise
    _note_end(worker, key, data, took, seal=meta.get("seal", ""))
    return value, took


async def _run_coroutine_attempt(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                                 meta: dict[str, Any], worker: distributed.Worker | None) -> tuple[Any, float]:
    key = meta["key"]
    token = _register(meta, worker)
    loop = asyncio.get_running_loop()
    began = time.perf_counter()
    task = loop.create_task(_invoke_async(fn, args, kwargs, meta, token), context=contextvars.copy_context())

    def cancel(reason: str) -> None:  # from the thread that fired the token
        with contextlib.suppress(RuntimeError):  # the loop is closed: the task has ended
            loop.call_soon_threadsafe(task.cancel, reason)

    token.add_callback(cancel)
    try:
        value = await task
    except asyncio.CancelledError:
        if not token.cancelled:
            raise  # Dask itself cancelled it (the worker closes): Dask runs it again elsewhere
        raise CoroutineCancelled(token.reason) from None
    finally:
        _unregister(key)
        if worker_tracing_active():
            with contextlib.suppress(Exception):
                await loop.run_in_executor(None, flush_worker_spans)
    return value, time.perf_counter() - began


def _this_worker() -> distributed.Worker | None:
    """The worker this runs on; None if none (tests call the runners directly)."""
    try:
        return distributed.get_worker()
    except ValueError:
        return None


def _register(meta: dict[str, Any], worker: distributed.Worker | None) -> CancelToken:
    """The attempt's token, registered under its key; raises if a cancel for it arrived first."""
    key = meta["key"]
    token = CancelToken()
    with _registry_lock:
        reason = _cancelled.get(key)
        if reason is None:
            _running[key] = token
    if reason is not None:
        raise TaskCancelledError(f"task {meta['task_id']} was cancelled before it started: {reason}")
    if worker is not None:
        with contextlib.suppress(Exception):  # its loop closed: no note
            notes_of(worker).started(worker, key)
    return token


def _for_note(value: Any, meta: dict[str, Any]) -> bytes | None:
    """The value pickled for its end note, if small (and the executor wants values in notes); raises
    ``CarriedBaseException`` for a value that raises ``SystemExit`` & co. when measured or pickled."""
    if not meta.get("note_values", True):
        return None
    try:
        return pickled_small(value)
    except BaseException as exc:  # noqa: BLE001 - Dask measuring or sending it would stop the worker
        raise CarriedBaseException(exc) from None


def _note_end(worker: distributed.Worker | None, key: str, data: bytes | None = None, took: float | None = None,
              *, ok: bool = True, seal: str = "") -> None:
    if worker is not None:
        with contextlib.suppress(Exception):  # no note (the worker closes): the client sweeps for it
            notes_of(worker).ended(worker, key, data, took, ok=ok, seal=seal)


def _unregister(key: str) -> None:
    with _registry_lock:
        _running.pop(key, None)


def _invoke(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], meta: dict[str, Any],
            token: CancelToken) -> Any:
    try:
        with _span(meta, token):
            return fn(*args, **kwargs)
    except Exception:
        raise
    except BaseException as exc:  # noqa: BLE001 - carried home, it fails the attempt, not the worker
        raise CarriedBaseException(exc) from None


async def _invoke_async(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                        meta: dict[str, Any], token: CancelToken) -> Any:
    try:  # caught inside the asyncio task: out of it, SystemExit would stop the worker's loop
        with _span(meta, token):
            return await fn(*args, **kwargs)
    except (Exception, asyncio.CancelledError):
        raise
    except BaseException as exc:  # noqa: BLE001 - carried home, it fails the attempt, not the worker
        raise CarriedBaseException(exc) from None


@contextlib.contextmanager
def _span(meta: dict[str, Any], token: CancelToken) -> Any:
    """``current_task()`` and its inbox set, the carried trace context attached, the attempt's worker span
    open (unless this process has no tracer provider: then no span would be recorded)."""
    _current.set(TaskContext(meta["task_id"], meta["name"], meta["attempt"], token))
    inbox = DaskInbox(meta["inbox"], meta["task_id"]) if "inbox" in meta else None
    set_inbox(inbox)  # what send_message() sent the task (a managed agent reads it before each step)
    carrier = meta.get("carrier")
    with attach_carrier(carrier), contextlib.closing(inbox) if inbox is not None else contextlib.nullcontext():
        if not tracer_provider_set():
            yield
            return
        from opentelemetry import trace

        attributes = {"task.id": meta["task_id"], "task.name": meta["name"], "task.attempt": meta["attempt"],
                      "dask.key": meta["key"], "process.pid": os.getpid()}
        with contextlib.suppress(ValueError):
            attributes["dask.worker"] = distributed.get_worker().address
        attributes.update(carried_attributes(carrier))
        tracer = trace.get_tracer("async_task_system.dask")
        with tracer.start_as_current_span(f"worker {meta['name']}", attributes=attributes):
            yield


def cancel_on_worker(key: str, reason: str) -> bool:
    """Runs on every worker (``Client.run``): cancel the attempt's token here, or remember it."""
    with _registry_lock:
        _cancelled[key] = reason
        while len(_cancelled) > _MAX_CANCELLED:
            _cancelled.popitem(last=False)
        token = _running.get(key)
    if token is not None:  # its callbacks are user code: not on the worker's event loop
        threading.Thread(target=token.cancel, args=(reason,), name="task-cancel", daemon=True).start()
    return token is not None


class WorkerTracingPlugin(WorkerPlugin):
    """Sets up span export on every worker (present and future) of the cluster."""

    def __init__(self, endpoint: str, *, project_name: str | None = None, headers: dict[str, str] | None = None,
                 instrumentors: tuple[str, ...] = ()) -> None:
        self.endpoint = endpoint
        self.project_name = project_name
        self.headers = dict(headers or {})
        self.instrumentors = instrumentors

    def setup(self, worker: distributed.Worker) -> None:
        if not configure_worker_tracing(self.endpoint, project_name=self.project_name, headers=self.headers):
            return
        import importlib

        for spec in self.instrumentors:
            module, _, cls = spec.partition(":")
            instrumentor = getattr(importlib.import_module(module), cls)()
            if not instrumentor.is_instrumented_by_opentelemetry:
                instrumentor.instrument()


class WorkerJoinedPlugin(WorkerPlugin):
    """Logs one event when a worker starts (or the plugin is registered), for ``DaskExecutor``
    to refresh its capacity at once."""

    def setup(self, worker: distributed.Worker) -> None:
        worker.log_event(WORKER_JOINED_TOPIC, {"worker": worker.address})
