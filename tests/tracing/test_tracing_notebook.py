"""examples/notebook.ipynb runs top to bottom, headless, and its trace lands in Phoenix."""

from __future__ import annotations

import json
import socket
import sys
import uuid
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.slow

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "notebook.ipynb"


@pytest.fixture
def venv_kernel(tmp_path, monkeypatch) -> str:
    """A kernelspec for this interpreter (the project's venv), found through JUPYTER_PATH."""
    spec_dir = tmp_path / "kernels" / "ats-venv"
    spec_dir.mkdir(parents=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "async_task_system venv", "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    return "ats-venv"


def run_notebook(kernel: str, folder: Path, monkeypatch, *, endpoint: str, project: str) -> tuple[dict, str]:
    """Execute the notebook top to bottom; return each code cell's text output and all it wrote to stderr."""
    monkeypatch.setenv("PHOENIX_COLLECTOR_ENDPOINT", endpoint)
    monkeypatch.setenv("PHOENIX_PROJECT_NAME", project)
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, kernel_name=kernel, timeout=120, resources={"metadata": {"path": str(folder)}}).execute()
    outputs, stderr = {}, []
    for number, cell in enumerate(c for c in notebook.cells if c.cell_type == "code"):
        outputs[number] = "".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))
                                  + str(o.get("data", {}).get("text/html", ""))
                                  for o in cell.outputs if o.get("name") != "stderr")
        stderr += [o.get("text", "") for o in cell.outputs if o.get("name") == "stderr"]
    return outputs, "".join(stderr)


def check_the_run(outputs: dict) -> None:
    """What the notebook shows of the run, the same with or without a collector."""
    answer, table, stats = outputs[2], outputs[3], outputs[5]
    assert "value-of-a" in answer and "value-of-b" in answer and "value-of-c" in answer
    assert "final answer from your managed agent 'squarer'" in answer and "NoResult" not in answer
    rows = [line.split() for line in table.splitlines()[1:]]
    assert [(r[1], r[2], r[3]) for r in rows] == [("slow_lookup", "tool", "completed")] * 3 + [
        ("squarer", "agent", "completed")] * 2
    assert "'total': 5" in stats and "'completed': 5" in stats
    timeline = outputs[4]  # displayed as a figure: an SVG with one row per model step and per task
    assert "<svg" in timeline and timeline.count('class="row"') == 7
    assert timeline.count('data-status="completed"') == 5 and timeline.count('data-status="step"') == 2


def test_the_notebook_runs_and_its_run_is_one_trace(phoenix_server, venv_kernel, monkeypatch, tmp_path):
    project = f"notebook-{uuid.uuid4().hex[:8]}"
    outputs, stderr = run_notebook(venv_kernel, tmp_path, monkeypatch, endpoint=phoenix_server.url, project=project)
    assert outputs[0].startswith(f"Phoenix is up at {phoenix_server.url}/v1/traces")
    check_the_run(outputs)
    assert "traces are not reaching" not in stderr

    spans = phoenix_server.spans(project, expect=33)
    assert len(spans) == 33  # as in test_tracing_agent_phoenix.py: the same run
    assert len({s["context"]["trace_id"] for s in spans}) == 1
    assert len([s for s in spans if s["name"].startswith("task ")]) == 5
    # ScriptedModel is imported after setup_tracing in the notebook: its calls are traced anyway.
    assert len([s for s in spans if s["span_kind"] == "LLM"]) == 6


def test_the_notebook_runs_the_same_without_a_phoenix_server(venv_kernel, monkeypatch, tmp_path):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    outputs, stderr = run_notebook(venv_kernel, tmp_path, monkeypatch, endpoint=closed, project="offline")
    assert outputs[0].startswith(f"No Phoenix server at {closed}/v1/traces")
    check_the_run(outputs)  # export never blocked a task: every lookup and sub-agent answered
    assert stderr.count("traces are not reaching") <= 1  # one warning at most, no retry log
    assert "Connection refused" not in stderr and "Transient error" not in stderr
