"""Span export that never slows or changes a run: ``GuardedExporter`` around the OTLP exporter.

* Spans are exported on the span processor's own thread (``BatchSpanProcessor``; with
  ``setup_tracing(batch=False)`` one with a 20 ms delay), never on a task's thread.
* A collector that does not take a batch (down, refusing, too slow) costs **one** warning for
  the process; its spans are dropped, and the collector is tried again after ``retry_after``
  seconds, then twice as long after each failure (up to a minute; one quiet request each
  time), so spans flow again once it is back. The OTLP
  exporter's own retry log lines ("Transient error ... retrying") are held back meanwhile.
* At exit, what is buffered gets half a second to go out; an export still
  retrying is then cut short, so a down collector does not hold the interpreter.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

__all__ = ["GuardedExporter", "EXPORTER_LOGGERS", "bounded_flush", "flush_then_abandon"]

_log = logging.getLogger("async_task_system.tracing")

#: The loggers whose export-failure lines a guarded export holds back (it says it once itself).
EXPORTER_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.common.http",
    "opentelemetry.exporter.otlp.proto.http",
    "urllib3.connectionpool",
)
_local = threading.local()


class _HeldBack(logging.Filter):
    """Drops records logged on a thread while it runs a guarded export."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(_local, "exporting", False)


_FILTER = _HeldBack()
for _name in EXPORTER_LOGGERS:
    logging.getLogger(_name).addFilter(_FILTER)

_MAX_RETRY_AFTER = 60.0
_warned = False  # one warning per process, whatever the number of providers or outages
_warned_lock = threading.Lock()


class GuardedExporter(SpanExporter):
    """Wraps a ``SpanExporter``: failures are warned about once and spans dropped while the
    collector is down (see the module docstring). ``dropped`` counts the spans lost."""

    def __init__(self, inner: SpanExporter, endpoint: str, *, retry_after: float = 5.0) -> None:
        self.inner = inner
        self.endpoint = endpoint
        self.retry_after = float(retry_after)
        self.dropped = 0
        self.exported = 0
        self._down_until = 0.0  # time.monotonic() before which exports are not tried
        self._failures = 0  # consecutive failed exports: the wait before the next try doubles
        self._closed = False

    @property
    def collector_down(self) -> bool:
        """Whether the last export failed (spans are being dropped)."""
        return self._down_until > 0.0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._closed or time.monotonic() < self._down_until:
            self.dropped += len(spans)
            return SpanExportResult.FAILURE
        _local.exporting = True
        try:
            result = self.inner.export(spans)
            error = None
        except Exception as exc:  # noqa: BLE001 - an exporter bug must not reach the processor's thread
            result, error = SpanExportResult.FAILURE, exc
        finally:
            _local.exporting = False
        if result is SpanExportResult.SUCCESS:
            self.exported += len(spans)
            self._failures = 0
            if self._down_until:
                self._down_until = 0.0
                _log.info("the trace collector at %s takes spans again", self.endpoint)
            return result
        self.dropped += len(spans)
        self._down_until = time.monotonic() + min(_MAX_RETRY_AFTER, self.retry_after * 2 ** self._failures)
        self._failures += 1
        _warn_once(self.endpoint, error)
        return SpanExportResult.FAILURE

    def abandon(self) -> None:
        """Stop exporting: later batches are dropped and an export still retrying gives up."""
        if not self._closed:
            self._closed = True
            self.inner.shutdown()

    def shutdown(self) -> None:
        self.abandon()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


def _warn_once(endpoint: str, error: BaseException | None) -> None:
    global _warned
    with _warned_lock:
        if _warned:
            return
        _warned = True
    why = f" ({type(error).__name__}: {error})" if error is not None else ""
    _log.warning("traces are not reaching %s%s: the collector is down or refused them. Runs are not "
                 "affected; spans are dropped until it takes them again (said once).", endpoint, why)


def bounded_flush(provider: Any, seconds: float) -> bool:
    """``provider.force_flush()``, waited for at most ``seconds``: the SDK's flush may export on the
    calling thread and overrun its own timeout, so it runs on a helper thread. True if it finished."""
    flush = threading.Thread(target=provider.force_flush, name="async_task_system span flush", daemon=True)
    flush.start()
    flush.join(seconds)
    return not flush.is_alive()


def flush_then_abandon(provider: Any, exporter: GuardedExporter | None, seconds: float) -> None:
    """Give buffered spans ``seconds`` to go out, then shut ``provider`` down without waiting on a
    collector that does not answer."""
    bounded_flush(provider, seconds)
    if exporter is not None:
        exporter.abandon()  # a retry still under way gives up; what is left is dropped
    provider.shutdown()
