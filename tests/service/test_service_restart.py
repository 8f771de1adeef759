"""Durability: kill the server with SIGKILL mid-task, start it again on the same store."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def test_nothing_finished_is_lost_and_the_running_task_is_marked(start_service, tmp_path):
    db = tmp_path / "durable.db"
    first = start_service(db, SERVICE_MAX_WORKERS="1")
    with first.client() as api:
        finished = {}
        for task_type, parameters in [("add", {"a": 20, "b": 22}), ("make_set", {"word": "b"}),
                                      ("divide", {"x": 1, "y": 0})]:
            task_id = api.post("/tasks", json={"task_type": task_type, "parameters": parameters}).json()["id"]
            finished[task_id] = api.get(f"/tasks/{task_id}", params={"wait": 10}).json()
        running = api.post("/tasks", json={"task_type": "slow_echo",
                                           "parameters": {"text": "x", "seconds": 120}}).json()["id"]
        queued = api.post("/tasks", json={"task_type": "add", "parameters": {"a": 1, "b": 1}}).json()["id"]
        assert api.get(f"/tasks/{running}", params={"wait": 0.3}).json()["status"] == "running"
        assert api.get(f"/tasks/{queued}").json()["status"] == "pending"
    assert [r["status"] for r in finished.values()] == ["completed", "completed", "failed"]

    first.kill()
    second = start_service(db)
    with second.client() as api:
        for task_id, before in finished.items():
            assert api.get(f"/tasks/{task_id}").json() == before  # results, errors, times: all kept
        lost = api.get(f"/tasks/{running}").json()
        assert lost["status"] == "lost"
        assert "server stopped while this was running" in lost["reason"] and lost["finished_at"]
        assert "submit it again" in lost["reason"]
        assert api.get(f"/tasks/{queued}").json()["status"] == "lost"
        assert "while this was pending" in api.get(f"/tasks/{queued}").json()["reason"]

        fresh = api.post("/tasks", json={"task_type": "add", "parameters": {"a": 1, "b": 2}}).json()["id"]
        assert fresh not in {*finished, running, queued}  # ids never collide across restarts
        assert api.get(f"/tasks/{fresh}", params={"wait": 10}).json()["result"] == 3
        listed = api.get("/tasks", params={"limit": 500}).json()
        assert listed["total"] == 6
        assert {t["id"] for t in listed["items"]} == {*finished, running, queued, fresh}
        assert api.get("/tasks", params={"status": "lost"}).json()["total"] == 2


def test_a_clean_shutdown_records_unfinished_tasks_as_cancelled(start_service, tmp_path):
    db = tmp_path / "clean.db"
    first = start_service(db, SERVICE_MAX_WORKERS="1")
    with first.client() as api:
        running = api.post("/tasks", json={"task_type": "slow_echo",
                                           "parameters": {"text": "x", "seconds": 120}}).json()["id"]
        queued = api.post("/tasks", json={"task_type": "add", "parameters": {"a": 1, "b": 1}}).json()["id"]
    first.stop()  # SIGTERM: uvicorn runs the app's shutdown, then re-raises the signal (exit code -15)
    second = start_service(db)
    with second.client() as api:
        for task_id, words in ((running, "shut down while it was running"), (queued, "shut down")):
            record = api.get(f"/tasks/{task_id}").json()
            assert record["status"] == "cancelled" and words in record["reason"], record
