"""The library's own OpenTelemetry span per task: ``task <name>``.

One span covers a task's whole run, from its first attempt's start to its final
state, across retries. It is started in the worker inside the task's propagated
context (so it is a child of whatever span was current at ``submit``) and made
current for every attempt, so spans the task creates (LLM calls, tools,
sub-agents) nest under it. Manager events (retries, timeouts, cancellation)
arrive from other threads through ``on_event`` while an attempt may still be
running: they are recorded on the live span, found in a map ``task_id -> span``,
and the span ends on the final event. A task that never started has no span.

With no tracer provider configured (OpenTelemetry's default proxy or no-op
provider) ``is_active()`` says so when the task first starts, and the manager
skips this observer's hooks for that task: one check per task, nothing recorded.
"""

from __future__ import annotations

import contextlib
import os
import reprlib
import threading
from types import MappingProxyType, TracebackType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from ..engine._call import TaskCall, TaskObserver
from ..engine._record import TaskEvent, TaskInfo, TaskStatus
from ._remote import OPENINFERENCE_CONTEXT_KEYS
from ._setup import active_provider

try:  # OpenTelemetry's switch (also set by OpenInference's ``suppress_tracing()``)
    from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY as _SUPPRESS_KEY
except ImportError:  # pragma: no cover - every supported opentelemetry-api has it
    _SUPPRESS_KEY = None

__all__ = ["TaskSpanObserver", "TASK_ATTRIBUTES"]

#: Attribute names the task spans carry (values: str, int, float, or a list of str).
TASK_ATTRIBUTES = MappingProxyType({
    "id": "task.id",
    "name": "task.name",
    "type": "task.type",  # metadata["task_type"] ("tool", "agent"), else "function"
    "status": "task.status",  # the final TaskStatus value
    "attempts": "task.attempts",
    "queue_wait": "task.queue_wait_seconds",
    "priority": "task.priority",
    "max_retries": "task.max_retries",
    "timeout": "task.timeout_seconds",
    "depends_on": "task.depends_on",
})
(_ID, _NAME, _TYPE, _STATUS, _ATTEMPTS, _QUEUE_WAIT, _PRIORITY, _MAX_RETRIES, _TIMEOUT,
 _DEPENDS_ON) = TASK_ATTRIBUTES.values()
_SPAN_KIND = "openinference.span.kind"
_OK = Status(StatusCode.OK)
_INPUT, _OUTPUT = "input.value", "output.value"
_NOOP_PROVIDERS = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)
_NULL_SCOPE = contextlib.nullcontext()
_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 500
_SHORT.maxlevel = 3


def _ns(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds * 1e9)


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


# OpenInference's ``using_session``/``using_user``/``using_metadata``/``using_attributes``...
# keep their values in the OpenTelemetry context under these plain names.
_CONTEXT_KEYS = frozenset(OPENINFERENCE_CONTEXT_KEYS)


def _context_attributes() -> dict[str, Any]:
    """OpenInference attributes the user set around ``submit``: they reach the task span."""
    ctx = otel_context.get_current()
    keys = ctx.keys() & _CONTEXT_KEYS
    return {key: ctx[key] for key in keys} if keys else {}


class _LiveSpan:
    """A task's open span. ``closed`` is guarded by the observer's lock: once set,
    nobody touches the span again except the one thread that ends it."""

    __slots__ = ("span", "closed")

    def __init__(self, span: trace.Span) -> None:
        self.span = span
        self.closed = False


class TaskSpanObserver(TaskObserver):
    """Records one ``task <name>`` span per task run (see the module docstring).

    ``tracer_provider``: where spans go; by default the provider ``setup_tracing()``
    configured, else OpenTelemetry's global one, looked up again for every task (so
    tracing turned on later applies to the tasks that start after). Honors
    ``OPENINFERENCE_HIDE_INPUTS`` / ``OPENINFERENCE_HIDE_OUTPUTS``.
    """

    def __init__(self, tracer_provider: trace.TracerProvider | None = None) -> None:
        self._fixed_provider = tracer_provider
        self._provider: Any = None  # the provider self._tracer came from
        self._tracer: trace.Tracer | None = None
        self._lock = threading.Lock()
        self._live: dict[str, _LiveSpan] = {}  # task_id -> open span, for started, unfinished tasks
        self._hide_inputs = _env_flag("OPENINFERENCE_HIDE_INPUTS")
        self._hide_outputs = _env_flag("OPENINFERENCE_HIDE_OUTPUTS")

    # ------------------------------------------------------------------ hooks

    def is_active(self) -> bool:
        """Record this task? Only while a real tracer provider is configured (asked once per task)."""
        return self._current_tracer() is not None

    def attempt_scope(self, call: TaskCall) -> contextlib.AbstractContextManager[Any]:
        tracer = self._current_tracer()
        if tracer is None or (_SUPPRESS_KEY is not None and otel_context.get_value(_SUPPRESS_KEY)):
            return _NULL_SCOPE
        return _AttemptScope(self, tracer, call)

    def on_event(self, task_id: str, event: TaskEvent, info: TaskInfo | None) -> None:
        if info is None:
            live = self._live.get(task_id)  # atomic read; no span, nothing to record
            if live is None or (event.kind == TaskStatus.RUNNING.value and event.attempt <= 1):
                return  # the first start is the span's own start
            with self._lock:
                if not live.closed:
                    live.span.add_event(f"task.{event.kind}", _event_attributes(event), _ns(event.time))
            return
        if not self._live:
            return  # no open span at all (the common case without a tracer provider)
        with self._lock:
            live = self._live.pop(task_id, None)
            if live is None or live.closed:
                return
            live.closed = True
            self._close(live.span, event, info)
        live.span.end(_ns(info.finished_at))  # outside the lock: processors may export here

    @property
    def open_spans(self) -> int:
        """How many task spans are open (tasks that started and are not final yet)."""
        return len(self._live)

    # ------------------------------------------------------------------ internals

    def _current_tracer(self) -> trace.Tracer | None:
        provider = self._fixed_provider or active_provider()
        if provider is None or isinstance(provider, _NOOP_PROVIDERS):
            return None
        if provider is not self._provider:
            self._tracer = provider.get_tracer("async_task_system")
            self._provider = provider
        return self._tracer

    def _open(self, tracer: trace.Tracer, call: TaskCall) -> tuple[_LiveSpan, bool]:
        """The task's span (the one its earlier attempt opened, or a new one), and whether
        the task was already final, so that this attempt must end the span itself."""
        live = self._live.get(call.task_id)
        if live is not None:
            return live, False
        attributes: dict[str, Any] = {
            _SPAN_KIND: "CHAIN",
            _ID: call.task_id,
            _NAME: call.name,
            _TYPE: str(call.metadata.get("task_type", "function")),
        }
        if call.priority:
            attributes[_PRIORITY] = call.priority
        attributes.update(_context_attributes())
        if not self._hide_inputs and (call.args or call.kwargs):
            attributes[_INPUT] = _describe_input(call)
        span = tracer.start_span(f"task {call.name}", attributes=attributes)
        live = _LiveSpan(span)
        with self._lock:
            # Timeout or cancellation may have made the task final before this attempt got
            # here. The manager sets the token's flag (under its lock) before it reports the
            # final event, so either we see the token cancelled now, or on_event will find
            # the span in the map.
            if call.token.cancelled:
                live.closed = True
                return live, True
            self._live[call.task_id] = live
        return live, False

    def _close(self, span: trace.Span, event: TaskEvent, info: TaskInfo) -> None:
        """Final attributes and status; called once, under the lock."""
        status = info.status
        attributes: dict[str, Any] = {
            _STATUS: status.value,
            _ATTEMPTS: info.attempts,
            _QUEUE_WAIT: info.queue_wait or 0.0,
        }
        if info.max_retries:
            attributes[_MAX_RETRIES] = info.max_retries
        if info.timeout is not None:
            attributes[_TIMEOUT] = info.timeout
        if info.depends_on:
            attributes[_DEPENDS_ON] = list(info.depends_on)
        if status is TaskStatus.COMPLETED and not self._hide_outputs and info.result is not None:
            attributes[_OUTPUT] = _describe(info.result)
        span.set_attributes(attributes)
        if status is TaskStatus.COMPLETED:
            span.set_status(_OK)
            return
        span.add_event(f"task.{event.kind}", _event_attributes(event), _ns(event.time))
        if status is TaskStatus.CANCELLED:
            return  # not an error: someone asked for it (the event says who and why)
        description = str(info.error) if status is TaskStatus.FAILED and info.error else event.reason
        span.set_status(Status(StatusCode.ERROR, description[:1000]))


class _AttemptScope:
    """Entered in the worker around one attempt: the task's span is current meanwhile."""

    __slots__ = ("_observer", "_tracer", "_call", "_live", "_orphan", "_token")

    def __init__(self, observer: TaskSpanObserver, tracer: trace.Tracer, call: TaskCall) -> None:
        self._observer = observer
        self._tracer = tracer
        self._call = call

    def __enter__(self) -> trace.Span:
        self._live, self._orphan = self._observer._open(self._tracer, self._call)
        self._token = otel_context.attach(trace.set_span_in_context(self._live.span))
        return self._live.span

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        otel_context.detach(self._token)
        span = self._live.span
        if self._orphan:  # the task was final before this attempt began (see _open)
            span.add_event("task.ended_before_start", {"task.reason": self._call.token.reason})
            if exc is not None:
                span.record_exception(exc, {"task.attempt": self._call.attempt})
            span.end()
            return
        with self._observer._lock:
            if exc is not None and not self._live.closed:
                span.record_exception(exc, {"task.attempt": self._call.attempt})


def _event_attributes(event: TaskEvent) -> dict[str, Any]:
    return {"task.reason": event.reason, "task.attempt": event.attempt}


def _describe(value: Any) -> str:
    """A bounded text for a value: cheap for strings and numbers, ``reprlib`` for the rest."""
    if isinstance(value, str):
        return value if len(value) <= 2000 else value[:2000] + "..."
    if isinstance(value, (int, float, bool)):
        return str(value)
    return _SHORT.repr(value)


def _describe_input(call: TaskCall) -> str:
    if not call.args:
        return _SHORT.repr(call.kwargs)
    if not call.kwargs:
        return _SHORT.repr(call.args)
    return f"{_SHORT.repr(call.args)} {_SHORT.repr(call.kwargs)}"
