"""Coroutine tasks are traced like thread tasks: the task span under the submitter's span, the
coroutine's own spans under the task span, nothing attached in one coroutine leaking into the next."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace

from async_task_system import TaskManager, TaskStatus
from async_task_system.agent import tool
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


@tool
async def lookup(key: str) -> str:
    """Look a key up.

    Args:
        key: the key
    """
    await asyncio.sleep(0.01)
    if key == "broken":
        raise ConnectionError("the index is down")
    return key.upper()


@pytest.fixture
def instrumented(spans, monkeypatch):
    """smolagents instrumented into ``spans``, and task spans going there too (as setup_tracing does)."""
    from openinference.instrumentation.smolagents import SmolagentsInstrumentor

    monkeypatch.setattr("async_task_system.tracing._setup._provider", spans.provider)
    instrumentor = SmolagentsInstrumentor()
    instrumentor.instrument(tracer_provider=spans.provider)
    yield spans
    instrumentor.uninstrument()


def _run(code: list[str], **kwargs):
    from async_task_system import create_async_agent
    from async_task_system.testing import ScriptedModel

    with create_async_agent(tools=[lookup], model=ScriptedModel(code), verbosity_level=0, **kwargs) as agent:
        return agent.run("Look it up.")


def test_an_async_tool_gets_one_tool_span_for_the_whole_await_called_directly_or_in_the_background(instrumented):
    spans = instrumented
    assert _run(["a = lookup('x')\nt = submit_task('tool', 'lookup', {'key': 'y'})\nprint(wait_for_tasks([t]))",
                 "final_answer([a, get_task_results([t])[t]])"]) == ["X", "Y"]
    tool_spans = sorted((s for s in spans.finished() if s.attributes.get("tool.name") == "lookup"),
                        key=lambda s: s.attributes["output.value"])
    # one span each, for the whole await, with the result (not a coroutine object), named as for a sync tool
    assert [s.attributes["output.value"] for s in tool_spans] == ["X", "Y"]
    assert {s.name for s in tool_spans} == {"SimpleTool"} and all(
        s.attributes["openinference.span.kind"] == "TOOL" for s in tool_spans)
    background = tool_spans[1]
    assert '"kwargs": {"key": "y"}' in background.attributes["input.value"]
    assert background.end_time - background.start_time >= 10_000_000  # it covers the 10 ms await


def test_a_background_async_tools_span_sits_under_its_task_span_in_one_trace(instrumented):
    spans = instrumented
    assert _run(["t = submit_task('tool', 'lookup', {'key': 'y'})\nprint(wait_for_tasks([t]))",
                 "final_answer(get_task_results([t])[t])"]) == "Y"
    finished = spans.finished()
    by_id = {s.context.span_id: s for s in finished}
    (tool_span,) = [s for s in finished if s.attributes.get("tool.name") == "lookup"]
    chain, span = [], tool_span
    while span.parent is not None:
        span = by_id[span.parent.span_id]
        chain.append(span.name)
    assert chain[:2] == ["task lookup", "SubmitTaskTool"] and chain[-1] == "CodeAgent.run", chain
    assert len({s.context.trace_id for s in finished}) == 1  # one connected trace


def test_a_background_async_tool_that_raises_or_is_cancelled_ends_its_span_with_the_error(instrumented):
    spans = instrumented
    _run(["t = submit_task('tool', 'lookup', {'key': 'broken'})\nprint(wait_for_tasks([t]))", "final_answer(1)"])
    (failed,) = [s for s in spans.finished() if s.attributes.get("tool.name") == "lookup"]
    assert failed.status.status_code is trace.StatusCode.ERROR and "the index is down" in failed.status.description
    assert any(e.name == "exception" for e in failed.events)
    assert failed.parent.span_id == spans.one("task lookup").context.span_id


def test_with_the_instrumentation_off_a_background_async_tool_records_no_tool_span(spans):
    with TaskManager(observers=[TaskSpanObserver(spans.provider)]) as tm:
        from async_task_system.agent import AsyncToolCall

        assert tm.result(tm.submit(AsyncToolCall(lookup), kwargs={"key": "k"}), timeout=10) == "K"
    spans.wait_for("task lookup")
    assert [s.name for s in spans.finished()] == ["task lookup"]


class Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")

    __str__ = __repr__


def test_a_background_async_tool_with_unprintable_arguments_and_result_still_completes_traced(instrumented):
    from async_task_system.agent import AsyncToolCall

    @tool
    async def echo(value: object) -> object:
        """Give the value back.

        Args:
            value: anything
        """
        return value

    with TaskManager(observers=[TaskSpanObserver(instrumented.provider)]) as tm:
        thing = Unprintable()
        assert tm.result(tm.submit(AsyncToolCall(echo), kwargs={"value": thing}), timeout=10) is thing
    (span,) = [s for s in instrumented.finished() if s.attributes.get("tool.name") == "echo"]
    assert span.attributes["output.value"] == "<not shown: RuntimeError>"
    assert span.attributes["input.value"] == "<not shown: RuntimeError>"
    assert span.status.status_code is trace.StatusCode.OK


def test_a_cancelled_background_async_tool_ends_its_span_with_a_cancel_event_not_an_error(instrumented):
    from async_task_system.agent import AsyncToolCall

    started = threading.Event()

    @tool
    async def hang(key: str) -> str:
        """Never answers.

        Args:
            key: anything
        """
        started.set()
        await asyncio.Event().wait()
        return key

    with TaskManager(observers=[TaskSpanObserver(instrumented.provider)]) as tm:
        tid = tm.submit(AsyncToolCall(hang), kwargs={"key": "k"})
        assert started.wait(10)
        tm.cancel(tid, reason="plan changed")
        instrumented.wait_for("task hang")
        deadline = time.monotonic() + 5
        while not [s for s in instrumented.finished() if s.attributes.get("tool.name") == "hang"] \
                and time.monotonic() < deadline:
            time.sleep(0.01)
    (span,) = [s for s in instrumented.finished() if s.attributes.get("tool.name") == "hang"]
    assert span.status.status_code is trace.StatusCode.UNSET
    assert [e.name for e in span.events] == ["tool.cancelled"]
    assert span.parent.span_id == instrumented.one("task hang").context.span_id
