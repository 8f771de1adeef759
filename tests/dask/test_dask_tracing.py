"""Spans from worker processes join the trace of the code that submitted the task."""

from __future__ import annotations

import gzip
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from dask_jobs import local_client, traced_work
from openinference.instrumentation import using_attributes
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from async_task_system import TaskManager
from async_task_system.executors import DaskExecutor

pytestmark = pytest.mark.slow


class OTLPReceiver:
    """A tiny OTLP/HTTP trace endpoint: decodes ExportTraceServiceRequest protobufs into dicts."""

    def __init__(self) -> None:
        self.spans: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ExportTraceServiceRequest.FromString(body)
                for resource_spans in request.resource_spans:
                    resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
                    for scope_spans in resource_spans.scope_spans:
                        for span in scope_spans.spans:
                            receiver.spans.append({
                                "name": span.name, "trace_id": span.trace_id.hex(),
                                "span_id": span.span_id.hex(), "parent_span_id": span.parent_span_id.hex(),
                                "attributes": {a.key: _value(a.value) for a in span.attributes},
                                "resource": resource,
                            })
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _value(value):
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    return getattr(value, kind) if kind else None


@pytest.fixture(scope="module")
def traced_cluster():
    """Its own one-worker cluster: the worker's tracer provider must not outlive this test."""
    receiver = OTLPReceiver()
    with local_client(n_workers=1, threads=2) as (_, client):
        yield client, receiver
    receiver.close()


def test_worker_spans_join_the_submitting_trace(traced_cluster):
    client, receiver = traced_cluster
    executor = DaskExecutor(client, trace_endpoint=receiver.url, project_name="dask-tests", instrumentors=())
    local = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(local))
    tracer = provider.get_tracer("test")
    with TaskManager(max_workers=2, executor=executor, observers=[]) as tm:
        with tracer.start_as_current_span("agent run") as root, \
                using_attributes(session_id="session-42", user_id="ada", metadata={"team": "blue"}):
            tid = tm.submit(traced_work, ("report",))
        seen_in_task = tm.result(tid, timeout=60)
    trace_id = format(root.get_span_context().trace_id, "032x")
    root_id = format(root.get_span_context().span_id, "016x")

    # OpenInference attributes reached the worker's context (OITracer spans there copy them).
    assert seen_in_task["session.id"] == "session-42"
    assert seen_in_task["user.id"] == "ada"
    assert seen_in_task["pid"] != os.getpid()

    deadline = time.monotonic() + 10  # flushed at task end; allow the HTTP handler to finish
    while not any(s["name"] == "tool work report" for s in receiver.spans) and time.monotonic() < deadline:
        time.sleep(0.05)
    tool_span = next(s for s in receiver.spans if s["name"] == "tool work report")
    worker_span = next(s for s in receiver.spans if s["span_id"] == tool_span["parent_span_id"])
    assert worker_span["name"] == "worker traced_work"
    assert worker_span["trace_id"] == tool_span["trace_id"] == trace_id
    assert worker_span["parent_span_id"] == root_id
    assert tool_span["parent_span_id"] == worker_span["span_id"]
    assert worker_span["attributes"]["task.id"] == tid
    assert worker_span["attributes"]["session.id"] == "session-42"
    assert worker_span["attributes"]["process.pid"] == seen_in_task["pid"]
    assert worker_span["resource"]["openinference.project.name"] == "dask-tests"


def test_the_library_task_span_is_the_parent_of_the_worker_span(traced_cluster):
    from async_task_system.tracing import TaskSpanObserver

    client, receiver = traced_cluster
    executor = DaskExecutor(client, trace_endpoint=receiver.url, instrumentors=())
    local = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(local))
    with TaskManager(max_workers=2, executor=executor, observers=[TaskSpanObserver(provider)]) as tm:
        with provider.get_tracer("test").start_as_current_span("agent run"):
            tid = tm.submit(traced_work, ("nested",))
        tm.result(tid, timeout=60)
    provider.force_flush()
    task_span = next(s for s in local.get_finished_spans() if s.name == "task traced_work")
    deadline = time.monotonic() + 10
    while not any(s["name"] == "tool work nested" for s in receiver.spans) and time.monotonic() < deadline:
        time.sleep(0.05)
    tool_span = next(s for s in receiver.spans if s["name"] == "tool work nested")
    worker_span = next(s for s in receiver.spans if s["span_id"] == tool_span["parent_span_id"])
    assert worker_span["name"] == "worker traced_work" and worker_span["attributes"]["task.id"] == tid
    assert worker_span["trace_id"] == format(task_span.context.trace_id, "032x")
    assert worker_span["parent_span_id"] == format(task_span.context.span_id, "016x")
    assert task_span.status.is_ok


def test_smolagents_tool_spans_are_recorded_on_the_worker(traced_cluster):
    from dask_jobs import where_am_i_tool

    client, receiver = traced_cluster
    executor = DaskExecutor(client, trace_endpoint=receiver.url)  # default: instruments smolagents there
    with TaskManager(max_workers=2, executor=executor, observers=[]) as tm:
        result = tm.result(tm.submit(where_am_i_tool(), kwargs={"label": "instrumented"}), timeout=60)
    assert result["pid"] != os.getpid()
    deadline = time.monotonic() + 10
    while not any(s["name"] == "WhereAmI" for s in receiver.spans) and time.monotonic() < deadline:
        time.sleep(0.05)
    tool_span = next(s for s in receiver.spans if s["name"] == "WhereAmI")
    assert tool_span["attributes"]["openinference.span.kind"] == "TOOL"
    assert "instrumented" in tool_span["attributes"]["input.value"]
    worker_span = next(s for s in receiver.spans if s["span_id"] == tool_span["parent_span_id"])
    assert worker_span["name"] == "worker WhereAmI"


def test_auto_trace_target_follows_the_phoenix_environment(traced_cluster, monkeypatch):
    from async_task_system.tracing import _setup

    client, receiver = traced_cluster
    monkeypatch.setattr(_setup, "_config", None)  # as if setup_tracing() was never called here
    for name in ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PHOENIX_COLLECTOR_ENDPOINT", receiver.url.removesuffix("/v1/traces"))
    monkeypatch.setenv("PHOENIX_PROJECT_NAME", "env-project")
    executor = DaskExecutor(client, instrumentors=())
    assert (executor.trace_endpoint, executor.project_name) == (receiver.url, "env-project")
    monkeypatch.delenv("PHOENIX_COLLECTOR_ENDPOINT")
    assert DaskExecutor(client).trace_endpoint is None  # nothing configured: workers export nothing
