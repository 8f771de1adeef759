"""A real Dask cluster for the CLI tests: ``dask scheduler`` and ``dask worker`` processes."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_helpers import free_port, stop

DASK = Path(sys.executable).with_name("dask")


@pytest.fixture(scope="module")
def dask_scheduler(tmp_path_factory: pytest.TempPathFactory):
    """The address of a scheduler with one worker (2 threads), both killed at the end of the module."""
    distributed = pytest.importorskip("distributed")
    folder = tmp_path_factory.mktemp("dask")
    address = f"tcp://127.0.0.1:{free_port()}"
    log = (folder / "dask.log").open("w")
    common = {"cwd": folder, "stdout": log, "stderr": subprocess.STDOUT, "start_new_session": True}
    scheduler = subprocess.Popen([str(DASK), "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                                  "--dashboard-address", ":0", "--no-show"], **common)
    worker = None
    try:
        worker = subprocess.Popen([str(DASK), "worker", address, "--nworkers", "1", "--nthreads", "2",
                                   "--no-dashboard", "--death-timeout", "60"], **common)
        deadline = time.monotonic() + 90
        while True:
            try:
                with distributed.Client(address, timeout=5) as client:
                    client.wait_for_workers(1, timeout=max(1.0, deadline - time.monotonic()))
                break
            except (OSError, TimeoutError):
                if time.monotonic() > deadline or scheduler.poll() is not None:
                    raise RuntimeError(f"the Dask cluster did not start:\n{(folder / 'dask.log').read_text()}")
                time.sleep(0.5)
        yield address
    finally:
        if worker is not None:
            stop(worker)
        stop(scheduler)
        log.close()
