"""The library's own OpenTelemetry span per task: ``task <name>``.

One span covers a task's whole run, from its first attempt's start to its final
state, across retries. It is started in the worker inside the task's propagated
context (so it is a child of whatever span was current at ``submit``) and made
current for every attempt, so spans the task creates (LLM calls, tools,
sub-agents) nest under it. Manager events (retries, timeouts, cancellation)
arrive from other threads through ``on_event`` while an attempt may still be
running: they are recorded on the live span, found in a map ``task_id -> span``,
and the span ends on the final event. A task that never started has no span.

Cost: the span's attributes are written once, when it ends (the SDK checks each write);
the common path takes no lock beyond a moment to mark the span closed (the map's
``get``/``pop`` are atomic: whoever pops a span ends it); short inputs and outputs are
``repr``-ed directly, long ones by ``reprlib``. See ``benchmarks/results/tracing.md``.

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

from ..engine import TaskCall, TaskEvent, TaskInfo, TaskObserver, TaskStatus
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
_RUNNING = TaskStatus.RUNNING.value
_UNSEEN = object()
_NULL_SCOPE = contextlib.nullcontext()
_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 500
_SHORT.maxlevel = 3
_BIG_INT = 10**30  # reprlib shortens longer ints


def _ns(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds * 1e9)


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


# OpenInference's ``using_session``/``using_user``/``using_metadata``/``using_attributes``...
# keep their values in the OpenTelemetry context under these plain names.
_CONTEXT_KEYS = frozenset(OPENINFERENCE_CONTEXT_KEYS)


class _LiveSpan:
    """A task's open span. Whoever takes it out of the observer's map ends it; ``closed`` is
    set (under the observer's lock) when that happens, so the rare writers that may run
    meanwhile on other threads (retry events, a late attempt's exception) leave it alone."""

    __slots__ = ("span", "attributes", "closed")

    def __init__(self, span: trace.Span, attributes: dict[str, Any]) -> None:
        self.span = span
        self.attributes = attributes  # known at the start, written with the final ones at the end
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
        # The last provider looked up, and its tracer (None for a no-op provider).
        self._tracer_of: tuple[Any, trace.Tracer | None] = (_UNSEEN, None)
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
        if tracer is None:
            return _NULL_SCOPE
        ctx = otel_context.get_current()  # the task's propagated context, read once
        if _SUPPRESS_KEY is not None and ctx.get(_SUPPRESS_KEY):
            return _NULL_SCOPE
        return _AttemptScope(self, tracer, call, ctx)

    def on_event(self, task_id: str, event: TaskEvent, info: TaskInfo | None) -> None:
        if info is None:
            live = self._live.get(task_id)  # atomic read; no span, nothing to record
            if live is None or (event.attempt <= 1 and event.kind == _RUNNING):
                return  # the first start is the span's own start
            with self._lock:  # rare (retries): keep the span open while we add to it
                if not live.closed:
                    live.span.add_event(f"task.{event.kind}", _event_attributes(event), _ns(event.time))
            return
        live = self._live.pop(task_id, None)  # atomic: whoever pops the span ends it
        if live is None:
            return  # no span: the task never started, or no tracer provider
        with self._lock:  # only marks it closed: the rare writers above and in _AttemptScope stop
            live.closed = True
        self._close(live, event, info)  # outside the lock: processors may export here

    @property
    def open_spans(self) -> int:
        """How many task spans are open (tasks that started and are not final yet)."""
        return len(self._live)

    # ------------------------------------------------------------------ internals

    def _current_tracer(self) -> trace.Tracer | None:
        provider = self._fixed_provider or active_provider()
        known, tracer = self._tracer_of  # one read: another thread may replace the pair
        if provider is known:
            return tracer
        if provider is None or isinstance(provider, _NOOP_PROVIDERS):
            tracer = None
        else:
            tracer = provider.get_tracer("async_task_system")
        self._tracer_of = (provider, tracer)
        return tracer

    def _open(self, tracer: trace.Tracer, call: TaskCall, ctx: otel_context.Context) -> tuple[_LiveSpan, bool]:
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
        keys = ctx.keys() & _CONTEXT_KEYS
        if keys:  # OpenInference attributes the user set around ``submit``
            attributes.update({key: ctx[key] for key in keys})
        if not self._hide_inputs and (call.args or call.kwargs):
            attributes[_INPUT] = _describe_input(call)
        # No attributes yet: the SDK checks every attribute write, and one write at the end
        # (these and the final ones together) costs about half of two.
        span = tracer.start_span(f"task {call.name}", ctx)
        live = self._live[call.task_id] = _LiveSpan(span, attributes)
        # Timeout or cancellation may have made the task final before this attempt got here.
        # The manager sets the token's flag (under its lock) before it reports the final event,
        # so either we see the token cancelled now, or on_event finds the span in the map.
        if call.token.cancelled:
            with self._lock:
                if self._live.pop(call.task_id, None) is live:  # on_event did not take it: ours
                    live.closed = True
                    return live, True
        return live, False

    def _close(self, live: _LiveSpan, event: TaskEvent, info: TaskInfo) -> None:
        """Attributes, status and end; called once, by whoever took the span from the map."""
        span, status, attributes = live.span, info.status, live.attributes
        attributes[_STATUS] = status._value_
        attributes[_ATTEMPTS] = info.attempts
        attributes[_QUEUE_WAIT] = info.queue_wait or 0.0
        if info.max_retries:
            attributes[_MAX_RETRIES] = info.max_retries
        if info.timeout is not None:
            attributes[_TIMEOUT] = info.timeout
        if info.depends_on:
            attributes[_DEPENDS_ON] = list(info.depends_on)
        if status is TaskStatus.COMPLETED:
            if not self._hide_outputs and info.result is not None:
                attributes[_OUTPUT] = _describe(info.result)
            span.set_attributes(attributes)
            span.set_status(_OK)
        else:
            span.set_attributes(attributes)
            span.add_event(f"task.{event.kind}", _event_attributes(event), _ns(event.time))
            if status is not TaskStatus.CANCELLED:  # cancelled is not an error: someone asked for it
                description = str(info.error) if status is TaskStatus.FAILED and info.error else event.reason
                span.set_status(Status(StatusCode.ERROR, description[:1000]))
        span.end(_ns(info.finished_at))


class _AttemptScope:
    """Entered in the worker around one attempt: the task's span is current meanwhile."""

    __slots__ = ("_observer", "_tracer", "_call", "_ctx", "_live", "_orphan", "_token")

    def __init__(self, observer: TaskSpanObserver, tracer: trace.Tracer, call: TaskCall,
                 ctx: otel_context.Context) -> None:
        self._observer = observer
        self._tracer = tracer
        self._call = call
        self._ctx = ctx

    def __enter__(self) -> trace.Span:
        self._live, self._orphan = self._observer._open(self._tracer, self._call, self._ctx)
        self._token = otel_context.attach(trace.set_span_in_context(self._live.span, self._ctx))
        return self._live.span

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        otel_context.detach(self._token)
        span = self._live.span
        if self._orphan:  # the task was final before this attempt began (see _open)
            span.set_attributes(self._live.attributes)
            span.add_event("task.ended_before_start", {"task.reason": self._call.token.reason})
            if exc is not None:
                span.record_exception(exc, {"task.attempt": self._call.attempt})
            span.end()
        elif exc is not None:
            with self._observer._lock:  # a final event may be ending the span meanwhile
                if not self._live.closed:
                    span.record_exception(exc, {"task.attempt": self._call.attempt})


def _event_attributes(event: TaskEvent) -> dict[str, Any]:
    return {"task.reason": event.reason, "task.attempt": event.attempt}


def _describe(value: Any) -> str:
    """A bounded text for a value: cheap for strings and numbers, ``reprlib`` for the rest."""
    if isinstance(value, str):
        return value if len(value) <= 2000 else value[:2000] + "..."
    if isinstance(value, (int, float, bool)):
        return str(value)
    return _short_repr(value)


def _describe_input(call: TaskCall) -> str:
    if not call.args:
        return _short_repr(call.kwargs)
    if not call.kwargs:
        return _short_repr(call.args)
    return f"{_short_repr(call.args)} {_short_repr(call.kwargs)}"


def _short_repr(value: Any) -> str:
    """``repr`` when it is surely short (a few plain values: ten times faster), else ``reprlib``."""
    return repr(value) if _is_small(value) else _SHORT.repr(value)


def _is_small(value: Any) -> bool:
    kind = type(value)
    if kind is tuple or kind is list:
        if len(value) > 6:
            return False
        for item in value:
            if not _is_small_scalar(item):
                return False
        return True
    if kind is dict:
        if len(value) > 4:
            return False
        for key, item in value.items():
            if type(key) is not str or len(key) > 100 or not _is_small_scalar(item):
                return False
        return True
    return _is_small_scalar(value)


def _is_small_scalar(value: Any) -> bool:
    kind = type(value)
    if kind is str:
        return len(value) <= 200
    if kind is int:
        return -_BIG_INT < value < _BIG_INT
    return kind is float or kind is bool or value is None
