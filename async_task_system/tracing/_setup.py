"""``setup_tracing()``: send traces to Arize Phoenix in one call."""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse, urlunparse

from opentelemetry import trace

from ..errors import InvalidArgumentError
from ._models import instrument_other_models

__all__ = ["setup_tracing", "shutdown_tracing", "active_provider", "phoenix_traces_endpoint"]

_INSTALL = 'pip install "async_task_system[phoenix]"'
_DEFAULT_ENDPOINT = "http://localhost:6006"
_PROJECT_KEY = "openinference.project.name"  # the resource attribute Phoenix files spans under


@dataclass(frozen=True)
class _Config:
    project_name: str
    endpoint: str
    batch: bool
    instrument_smolagents: bool
    headers: tuple[tuple[str, str], ...]


def _nothing() -> None:
    pass


_lock = threading.Lock()
_config: _Config | None = None
_provider: Any = None  # the provider of the current configuration
_instrumentor: Any = None  # the SmolagentsInstrumentor we instrumented with, if any
_undo_models: Callable[[], None] = _nothing  # undoes instrument_other_models
_retired: Any = None  # a provider we made global and then shut down: OpenTelemetry keeps it global
_open: dict[int, tuple[Any, Any]] = {}  # id(provider) -> (provider, its GuardedExporter), until shut down
_EXPORT_TIMEOUT = 3.0  # seconds per OTLP request (its retries included)
_EXIT_FLUSH = 0.5  # seconds buffered spans get at interpreter exit
_FLUSH = 5.0  # seconds they get when tracing is reconfigured or shut down


# ``trace.get_tracer_provider()`` reads os.environ on every call while no provider is set (about
# 1 µs, a noticeable share of a no-op task); the global itself answers "none set" for free. The
# public call is kept when OTEL_PYTHON_TRACER_PROVIDER names a provider to load on first use.
_GLOBAL_UNKNOWN = object()
_peek_global = (
    (lambda: getattr(trace, "_TRACER_PROVIDER", _GLOBAL_UNKNOWN))
    if "OTEL_PYTHON_TRACER_PROVIDER" not in os.environ else (lambda: _GLOBAL_UNKNOWN)
)


def active_provider() -> Any:
    """Where task spans go: the provider of ``setup_tracing()``, else OpenTelemetry's global one
    (None when neither is set)."""
    if _provider is not None:
        return _provider
    provider = _peek_global()
    if provider is None:
        return None
    if provider is _GLOBAL_UNKNOWN:
        provider = trace.get_tracer_provider()
    return None if provider is _retired else provider


def phoenix_traces_endpoint(endpoint: str | None = None) -> str:
    """The full OTLP/HTTP traces URL for a Phoenix address (argument, else
    ``PHOENIX_COLLECTOR_ENDPOINT``, else ``http://localhost:6006``).

    ``http://host:6006`` becomes ``http://host:6006/v1/traces``: a bare host would be
    accepted by the exporter and then silently lose every span.
    """
    raw = endpoint if endpoint is not None else os.environ.get("PHOENIX_COLLECTOR_ENDPOINT") or _DEFAULT_ENDPOINT
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidArgumentError(
            f"endpoint must be a URL such as 'http://127.0.0.1:6006' or 'http://127.0.0.1:6006/v1/traces', got {raw!r}"
        )
    text = raw.strip()
    if "://" not in text:
        text = "http://" + text
    url = urlparse(text)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise InvalidArgumentError(
            f"endpoint must be an http(s) URL of a Phoenix server such as 'http://127.0.0.1:6006', got {raw!r}"
        )
    path = url.path.rstrip("/")
    if not path.endswith("/v1/traces"):
        path += "/v1/traces"
    return urlunparse(url._replace(path=path))


def setup_tracing(
    project_name: str | None = None,
    endpoint: str | None = None,
    *,
    batch: bool = True,
    instrument_smolagents: bool = True,
    headers: dict[str, str] | None = None,
    api_key: str | None = None,
    set_global: bool = True,
) -> Any:
    """Send traces to Arize Phoenix: the task spans, and smolagents' agent, LLM and tool spans.

    ``project_name``: Phoenix project (default ``PHOENIX_PROJECT_NAME``, else ``"default"``).
    ``endpoint``: the Phoenix server (default ``PHOENIX_COLLECTOR_ENDPOINT``, else
    ``http://localhost:6006``); ``/v1/traces`` is added when missing. ``batch``: export in
    batches every few seconds (True) or within 20 ms of each span's end (False, so spans show
    up while you watch). Either way export runs on a background thread: a slow or down
    collector never blocks a task, costs one warning, and delays exit by under a second.
    ``api_key`` (default ``PHOENIX_API_KEY``) and ``headers`` go with every export.
    ``set_global``: also make the provider OpenTelemetry's global one (OpenTelemetry allows
    that once per process; task spans and smolagents follow this provider either way).

    Model classes defined outside smolagents (such as ``async_task_system.testing.ScriptedModel``
    or your own) get LLM spans too, if they exist when this is called.

    Safe to call again: the same settings return the same provider; different settings
    flush the previous provider, build a new one and move smolagents and the task spans to
    it. Returns the OpenTelemetry SDK ``TracerProvider``.
    """
    global _config, _provider, _instrumentor, _undo_models
    if project_name is None:
        project_name = os.environ.get("PHOENIX_PROJECT_NAME") or "default"
    if not isinstance(project_name, str) or not project_name.strip():
        raise InvalidArgumentError(f"project_name must be a non-empty str, got {project_name!r}")
    if headers is not None and not (
        isinstance(headers, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items())
    ):
        raise InvalidArgumentError(f"headers must be a dict of str to str, got {headers!r}")
    all_headers = dict(headers or {})
    api_key = api_key if api_key is not None else os.environ.get("PHOENIX_API_KEY")
    if api_key:
        all_headers.setdefault("authorization", f"Bearer {api_key}")
    config = _Config(project_name, phoenix_traces_endpoint(endpoint), bool(batch), bool(instrument_smolagents),
                     tuple(sorted(all_headers.items())))
    sdk, instrumentor_class = _load(config.instrument_smolagents)
    with _lock:
        if config == _config:
            return _provider
        previous = _provider
        provider = sdk.TracerProvider(resource=sdk.Resource.create({_PROJECT_KEY: config.project_name}),
                                      shutdown_on_exit=False)  # _at_exit bounds the last flush instead
        exporter = sdk.GuardedExporter(sdk.OTLPSpanExporter(endpoint=config.endpoint, timeout=_EXPORT_TIMEOUT,
                                                        headers=dict(config.headers) or None), config.endpoint)
        delay = {} if config.batch else {"schedule_delay_millis": 20}
        provider.add_span_processor(sdk.BatchSpanProcessor(exporter, **delay))
        _open[id(provider)] = (provider, exporter)
        if set_global and previous is None and _global_is_unset():
            trace.set_tracer_provider(provider)
        _uninstrument()
        if instrumentor_class is not None:
            _instrumentor = instrumentor_class()
            _instrumentor.instrument(tracer_provider=provider)
            _undo_models = instrument_other_models(_instrumentor)
        _config, _provider = config, provider
    if previous is not None:
        if previous is not trace.get_tracer_provider():  # still global: other instrumentations use it
            _close(previous, _FLUSH)
        else:
            previous.force_flush(timeout_millis=int(_FLUSH * 1000))
    return provider


def shutdown_tracing() -> None:
    """Undo ``setup_tracing()``: flush and shut down its provider, uninstrument smolagents.

    Task spans then go to OpenTelemetry's global provider again, if one is set that is
    not the one ``setup_tracing()`` made.
    """
    global _config, _provider, _retired
    with _lock:
        provider, _config, _provider = _provider, None, None
        _uninstrument()
        if provider is not None and provider is trace.get_tracer_provider():
            _retired = provider
    if provider is not None:
        _close(provider, _FLUSH)


def _close(provider: Any, seconds: float) -> None:
    """Flush ``provider`` for at most ``seconds``, then shut it down without waiting on its collector."""
    from ._export import flush_then_abandon

    entry = _open.pop(id(provider), None)
    flush_then_abandon(provider, entry[1] if entry else None, seconds)


@atexit.register
def _at_exit() -> None:
    """At interpreter exit, each provider still open gets ``_EXIT_FLUSH`` seconds to send its spans."""
    for provider, _exporter in list(_open.values()):
        _close(provider, _EXIT_FLUSH)


def _uninstrument() -> None:
    global _instrumentor, _undo_models
    _undo_models()
    _undo_models = _nothing
    if _instrumentor is not None:
        _instrumentor.uninstrument()  # a singleton: it must be undone before instrumenting again
        _instrumentor = None


def _global_is_unset() -> bool:
    return isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


class _Sdk:
    """The OpenTelemetry SDK pieces ``setup_tracing`` builds the Phoenix exporter from.

    ``phoenix.otel.register`` would do the same, but with the Phoenix server package
    installed, importing it imports the whole server (about 20 s here).
    """

    def __init__(self) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter,
        )
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        from ._export import GuardedExporter

        self.OTLPSpanExporter, self.Resource, self.TracerProvider = OTLPSpanExporter, Resource, TracerProvider
        self.BatchSpanProcessor, self.GuardedExporter = BatchSpanProcessor, GuardedExporter


def _load(instrument_smolagents: bool) -> tuple[_Sdk, Any]:
    """The SDK pieces and the smolagents instrumentor, or the install command."""
    try:
        sdk = _Sdk()
    except ImportError as exc:
        raise ImportError(f"setup_tracing needs the OpenTelemetry SDK and OTLP exporter: {_INSTALL}") from exc
    if not instrument_smolagents:
        return sdk, None
    try:
        from openinference.instrumentation.smolagents import SmolagentsInstrumentor
    except ImportError as exc:
        raise ImportError(f"setup_tracing needs the smolagents instrumentation: {_INSTALL}") from exc
    return sdk, SmolagentsInstrumentor
