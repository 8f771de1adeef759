"""The OpenTelemetry context travels with each task, and nothing a task leaves behind leaks."""

from __future__ import annotations

import contextvars
from concurrent.futures import ThreadPoolExecutor

from openinference.instrumentation import (
    OITracer,
    TraceConfig,
    get_attributes_from_context,
    using_attributes,
    using_session,
)
from opentelemetry import baggage, trace
from opentelemetry import context as otel_context

from async_task_system import TaskManager
from async_task_system.tracing import TaskSpanObserver

_LEAK = otel_context.create_key("leak-test")
_plain_var: contextvars.ContextVar[str] = contextvars.ContextVar("plain_var", default="clean")


def _leave_things_attached(tracer) -> str:
    """What careless task code does: attach and never detach."""
    otel_context.attach(otel_context.set_value(_LEAK, "leaked"))
    otel_context.attach(trace.set_span_in_context(tracer.start_span("never ended")))
    _plain_var.set("dirty")
    return "done"


def _what_i_see() -> dict:
    return {
        "leak": otel_context.get_value(_LEAK),
        "span": trace.get_current_span().get_span_context().span_id,
        "var": _plain_var.get(),
        "session": otel_context.get_value("session.id"),
    }


def test_attach_without_detach_leaks_on_a_plain_thread_pool(spans):
    """The control: what the engine protects against really happens on a bare thread pool."""
    tracer = spans.provider.get_tracer("test")
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(_leave_things_attached, tracer).result()
        seen = pool.submit(_what_i_see).result()
    assert seen["leak"] == "leaked" and seen["var"] == "dirty"


def test_nothing_a_task_attaches_leaks_into_the_next_task_on_the_same_thread(spans):
    tracer = spans.provider.get_tracer("test")
    with TaskManager(max_workers=1, max_abandoned=0, observers=[TaskSpanObserver(spans.provider)]) as tm:
        first = tm.submit(_leave_things_attached, (tracer,))
        tm.wait(first, timeout=10)
        with tracer.start_as_current_span("second run") as run:
            second = tm.submit(_what_i_see)
        seen = tm.result(second, timeout=10)
    assert seen["leak"] is None and seen["var"] == "clean"
    task = spans.one("task _what_i_see")
    assert seen["span"] == task.context.span_id  # not the leaked "never ended" span
    assert task.parent.span_id == run.get_span_context().span_id


def test_openinference_user_attributes_reach_the_task_and_the_spans_inside_it(spans):
    oi_tracer = OITracer(spans.provider.get_tracer("test"), config=TraceConfig())

    def summarize() -> dict:
        with oi_tracer.start_as_current_span("llm call inside the task"):
            return dict(get_attributes_from_context())

    with TaskManager(observers=[TaskSpanObserver(spans.provider)]) as tm:
        with using_attributes(session_id="session-42", user_id="ada", metadata={"plan": "pro"},
                              tags=["fan-out"]):
            tid = tm.submit(summarize)
        seen = tm.result(tid, timeout=10)

    assert seen["session.id"] == "session-42" and seen["user.id"] == "ada"
    for span in (spans.one("task summarize"), spans.one("llm call inside the task")):
        assert span.attributes["session.id"] == "session-42"
        assert span.attributes["user.id"] == "ada"
        assert '"plan": "pro"' in span.attributes["metadata"]
        assert span.attributes["tag.tags"] == ("fan-out",)


def test_baggage_travels_too():
    with TaskManager() as tm:
        token = otel_context.attach(baggage.set_baggage("tenant", "acme"))
        try:
            tid = tm.submit(baggage.get_baggage, ("tenant",))
        finally:
            otel_context.detach(token)
        assert tm.result(tid, timeout=10) == "acme"


def test_with_propagation_off_tasks_start_their_own_traces(spans):
    tracer = spans.provider.get_tracer("test")
    observer = TaskSpanObserver(spans.provider)
    with TaskManager(propagate_context=False, observers=[observer]) as tm:
        with tracer.start_as_current_span("agent run") as run, using_session("s-1"):
            tid = tm.submit(_what_i_see)
        seen = tm.result(tid, timeout=10)
    task = spans.one("task _what_i_see")
    assert task.parent is None
    assert task.context.trace_id != run.get_span_context().trace_id
    assert seen["session"] is None and "session.id" not in task.attributes
