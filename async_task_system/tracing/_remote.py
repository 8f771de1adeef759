"""Trace context across processes: a picklable carrier, and worker-side span export.

Within one process the engine hands a task its captured ``contextvars.Context``.
Across processes (Dask workers) only plain data travels, so at submission the
W3C trace context (``traceparent``, baggage) is injected into a dict, together
with the OpenInference context attributes (session id, user id, metadata, tags,
prompt template), which the W3C headers do not carry. The worker attaches both
around the task and detaches them after.

Worker processes also need a tracer provider of their own that exports spans
(``configure_worker_tracing``) and a flush at the end of each task
(``flush_worker_spans``), or their spans die with the process.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

__all__ = [
    "OPENINFERENCE_CONTEXT_KEYS", "capture_carrier", "attach_carrier", "carried_attributes",
    "configure_worker_tracing", "flush_worker_spans", "tracer_provider_set", "worker_tracing_active",
]

#: The OpenTelemetry context keys under which ``openinference.instrumentation.using_attributes``
#: stores its values (``openinference.instrumentation.context_attributes.CONTEXT_ATTRIBUTES``).
OPENINFERENCE_CONTEXT_KEYS: tuple[str, ...] = (
    "session.id", "user.id", "metadata", "tag.tags", "llm.prompt_template.template",
    "llm.prompt_template.version", "llm.prompt_template.variables",
)


def capture_carrier() -> dict[str, Any]:
    """The current trace context as plain, picklable data.

    Call it inside the task's captured context (``call.context.run(capture_carrier)``).
    """
    headers: dict[str, str] = {}
    propagate.inject(headers)
    attributes = {}
    for key in OPENINFERENCE_CONTEXT_KEYS:
        value = otel_context.get_value(key)
        if value is not None:
            attributes[key] = list(value) if isinstance(value, tuple) else value
    return {"headers": headers, "attributes": attributes}


@contextlib.contextmanager
def attach_carrier(carrier: Mapping[str, Any] | None) -> Iterator[None]:
    """Make ``carrier``'s trace context (and OpenInference attributes) current; detach after."""
    if not carrier or not (carrier.get("headers") or carrier.get("attributes")):
        yield
        return
    ctx = propagate.extract(dict(carrier.get("headers") or {}))
    for key, value in (carrier.get("attributes") or {}).items():
        ctx = otel_context.set_value(key, value, ctx)
    token = otel_context.attach(ctx)
    try:
        yield
    finally:
        otel_context.detach(token)


def carried_attributes(carrier: Mapping[str, Any] | None) -> dict[str, Any]:
    """The OpenInference attributes in ``carrier``, ready to set on a span."""
    return dict((carrier or {}).get("attributes") or {})


# ---------------------------------------------------------------- worker processes

_lock = threading.Lock()
_provider: Any = None  # the SDK TracerProvider this process set up, if any
_endpoints: set[str] = set()


def configure_worker_tracing(endpoint: str, *, service_name: str = "async_task_system.worker",
                             project_name: str | None = None, headers: Mapping[str, str] | None = None) -> bool:
    """Export this process's spans to an OTLP/HTTP ``endpoint`` (e.g. ``http://host:6006/v1/traces``).

    ``project_name``: the Phoenix project (resource attribute ``openinference.project.name``);
    ``headers`` go with every export (e.g. ``authorization``).
    Installs an SDK tracer provider as the global one, once per process; later calls
    with other endpoints add an exporter. Returns False (and changes nothing) if the
    global provider is one this module did not create, such as the user's own.
    Needs the ``[phoenix]`` extra (``opentelemetry-sdk``, ``opentelemetry-exporter-otlp-proto-http``).
    """
    global _provider
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        from ._export import GuardedExporter
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ImportError(
            f"exporting spans from workers needs the OpenTelemetry SDK and OTLP exporter ({exc}); "
            'install them with: pip install "async_task_system[phoenix]"'
        ) from exc
    with _lock:
        if endpoint in _endpoints:
            return True
        if _provider is None:
            if type(trace.get_tracer_provider()).__name__ != "ProxyTracerProvider":
                return False  # somebody else's provider: leave it alone
            attributes = {"service.name": service_name}
            if project_name:
                attributes["openinference.project.name"] = project_name
            _provider = TracerProvider(resource=Resource.create(attributes))
            trace.set_tracer_provider(_provider)
        exporter = OTLPSpanExporter(endpoint=endpoint, headers=dict(headers) if headers else None, timeout=3)
        _provider.add_span_processor(BatchSpanProcessor(GuardedExporter(exporter, endpoint)))  # a down collector: one warning
        _endpoints.add(endpoint)
        return True


def tracer_provider_set() -> bool:
    """Whether this process has a tracer provider that records spans (not OpenTelemetry's default no-op)."""
    return not isinstance(trace.get_tracer_provider(), (trace.ProxyTracerProvider, trace.NoOpTracerProvider))


def worker_tracing_active() -> bool:
    """Whether this process exports spans (``configure_worker_tracing`` installed its provider)."""
    return _provider is not None


def flush_worker_spans(timeout_millis: int = 5_000) -> None:
    """Export the spans this process has finished so far (call at the end of each task)."""
    provider = _provider
    if provider is not None:
        from ._export import bounded_flush

        bounded_flush(provider, timeout_millis / 1000)  # a task never waits longer on its collector
