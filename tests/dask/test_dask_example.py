"""examples/cluster.py runs the data-gathering agent on a cluster named by DASK_SCHEDULER_ADDRESS."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_the_cluster_example_runs_its_tasks_on_the_given_scheduler(dask_cluster, dask_client, tmp_path):
    cluster, _ = dask_cluster
    env = {k: v for k, v in os.environ.items() if k not in ("MODEL_ID", "API_KEY", "BASE_URL")}
    env.update(DASK_SCHEDULER_ADDRESS=cluster.scheduler_address, LITELLM_LOCAL_MODEL_COST_MAP="True",
               COLUMNS="200")
    before = sum(len(tasks) for tasks in dask_client.run(_tasks_seen).values())
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "cluster.py")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"scheduler='{cluster.scheduler_address}'" in proc.stdout
    assert "Status counts: {'completed': 5}" in proc.stdout
    assert "Answer: Merged 4 sources." in proc.stdout
    after = sum(len(tasks) for tasks in dask_client.run(_tasks_seen).values())
    assert after - before == 5  # the five tool calls ran on this cluster's workers


def _tasks_seen(dask_worker) -> list[str]:
    """Keys of the example's tasks this worker has run (its transition log keeps recent ones)."""
    return sorted({str(entry[0]) for entry in dask_worker.state.log
                   if isinstance(entry[0], str) and entry[0].startswith(("fetch_source-", "merge_datasets-"))})
