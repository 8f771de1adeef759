"""A real Dask process cluster for the tests in this directory (one per session: ~1.5 s to start)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import cloudpickle  # noqa: E402
import dask  # noqa: E402
import dask_jobs  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402

cloudpickle.register_pickle_by_value(dask_jobs)

N_WORKERS = 2
THREADS_PER_WORKER = 2


@pytest.fixture(scope="session")
def dask_cluster():
    # A task whose worker dies is re-run elsewhere once; the second death fails it (KilledWorker).
    with dask.config.set({"distributed.scheduler.allowed-failures": 1,
                          "distributed.client.scheduler-info-interval": "200ms"}):
        cluster = LocalCluster(n_workers=N_WORKERS, threads_per_worker=THREADS_PER_WORKER, processes=True,
                               dashboard_address=":0", silence_logs=False)
        client = Client(cluster, set_as_default=False)
    client.wait_for_workers(N_WORKERS, timeout=60)
    yield cluster, client
    client.close()
    cluster.close()


@pytest.fixture
def dask_client(dask_cluster):
    """The session's client, with every worker up before and after the test."""
    _, client = dask_cluster
    client.wait_for_workers(N_WORKERS, timeout=60)
    yield client
    client.wait_for_workers(N_WORKERS, timeout=60)
    deadline = time.monotonic() + 30  # a killed worker's restart must be complete for the next test
    while len(client.scheduler_info(n_workers=-1)["workers"]) != N_WORKERS and time.monotonic() < deadline:
        time.sleep(0.1)

