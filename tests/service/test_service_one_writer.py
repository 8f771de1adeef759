"""One writer per database: a second server on the same file is refused at start, a killed
one's lock is gone at once, ``--workers 2`` is refused, and every start gets its own id prefix."""

from __future__ import annotations

import subprocess
import sys

import pytest
from service_harness import ServiceProcess

from async_task_system.server.cli import main

pytestmark = pytest.mark.slow


def test_a_second_server_on_the_same_file_is_refused_and_the_first_keeps_its_results(start_service, tmp_path):
    db = tmp_path / "shared.db"
    first = start_service(db, SERVICE_MAX_WORKERS="1")
    with first.client() as api:
        running = api.post("/tasks", json={"task_type": "slow_echo", "parameters": {"text": "kept", "seconds": 2}})
        running = running.json()["id"]
        second = ServiceProcess(db)
        second.log = tmp_path / "second.stderr.log"  # its own log: the first one's must stay clean
        with pytest.raises(RuntimeError, match="exited at startup") as refused:
            second.start()
        assert "already served by another process" in str(refused.value)
        assert "one server per database file" in str(refused.value)
        record = api.get(f"/tasks/{running}", params={"wait": 20}).json()
        assert record["status"] == "completed" and record["result"] == "kept"  # not marked lost by the second


def test_after_kill_9_the_next_server_starts_at_once_and_marks_the_running_task_lost(start_service, tmp_path):
    db = tmp_path / "killed.db"
    first = start_service(db, SERVICE_MAX_WORKERS="1")
    with first.client() as api:
        running = api.post("/tasks", json={"task_type": "slow_echo", "parameters": {"text": "x", "seconds": 120}})
        running = running.json()["id"]
        assert api.get(f"/tasks/{running}", params={"wait": 0.3}).json()["status"] == "running"
    first.kill()  # the OS drops the lock with the process
    second = start_service(db)
    with second.client() as api:
        assert api.get(f"/tasks/{running}").json()["status"] == "lost"
        fresh = api.post("/tasks", json={"task_type": "add", "parameters": {"a": 1, "b": 1}}).json()["id"]
        assert fresh.split("_")[0] != running.split("_")[0]


def test_more_than_one_worker_process_is_refused_with_the_reason(capsys):
    assert main(["--workers", "2", "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert "--workers 2" in err and "one process" in err and "--max-workers" in err


_OPEN_ONCE = """
import sys, time
from async_task_system.server import Store
from async_task_system.server._store import StoreLockedError
while True:
    try:
        store = Store(sys.argv[1])
        break
    except StoreLockedError:
        time.sleep(0.01)
print(store.boot)
store.close()
"""


def test_processes_starting_together_each_get_their_own_start_counter(tmp_path):
    db = str(tmp_path / "race.db")
    procs = [subprocess.Popen([sys.executable, "-c", _OPEN_ONCE, db], stdout=subprocess.PIPE, text=True)
             for _ in range(8)]
    boots = [int(p.communicate(timeout=120)[0]) for p in procs]
    assert sorted(boots) == list(range(1, 9))
