"""setup_tracing(): endpoint rules, idempotence, re-targeting, the install hint, bad input."""

from __future__ import annotations

import http.server
import sys
import threading

import pytest
from openinference.instrumentation.smolagents import SmolagentsInstrumentor
from opentelemetry import trace

from async_task_system import InvalidArgumentError, TaskManager, setup_tracing
from async_task_system.tracing import phoenix_traces_endpoint, shutdown_tracing

UNUSED = "http://127.0.0.1:9"  # nothing is exported in these tests


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://127.0.0.1:6006", "http://127.0.0.1:6006/v1/traces"),
        ("http://127.0.0.1:6006/", "http://127.0.0.1:6006/v1/traces"),
        ("http://127.0.0.1:6006/v1/traces", "http://127.0.0.1:6006/v1/traces"),
        ("127.0.0.1:6006", "http://127.0.0.1:6006/v1/traces"),
        ("https://phoenix.example.com/s/team", "https://phoenix.example.com/s/team/v1/traces"),
    ],
)
def test_a_bare_host_gets_the_traces_path(given, expected):
    assert phoenix_traces_endpoint(given) == expected


def test_endpoint_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("PHOENIX_COLLECTOR_ENDPOINT", "http://collector:7007")
    assert phoenix_traces_endpoint() == "http://collector:7007/v1/traces"
    monkeypatch.delenv("PHOENIX_COLLECTOR_ENDPOINT")
    assert phoenix_traces_endpoint() == "http://localhost:6006/v1/traces"


@pytest.mark.parametrize("bad", ["", "   ", "ftp://host:21", "http://", 6006])
def test_bad_endpoints_say_what_is_accepted(bad):
    with pytest.raises(InvalidArgumentError, match="http://127.0.0.1:6006"):
        phoenix_traces_endpoint(bad)


def test_bad_arguments_are_refused():
    with pytest.raises(InvalidArgumentError, match="project_name"):
        setup_tracing(project_name="  ", endpoint=UNUSED, set_global=False)
    with pytest.raises(InvalidArgumentError, match="headers"):
        setup_tracing(project_name="p", endpoint=UNUSED, headers={"x": 1}, set_global=False)


def test_calling_twice_returns_the_same_provider_and_instruments_once():
    first = setup_tracing(project_name="twice", endpoint=UNUSED, set_global=False)
    second = setup_tracing(project_name="twice", endpoint=UNUSED + "/", set_global=False)
    assert second is first
    assert SmolagentsInstrumentor().is_instrumented_by_opentelemetry
    assert first.resource.attributes["openinference.project.name"] == "twice"
    assert trace.get_tracer_provider() is not first  # set_global=False left the global alone


def test_new_settings_retarget_smolagents_and_the_task_spans():
    from async_task_system.tracing._setup import active_provider

    first = setup_tracing(project_name="one", endpoint=UNUSED, set_global=False)
    second = setup_tracing(project_name="two", endpoint=UNUSED, set_global=False)
    assert second is not first
    assert second.resource.attributes["openinference.project.name"] == "two"
    assert active_provider() is second
    assert SmolagentsInstrumentor().is_instrumented_by_opentelemetry
    shutdown_tracing()
    assert not SmolagentsInstrumentor().is_instrumented_by_opentelemetry
    assert active_provider() in (None, trace.get_tracer_provider())  # back to the global, if any


class _Collector(http.server.BaseHTTPRequestHandler):
    """Answers OTLP exports with 200 and remembers each request's path and headers."""

    received: list[tuple[str, dict[str, str]]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.received.append((self.path, dict(self.headers)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_exports_go_to_the_traces_path_with_the_api_key(monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("PHOENIX_API_KEY", "secret-key")
        monkeypatch.setenv("PHOENIX_COLLECTOR_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
        provider = setup_tracing(project_name="keyed", batch=False, set_global=False, headers={"x-team": "data"})
        with TaskManager() as tm:
            tm.wait(tm.submit(int), timeout=10)
        provider.force_flush()  # export runs on a background thread
    finally:
        server.shutdown()
        server.server_close()
    path, headers = _Collector.received[-1]
    headers = {k.lower(): v for k, v in headers.items()}
    assert path == "/v1/traces"
    assert headers["authorization"] == "Bearer secret-key"
    assert headers["x-team"] == "data"


def test_a_missing_extra_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)
    with pytest.raises(ImportError, match=r'pip install "async_task_system\[phoenix\]"'):
        setup_tracing(project_name="p", endpoint=UNUSED, set_global=False)
    monkeypatch.undo()
    monkeypatch.setitem(sys.modules, "openinference.instrumentation.smolagents", None)
    with pytest.raises(ImportError, match=r'pip install "async_task_system\[phoenix\]"'):
        setup_tracing(project_name="p", endpoint=UNUSED, set_global=False)


def test_models_defined_outside_smolagents_get_llm_spans_until_shutdown():
    import wrapt

    from async_task_system.testing import ScriptedModel

    original = ScriptedModel.__dict__["generate"]
    setup_tracing(project_name="models", endpoint=UNUSED, set_global=False)
    assert isinstance(ScriptedModel.__dict__["generate"], wrapt.FunctionWrapper)
    setup_tracing(project_name="models-again", endpoint=UNUSED, set_global=False)  # not wrapped twice
    assert ScriptedModel.__dict__["generate"].__wrapped__ is original
    shutdown_tracing()
    assert ScriptedModel.__dict__["generate"] is original


def test_models_defined_after_setup_get_llm_spans_too():
    import wrapt
    from smolagents.models import ChatMessage, MessageRole, Model

    setup_tracing(project_name="later", endpoint=UNUSED, set_global=False)

    class EchoModel(Model):
        def generate(self, messages, stop_sequences=None, **kwargs):
            return ChatMessage(role=MessageRole.ASSISTANT, content="echo")

    assert isinstance(EchoModel.__dict__["generate"], wrapt.FunctionWrapper)
    shutdown_tracing()
    assert not isinstance(EchoModel.__dict__["generate"], wrapt.FunctionWrapper)

    class AfterShutdown(EchoModel):
        def generate(self, messages, stop_sequences=None, **kwargs):
            return ChatMessage(role=MessageRole.ASSISTANT, content="quiet")

    assert not isinstance(AfterShutdown.__dict__["generate"], wrapt.FunctionWrapper)
