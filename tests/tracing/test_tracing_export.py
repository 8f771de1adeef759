"""Span export never slows or changes a run: a blocked or down collector, the one warning, exit."""

from __future__ import annotations

import http.server
import logging
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from async_task_system import TaskManager, setup_tracing
from async_task_system.tracing._export import GuardedExporter


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


class _HeldCollector(http.server.BaseHTTPRequestHandler):
    """Takes an export request and answers only once ``release`` is set."""

    arrived = threading.Event()
    release = threading.Event()
    threads: list[str] = []

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("content-length", 0)))
        type(self).arrived.set()
        type(self).release.wait(30)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_a_collector_that_does_not_answer_blocks_no_task_even_with_batch_false():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HeldCollector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        provider = setup_tracing(project_name="held", endpoint=f"http://127.0.0.1:{server.server_port}",
                                 batch=False, set_global=False, instrument_smolagents=False)
        tracer = provider.get_tracer("test")

        def step(n: int) -> int:
            with tracer.start_as_current_span(f"step {n}"):
                return n * 2

        with TaskManager(max_workers=2) as tm:
            first = tm.submit(step, (1,))
            tm.wait(first, timeout=20)
            assert _HeldCollector.arrived.wait(20)  # the first span's export is now stuck in the collector
            later = [tm.submit(step, (n,)) for n in range(2, 12)]
            tm.wait(later, timeout=20)
            assert [tm.get(t).result for t in later] == [n * 2 for n in range(2, 12)]
            assert not _HeldCollector.release.is_set()  # all of that happened while export was held
    finally:
        _HeldCollector.release.set()
        server.shutdown()
        server.server_close()


def test_a_down_collector_costs_one_warning_and_changes_no_result(caplog):
    import async_task_system.tracing._export as export

    export._warned = False  # noqa: SLF001 - once per process: this test wants its own first time
    caplog.set_level(logging.DEBUG)
    provider = setup_tracing(project_name="down", endpoint=closed_port_url(), batch=False, set_global=False,
                             instrument_smolagents=False)
    tracer = provider.get_tracer("test")

    def lookup(key: str) -> str:
        with tracer.start_as_current_span(f"lookup {key}"):
            time.sleep(0.05)
            return f"value-of-{key}"

    with TaskManager(max_workers=3) as tm:
        for _round in range(3):
            ids = [tm.submit(lookup, (k,)) for k in "abc"]
            tm.wait(ids, timeout=20)
            assert [tm.get(t).result for t in ids] == ["value-of-a", "value-of-b", "value-of-c"]
    provider.force_flush(timeout_millis=10_000)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert warnings[0].name == "async_task_system.tracing" and "traces are not reaching" in warnings[0].getMessage()


class _Flaky(SpanExporter):
    """Fails while ``down``; records what it was given."""

    def __init__(self) -> None:
        self.down = True
        self.got: list[int] = []

    def export(self, spans):
        if self.down:
            return SpanExportResult.FAILURE
        self.got.append(len(spans))
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


class _Broken(SpanExporter):
    def export(self, spans):
        raise RuntimeError("exporter bug")

    def shutdown(self) -> None:
        pass


def test_spans_flow_again_once_the_collector_is_back():
    inner = _Flaky()
    guard = GuardedExporter(inner, "http://collector", retry_after=0.0)
    assert guard.export([object()] * 3) is SpanExportResult.FAILURE and guard.collector_down
    inner.down = False
    assert guard.export([object()] * 2) is SpanExportResult.SUCCESS and not guard.collector_down
    assert (guard.dropped, guard.exported, inner.got) == (3, 2, [2])
    guard.shutdown()
    assert guard.export([object()]) is SpanExportResult.FAILURE and inner.got == [2]  # nothing after shutdown


def test_while_down_the_collector_is_not_asked_again_before_retry_after():
    inner = _Flaky()
    guard = GuardedExporter(inner, "http://collector", retry_after=3600)
    calls = []
    inner.export = lambda spans: calls.append(len(spans)) or SpanExportResult.FAILURE
    for _ in range(5):
        guard.export([object()])
    assert calls == [1] and guard.dropped == 5


def test_an_exporter_that_raises_is_a_failed_export_not_a_dead_thread():
    guard = GuardedExporter(_Broken(), "http://collector")
    assert guard.export([object()]) is SpanExportResult.FAILURE and guard.dropped == 1


EXIT_SCRIPT = """
import sys
from async_task_system import setup_tracing
provider = setup_tracing(project_name="exit", endpoint=sys.argv[1], batch=sys.argv[2] == "batch",
                         instrument_smolagents=False)
tracer = provider.get_tracer("test")
for n in range(50):
    with tracer.start_as_current_span(f"span {n}"):
        pass
print("done", flush=True)
"""


def test_a_down_collector_does_not_hold_the_interpreter_at_exit(tmp_path: Path):
    # The exit figures (within a second of the script's end) are in benchmarks/tracing_exit.py;
    # here: the process ends, with one line on stderr, in both modes.
    script = tmp_path / "exit_script.py"
    script.write_text(EXIT_SCRIPT)
    for mode in ("batch", "simple"):
        proc = subprocess.run([sys.executable, str(script), closed_port_url(), mode], capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 0 and proc.stdout == "done\n", proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) <= 1 and all("traces are not reaching" in line for line in lines), proc.stderr


def test_while_down_the_wait_before_the_next_try_doubles():
    inner = _Flaky()
    guard = GuardedExporter(inner, "http://collector", retry_after=0.0)
    guard.retry_after = 1.0
    guard.export([object()])
    first = guard._down_until  # noqa: SLF001
    guard._down_until = 0.0  # noqa: SLF001 - as if the first wait had passed
    guard.export([object()])
    assert guard._down_until - time.monotonic() > first - time.monotonic() + 0.5  # noqa: SLF001 - 2 s, not 1


class _Stuck(SpanExporter):
    """An export that never returns until released: a collector that accepts and never answers."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def export(self, spans):
        self.release.wait(30)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self.release.set()


def test_a_flush_on_a_stuck_exporter_is_bounded():
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from async_task_system.tracing._export import bounded_flush

    stuck = _Stuck()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(BatchSpanProcessor(stuck))
    with provider.get_tracer("t").start_as_current_span("s"):
        pass
    assert bounded_flush(provider, 0.2) is False  # gave up waiting; the caller goes on
    stuck.release.set()
    provider.shutdown()
