"""The task span: parentage, attributes, status, and events for retries, timeouts and cancellation."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from opentelemetry import trace
from opentelemetry.trace import StatusCode

from async_task_system import ResultOf, TaskManager, TaskStatus, cancel_token
from async_task_system.engine import Executor
from async_task_system.tracing import TaskSpanObserver


def manager(spans, **kwargs) -> TaskManager:
    return TaskManager(observers=[TaskSpanObserver(spans.provider)], **kwargs)


def event_names(span) -> list[str]:
    return [e.name for e in span.events]


def test_task_span_is_a_child_of_the_submitting_span_and_parent_of_the_tasks_own_spans(spans):
    tracer = spans.provider.get_tracer("test")

    def lookup(city: str) -> str:
        with tracer.start_as_current_span("inside lookup"):
            return city.upper()

    with manager(spans, max_workers=2) as tm:
        with tracer.start_as_current_span("agent run") as run:
            tid = tm.submit(lookup, kwargs={"city": "paris"}, metadata={"task_type": "tool"})
        assert tm.result(tid, timeout=10) == "PARIS"

    task, inner = spans.one("task lookup"), spans.one("inside lookup")
    assert task.context.trace_id == run.get_span_context().trace_id
    assert task.parent.span_id == run.get_span_context().span_id
    assert inner.parent.span_id == task.context.span_id
    attrs = task.attributes
    assert attrs["task.id"] == tid
    assert attrs["task.name"] == "lookup"
    assert attrs["task.type"] == "tool"
    assert attrs["task.status"] == "completed"
    assert attrs["task.attempts"] == 1
    assert attrs["task.queue_wait_seconds"] >= 0
    assert attrs["openinference.span.kind"] == "CHAIN"
    assert "paris" in attrs["input.value"] and attrs["output.value"] == "PARIS"
    assert task.status.status_code is StatusCode.OK


def test_failed_task_has_error_status_and_the_exception(spans):
    def broken() -> None:
        raise ValueError("dataset 'x' not found")

    with manager(spans) as tm:
        tid = tm.submit(broken)
        tm.wait(tid, timeout=10)

    span = spans.one("task broken")
    assert span.status.status_code is StatusCode.ERROR
    assert "dataset 'x' not found" in span.status.description
    assert span.attributes["task.status"] == "failed"
    (exception,) = [e for e in span.events if e.name == "exception"]
    assert exception.attributes["exception.type"] == "ValueError"
    assert tm.get(tid).status is TaskStatus.FAILED


def test_retries_stay_in_one_span_with_an_event_per_retry(spans):
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError(f"attempt {len(calls)} lost the connection")
        return "ok"

    with manager(spans) as tm:
        tid = tm.submit(flaky, max_retries=3, backoff=lambda attempt: 0.01)
        assert tm.result(tid, timeout=10) == "ok"

    span = spans.one("task flaky")
    assert span.attributes["task.attempts"] == 3
    assert span.attributes["task.max_retries"] == 3
    assert span.status.status_code is StatusCode.OK
    names = event_names(span)
    assert names.count("exception") == 2
    assert names.count("task.retry_scheduled") == 2
    assert names.count("task.running") == 2  # attempts 2 and 3; the first is the span's start
    retry = next(e for e in span.events if e.name == "task.pending")
    assert "lost the connection" in retry.attributes["task.reason"]


def test_timeout_ends_the_span_at_once_even_if_the_thread_runs_on(spans, caplog):
    release = threading.Event()

    def stuck() -> str:
        release.wait(10)  # ignores its cancel token, as badly behaved code does
        return "late"

    with manager(spans) as tm:
        tid = tm.submit(stuck, timeout=0.2)
        tm.wait(tid, timeout=10)
        span = spans.wait_for("task stuck")  # exported while the attempt is still running
        assert not release.is_set() and tm.get_statistics()["abandoned_threads"] == 1
        assert span.status.status_code is StatusCode.ERROR
        assert "timeout" in span.status.description
        assert span.attributes["task.status"] == "timeout"
        (event,) = [e for e in span.events if e.name == "task.timeout"]
        assert "0.2s" in event.attributes["task.reason"]
        with caplog.at_level(logging.WARNING):
            release.set()
            tm.shutdown(wait=True)
    assert len(spans.named("task stuck")) == 1
    assert not [r for r in caplog.records if "ended span" in r.getMessage()]


def test_cancelling_a_running_task_records_who_and_why(spans):
    started = threading.Event()

    def patient() -> None:
        started.set()
        cancel_token().wait(10)

    with manager(spans) as tm:
        tid = tm.submit(patient)
        assert started.wait(10)
        assert tm.cancel(tid, reason="the user changed their mind")

    span = spans.one("task patient")
    (event,) = [e for e in span.events if e.name == "task.cancelled"]
    assert event.attributes["task.reason"] == "the user changed their mind"
    assert span.attributes["task.status"] == "cancelled"
    assert span.status.status_code is StatusCode.UNSET  # asked for, not an error


def test_a_task_cancelled_before_it_started_has_no_span(spans):
    gate = threading.Event()
    with manager(spans, max_workers=1) as tm:
        blocker = tm.submit(gate.wait, (10,), name="blocker")
        queued = tm.submit(str, name="queued")
        tm.cancel(queued)
        gate.set()
        tm.wait([blocker, queued], timeout=10)
    assert spans.named("task queued") == []
    assert len(spans.named("task blocker")) == 1


def test_dependencies_are_recorded(spans):
    with manager(spans) as tm:
        first = tm.submit(pow, (2, 8), name="first")
        second = tm.submit(str, (ResultOf(first),), name="second")
        assert tm.result(second, timeout=10) == "256"
    assert spans.one("task second").attributes["task.depends_on"] == (first,)


class _SlowStartExecutor(Executor):
    """Lets a test act between ``begin`` (the task is running) and the attempt's first line."""

    capacity = 1

    def __init__(self) -> None:
        self.begun = threading.Event()
        self.go = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self, call, reporter) -> None:
        def run() -> None:
            if not reporter.attempt_starting(call):
                return
            self.begun.set()
            self.go.wait(10)
            try:
                reporter.attempt_finished(call, True, call.run())
            except BaseException as exc:  # noqa: BLE001
                reporter.attempt_finished(call, False, exc)

        thread = threading.Thread(target=run)
        self.threads.append(thread)
        thread.start()

    def shutdown(self, wait: bool = True) -> None:
        for thread in self.threads if wait else ():
            thread.join()


def test_a_task_that_ended_before_its_attempt_began_still_closes_its_span(spans, caplog):
    executor = _SlowStartExecutor()
    tm = TaskManager(executor=executor, observers=[observer := TaskSpanObserver(spans.provider)])
    tid = tm.submit(str, ("x",), name="raced")
    assert executor.begun.wait(10)
    tm.cancel(tid, reason="cancelled in the gap")
    with caplog.at_level(logging.WARNING):
        executor.go.set()
        tm.shutdown(wait=True)
    span = spans.one("task raced")
    assert "task.ended_before_start" in event_names(span)
    assert span.attributes["task.id"] == tid and span.attributes["task.name"] == "raced"
    assert observer.open_spans == 0
    assert not [r for r in caplog.records if "ended span" in r.getMessage()]


def test_tasks_on_one_thread_each_get_their_own_parent(spans):
    tracer = spans.provider.get_tracer("test")
    with manager(spans, max_workers=1) as tm:
        ids = {}
        for run in ("run a", "run b", "run c"):
            with tracer.start_as_current_span(run):
                ids[run] = tm.submit(trace.get_current_span, name=f"job for {run}")
        tm.wait(list(ids.values()), timeout=10)
    for run, tid in ids.items():
        current = tm.get(tid).result  # the span current inside the task: its own task span
        task = spans.one(f"task job for {run}")
        assert current.get_span_context().span_id == task.context.span_id
        assert task.parent.span_id == spans.one(run).context.span_id


@pytest.mark.parametrize("max_workers", [1, 3])
def test_concurrent_tasks_leave_no_open_spans(spans, max_workers):
    observer = TaskSpanObserver(spans.provider)
    with TaskManager(max_workers=max_workers, observers=[observer]) as tm:
        ids = [tm.submit(time.sleep, (0.001,), name="nap") for _ in range(200)]
        tm.wait(ids, timeout=30)
    assert len(spans.named("task nap")) == 200
    assert observer.open_spans == 0
    assert len({s.context.span_id for s in spans.named("task nap")}) == 200


def test_hidden_inputs_and_outputs_stay_out_of_the_span(spans, monkeypatch):
    monkeypatch.setenv("OPENINFERENCE_HIDE_INPUTS", "true")
    monkeypatch.setenv("OPENINFERENCE_HIDE_OUTPUTS", "true")
    with manager(spans) as tm:
        tm.wait(tm.submit(str.upper, ("secret",), name="private"), timeout=10)
    attrs = spans.one("task private").attributes
    assert "input.value" not in attrs and "output.value" not in attrs
    assert attrs["task.status"] == "completed"


def test_suppressed_tracing_records_no_task_span(spans):
    from openinference.instrumentation import suppress_tracing

    with manager(spans) as tm:
        with suppress_tracing():
            quiet = tm.submit(str, ("x",), name="quiet")
        loud = tm.submit(str, ("y",), name="loud")
        tm.wait([quiet, loud], timeout=10)
    assert spans.named("task quiet") == [] and len(spans.named("task loud")) == 1


def test_input_and_output_text_is_exact_when_short_and_bounded_when_long(spans):
    def repeat(city: str, n: int) -> list[str]:
        return [city] * n

    with manager(spans) as tm:
        small = tm.submit(repeat, kwargs={"city": "paris", "n": 2}, name="small")
        big = tm.submit(sorted, (list(range(100_000)),), name="big")
        tm.wait([small, big], timeout=10)
    attrs = spans.one("task small").attributes
    assert attrs["input.value"] == "{'city': 'paris', 'n': 2}"
    assert attrs["output.value"] == "['paris', 'paris']"
    attrs = spans.one("task big").attributes
    assert attrs["input.value"] == "([0, 1, 2, 3, 4, 5, ...],)"
    assert attrs["output.value"] == "[0, 1, 2, 3, 4, 5, ...]"


def test_cancelling_running_tasks_that_then_raise_leaves_one_closed_span_each(spans, caplog):
    """The canceller ends the span while the attempt runs on; the attempt's late exception
    must not touch the ended span, and no span may stay open or be doubled."""
    observer = TaskSpanObserver(spans.provider)

    def racer() -> str:
        time.sleep(0.002)
        cancel_token().raise_if_cancelled()
        return "done"

    with caplog.at_level(logging.WARNING), TaskManager(max_workers=4, observers=[observer]) as tm:
        ids = [tm.submit(racer, name="racer") for _ in range(120)]
        for tid in ids[1::2]:  # cancel each of these once it runs
            while tm.get(tid).status is TaskStatus.PENDING:
                time.sleep(0.0002)
            tm.cancel(tid, reason="stress")
        tm.wait(ids, timeout=30)
    deadline = time.monotonic() + 5  # spans end just after the waiters wake
    while observer.open_spans and time.monotonic() < deadline:
        time.sleep(0.01)
    assert observer.open_spans == 0
    by_task: dict[str, list] = {}
    for span in spans.named("task racer"):
        by_task.setdefault(span.attributes["task.id"], []).append(span)
    assert all(len(found) == 1 for found in by_task.values())
    for tid in ids:  # a task cancelled between its dispatch and its first line has no span
        status = tm.get(tid).status
        if status is not TaskStatus.CANCELLED:
            assert status is TaskStatus.COMPLETED and tid in by_task
        if tid in by_task and "task.status" in by_task[tid][0].attributes:  # else ended before it began
            assert by_task[tid][0].attributes["task.status"] == status.value
    cancelled_spans = [tid for tid, (span,) in by_task.items() if span.attributes.get("task.status") == "cancelled"]
    assert len(cancelled_spans) >= 30
    assert not [r for r in caplog.records if "ended span" in r.getMessage()]
