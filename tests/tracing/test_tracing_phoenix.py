"""Task spans in a real Phoenix server, read back through its REST API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid

import pytest

from async_task_system import TaskManager, setup_tracing

pytestmark = pytest.mark.slow


def by_id(spans: list[dict]) -> dict[str, dict]:
    return {s["context"]["span_id"]: s for s in spans}


def test_engine_tasks_land_in_phoenix_under_the_span_that_submitted_them(phoenix_server):
    project = f"engine-{uuid.uuid4().hex[:8]}"
    # A bare host on purpose: setup_tracing adds /v1/traces.
    provider = setup_tracing(project_name=project, endpoint=phoenix_server.url, batch=False, set_global=False)
    tracer = provider.get_tracer("test")

    def fetch(source: str) -> str:
        with tracer.start_as_current_span(f"download {source}"):
            return source.upper()

    def fail() -> None:
        raise RuntimeError("disk full")

    with TaskManager(max_workers=3) as tm:
        with tracer.start_as_current_span("pipeline"):
            ids = [tm.submit(fetch, (s,), metadata={"task_type": "tool"}) for s in ("a", "b", "c")]
            bad = tm.submit(fail)
        tm.wait([*ids, bad], timeout=10)
    provider.force_flush()

    spans = phoenix_server.spans(project, expect=8)
    assert len(spans) == 8, [s["name"] for s in spans]
    assert len({s["context"]["trace_id"] for s in spans}) == 1
    index = by_id(spans)
    (pipeline,) = [s for s in spans if s["name"] == "pipeline"]
    tasks = [s for s in spans if s["name"] == "task fetch"]
    assert len(tasks) == 3
    for task in tasks:
        assert task["parent_id"] == pipeline["context"]["span_id"]
        assert task["span_kind"] == "CHAIN" and task["status_code"] == "OK"
        assert task["attributes"]["task.type"] == "tool"
    for download in (s for s in spans if s["name"].startswith("download")):
        assert index[download["parent_id"]]["name"] == "task fetch"
    (failed,) = [s for s in spans if s["name"] == "task fail"]
    assert failed["status_code"] == "ERROR" and "disk full" in failed["status_message"]
    assert any(e["name"] == "exception" for e in failed["events"])


SCRIPT = textwrap.dedent(
    """
    import json
    from opentelemetry import trace
    from async_task_system import TaskManager, setup_tracing
    first = setup_tracing(project_name=PROJECT)          # endpoint from PHOENIX_COLLECTOR_ENDPOINT
    second = setup_tracing(project_name=PROJECT)
    with TaskManager() as tm:
        with trace.get_tracer("script").start_as_current_span("script run"):
            tm.wait([tm.submit(sum, ([1, 2],), name="add")], timeout=10)
    first.force_flush()
    print(json.dumps({"same": first is second, "global": trace.get_tracer_provider() is first}))
    """
)


def test_setup_tracing_from_the_environment_in_a_fresh_process(phoenix_server):
    project = f"env-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, PHOENIX_COLLECTOR_ENDPOINT=phoenix_server.url, LITELLM_LOCAL_MODEL_COST_MAP="True")
    out = subprocess.run([sys.executable, "-c", f"PROJECT = {project!r}\n" + SCRIPT], env=env,
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"same": True, "global": True}
    spans = phoenix_server.spans(project, expect=2)
    (task,) = [s for s in spans if s["name"] == "task add"]
    (run,) = [s for s in spans if s["name"] == "script run"]
    assert task["parent_id"] == run["context"]["span_id"]
    assert task["attributes"]["output.value"] == "3"
