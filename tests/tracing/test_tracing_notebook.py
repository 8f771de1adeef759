"""examples/notebook.ipynb runs top to bottom, headless, and its trace lands in Phoenix."""

from __future__ import annotations

import json
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


def test_the_notebook_runs_and_its_run_is_one_trace(phoenix_server, venv_kernel, monkeypatch, tmp_path):
    project = f"notebook-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("PHOENIX_COLLECTOR_ENDPOINT", phoenix_server.url)
    monkeypatch.setenv("PHOENIX_PROJECT_NAME", project)
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    notebook = nbformat.read(NOTEBOOK, as_version=4)

    NotebookClient(notebook, kernel_name=venv_kernel, timeout=120,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()

    outputs = {}
    for number, cell in enumerate(c for c in notebook.cells if c.cell_type == "code"):
        outputs[number] = "".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))
                                  for o in cell.outputs)
    answer, table, stats = outputs[2], outputs[3], outputs[4]
    assert "value-of-a" in answer and "final answer from your managed agent 'squarer'" in answer
    rows = [line.split() for line in table.splitlines()[1:]]
    assert [(r[1], r[2], r[3]) for r in rows] == [("slow_lookup", "tool", "completed")] * 3 + [
        ("squarer", "agent", "completed")] * 2
    assert "'total': 5" in stats and "'completed': 5" in stats

    spans = phoenix_server.spans(project, expect=33)
    assert len(spans) == 33  # as in test_tracing_agent_phoenix.py: the same run
    assert len({s["context"]["trace_id"] for s in spans}) == 1
    assert len([s for s in spans if s["name"].startswith("task ")]) == 5
    # ScriptedModel is imported after setup_tracing in the notebook: its calls are traced anyway.
    assert len([s for s in spans if s["span_kind"] == "LLM"]) == 6
