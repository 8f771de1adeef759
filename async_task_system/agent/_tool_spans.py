"""The TOOL span of an async tool run on the event loop, as OpenInference makes it for a sync tool.

OpenInference's smolagents instrumentation wraps ``Tool.__call__``: its span ends when the call
returns, which for an ``async def`` forward is when the coroutine is *made*. So a background
async tool (``AsyncToolCall``) gets its span here instead, around the whole ``await``, made by
the instrumentation's own tracer with the same name (the tool's class), kind, tool attributes,
input and output. Inside a task, it is a child of the task span, so the trace stays one tree.
A tool that raises ends its span in error with the exception; a cancelled one (a timeout,
``cancel_task``) with a ``tool.cancelled`` event and no error status, as task spans do.
Nothing is recorded unless that instrumentation is on (and tracing is not suppressed).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

__all__ = ["tool_span"]

_INSTRUMENTATION = "openinference.instrumentation.smolagents"
_TEXT_TYPES = ("string", "boolean", "integer", "number")


def _tracer() -> Any | None:
    """The tracer of OpenInference's smolagents instrumentation, if it is on (never imports it)."""
    module = sys.modules.get(_INSTRUMENTATION)
    if module is None:
        return None
    instrumentor = module.SmolagentsInstrumentor()  # a singleton
    return getattr(instrumentor, "_tracer", None) if instrumentor.is_instrumented_by_opentelemetry else None


@contextlib.contextmanager
def tool_span(tool: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Iterator[Any]:
    """Around one run of ``tool``: yields a setter for its result (or None, when nothing is traced)."""
    tracer = _tracer()
    if tracer is None:
        yield None
        return
    from openinference.instrumentation import get_attributes_from_context, safe_json_dumps
    from opentelemetry import context as otel_context
    from opentelemetry.trace import Status, StatusCode

    if otel_context.get_value(otel_context._SUPPRESS_INSTRUMENTATION_KEY):
        yield None
        return
    def text(value: Any) -> str:  # the tool's values are user objects: tracing must not fail the call
        try:
            return safe_json_dumps(value)
        except Exception as exc:  # noqa: BLE001 - a broken __str__, a cycle...
            return f"<not shown: {type(exc).__name__}>"

    attributes = {
        "openinference.span.kind": "TOOL",
        "input.value": text({"args": list(args), "sanitize_inputs_outputs": False, "kwargs": kwargs}),
        "tool.parameters": text(tool.inputs),
        **{key: value for key, value in (("tool.name", tool.name), ("tool.description", tool.description))
           if isinstance(value, str) and value},
        **dict(get_attributes_from_context()),
    }
    with tracer.start_as_current_span(type(tool).__name__, attributes=attributes, record_exception=False,
                                      set_status_on_exception=False) as span:

        def finished(result: Any) -> None:
            span.set_status(StatusCode.OK)
            if isinstance(result, str) or (tool.output_type in _TEXT_TYPES and isinstance(result, (bool, int, float))):
                span.set_attributes({"output.value": result, "output.mime_type": "text/plain"})
            else:
                span.set_attributes({"output.value": text(result), "output.mime_type": "application/json"})

        try:
            yield finished
        except Exception as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            raise
        except BaseException as exc:  # cancelled (a timeout, cancel_task): asked for, so not an error
            span.add_event("tool.cancelled", {"exception.type": type(exc).__name__})
            raise
