"""What every TaskManager gets by default: silence without a tracer provider, spans with one.

OpenTelemetry's global provider can be set once per process, so this runs in a fresh one.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import async_task_system.tracing as tracing

SCRIPT = textwrap.dedent(
    """
    import json, logging, sys
    records = []
    logging.basicConfig(level=logging.DEBUG)
    logging.getLogger().addHandler(type("H", (logging.Handler,), {"emit": lambda self, r: records.append(r)})())

    import async_task_system.tracing
    from async_task_system import TaskManager
    heavy = sorted(m for m in ("smolagents", "phoenix", "phoenix.otel", "opentelemetry.sdk") if m in sys.modules)

    from opentelemetry import trace

    def current_span_id():
        return trace.get_current_span().get_span_context().span_id

    tm = TaskManager(max_workers=2)
    (observer,) = tm._observers
    ids = [tm.submit(current_span_id) for _ in range(50)]
    tm.wait(ids, timeout=10)
    before = {
        "span_ids": sorted({tm.get(i).result for i in ids}),
        "open_spans": observer.open_spans,
        "log_records": [r.getMessage() for r in records if r.levelno >= logging.INFO],
    }

    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    with trace.get_tracer("script").start_as_current_span("caller") as caller:
        tid = tm.submit(current_span_id, name="after")   # the same manager, built before
    inside = tm.result(tid, timeout=10)
    tm.shutdown()
    (span,) = [s for s in exporter.get_finished_spans() if s.name == "task after"]
    after = {
        "inside_is_task_span": inside == span.context.span_id,
        "parent_is_caller": span.parent.span_id == caller.get_span_context().span_id,
    }
    print(json.dumps({"heavy_imports": heavy, "before": before, "after": after}))
    """
)


def test_silent_without_a_provider_and_picked_up_once_one_is_set():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["heavy_imports"] == []  # importing the engine and tracing stays light
    assert report["before"] == {"span_ids": [0], "open_spans": 0, "log_records": []}
    assert report["after"] == {"inside_is_task_span": True, "parent_is_caller": True}


def test_public_exports():
    assert set(tracing.__all__) == {
        "setup_tracing", "shutdown_tracing", "phoenix_traces_endpoint", "default_observers",
        "TaskSpanObserver", "TASK_ATTRIBUTES",
    }
    for name in tracing.__all__:
        assert getattr(tracing, name) is not None
    (observer,) = tracing.default_observers()
    assert isinstance(observer, tracing.TaskSpanObserver)
