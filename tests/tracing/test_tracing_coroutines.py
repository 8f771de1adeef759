"""Coroutine tasks are traced like thread tasks: the task span under the submitter's span, the
coroutine's own spans under the task span, nothing attached in one coroutine leaking into the next."""

from __future__ import annotations

import asyncio
import threading

from opentelemetry import context as otel_context
from opentelemetry import trace

from async_task_system import TaskManager, TaskStatus
from async_task_system.tracing import TaskSpanObserver

_LEAK = otel_context.create_key("coroutine-leak-test")


def test_a_coroutine_tasks_span_sits_under_the_submitters_and_holds_the_coroutines_spans(spans):
    tracer = spans.provider.get_tracer("test")

    async def fetch(url):
        with tracer.start_as_current_span("http get"):
            await asyncio.sleep(0.01)
        return url

    with TaskManager(observers=[TaskSpanObserver(spans.provider)]) as tm:
        with tracer.start_as_current_span("agent step") as step:
            tid = tm.submit(fetch, ("http://a",))
        assert tm.result(tid, timeout=10) == "http://a"
    task = spans.wait_for("task fetch")
    inner = spans.one("http get")
    assert task.parent.span_id == step.get_span_context().span_id
    assert inner.parent.span_id == task.context.span_id
    assert task.attributes["task.id"] == tid and task.attributes["task.status"] == "completed"


def test_a_cancelled_coroutine_tasks_span_ends_with_the_reason(spans):
    started = threading.Event()

    async def hang():
        started.set()
        await asyncio.Event().wait()

    with TaskManager(observers=[TaskSpanObserver(spans.provider)]) as tm:
        tid = tm.submit(hang)
        assert started.wait(10)
        tm.cancel(tid, reason="plan changed")
        assert tm.get(tid).status is TaskStatus.CANCELLED
    span = spans.wait_for("task hang")
    assert span.attributes["task.status"] == "cancelled"
    assert any(event.name == "task.cancelled" and "plan changed" in str(dict(event.attributes or {}))
               for event in span.events)


def test_what_one_coroutine_attaches_does_not_leak_into_the_next(spans):
    tracer = spans.provider.get_tracer("test")

    async def careless():
        otel_context.attach(otel_context.set_value(_LEAK, "leaked"))
        otel_context.attach(trace.set_span_in_context(tracer.start_span("never ended")))

    async def look():
        return otel_context.get_value(_LEAK), trace.get_current_span().get_span_context().span_id

    with TaskManager(max_coroutines=1, observers=[TaskSpanObserver(spans.provider)]) as tm:
        tm.wait(tm.submit(careless), timeout=10)
        leak, span_id = tm.result(tm.submit(look), timeout=10)
    assert leak is None
    assert span_id == spans.wait_for("task look").context.span_id


def test_an_async_tool_gets_one_tool_span_with_its_real_output_when_called_directly(spans):
    from openinference.instrumentation.smolagents import SmolagentsInstrumentor

    from async_task_system import create_async_agent
    from async_task_system.agent import tool
    from async_task_system.testing import ScriptedModel

    @tool
    async def lookup(key: str) -> str:
        """Look a key up.

        Args:
            key: the key
        """
        await asyncio.sleep(0.01)
        return key.upper()

    instrumentor = SmolagentsInstrumentor()
    instrumentor.instrument(tracer_provider=spans.provider)
    try:
        model = ScriptedModel([
            "a = lookup('x')\nt = submit_task('tool', 'lookup', {'key': 'y'})\nprint(wait_for_tasks([t]))",
            "final_answer([a, get_task_results([t])[t]])",
        ])
        with create_async_agent(tools=[lookup], model=model, verbosity_level=0) as agent:
            assert agent.run("Look up x and y.") == ["X", "Y"]
    finally:
        instrumentor.uninstrument()
    tool_spans = [s for s in spans.finished() if s.attributes.get("tool.name") == "lookup"]
    # The direct call: one span, for the whole await, with the result (not a coroutine object).
    # The background call ran on the loop without a tool span that would end at once, holding a coroutine.
    assert [s.attributes.get("output.value") for s in tool_spans] == ["X"]
