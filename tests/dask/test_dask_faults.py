"""Worker processes that die: Dask moves the task; a task that kills every worker fails with a reason."""

from __future__ import annotations

import os
import signal
import time

import pytest
from dask_jobs import kill_own_process, pid_then_sleep

from async_task_system import TaskManager, TaskStatus
from async_task_system.executors import DaskExecutor

pytestmark = pytest.mark.slow


def test_killing_the_worker_running_a_task_lets_it_complete_on_another(dask_client, tmp_path):
    with TaskManager(max_workers=4, executor=DaskExecutor(dask_client)) as tm:
        tid = tm.submit(pid_then_sleep, (str(tmp_path), 1.0))
        deadline = time.monotonic() + 30
        while not list(tmp_path.glob("*.pid")):
            assert time.monotonic() < deadline, "the task never started"
            time.sleep(0.02)
        victim = int(next(tmp_path.glob("*.pid")).stem)
        assert victim != os.getpid()
        os.kill(victim, signal.SIGKILL)
        assert not tm.wait(tid, timeout=60).not_done
        info = tm.get(tid)
        assert info.status is TaskStatus.COMPLETED, info.reason
        assert info.result != victim  # finished by another worker process
        assert info.attempts == 1  # Dask moved it: not one of our retries


def test_a_task_that_kills_every_worker_it_lands_on_fails_with_a_reason(dask_client):
    with TaskManager(max_workers=4, executor=DaskExecutor(dask_client)) as tm:
        tid = tm.submit(kill_own_process)
        assert not tm.wait(tid, timeout=90).not_done
        info = tm.get(tid)
        assert info.status is TaskStatus.FAILED
        assert info.error.type == "KilledWorker"
        assert "workers died while running it" in info.error.message
        assert "KilledWorker" in info.reason
