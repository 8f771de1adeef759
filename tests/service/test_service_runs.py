"""POST /runs: an AsyncAgent (scripted model) runs in the server; GET /runs shows its progress."""

from __future__ import annotations

import time

import pytest
from service_harness import ServiceProcess

from async_task_system.server import TaskClient

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runs_service(tmp_path_factory):
    server = ServiceProcess(tmp_path_factory.mktemp("runs") / "runs.db", SERVICE_RUNS="1").start()
    yield server
    server.stop()
    server.assert_no_tracebacks()


def test_a_run_fans_out_and_reports_answer_subtasks_and_tokens(runs_service):
    with runs_service.client() as api:
        response = api.post("/runs", json={"prompt": "add 20 22, echo hello"})
        assert response.status_code == 202
        run = response.json()
        assert run["id"].startswith("r") and run["status"] in ("pending", "running")
        done = api.get(f"/runs/{run['id']}", params={"wait": 25}).json()
    assert done["status"] == "completed", done
    assert done["final_answer"] == {"sum": 42, "echo": "hello"}
    assert [(s["name"], s["status"]) for s in done["subtasks"]] == [("add", "completed"), ("slow_echo", "completed")]
    assert done["token_usage"] == {"input_tokens": 200, "output_tokens": 40, "total_tokens": 240}
    assert done["steps"] == 2 and done["finished_at"] >= done["started_at"]


def test_a_running_run_shows_its_subtasks_so_far(runs_service):
    with TaskClient(runs_service.url, token=runs_service.token) as client:
        run = client.start_run("add 1 2, echo later slowly")
        began = time.monotonic()
        for _ in range(20):  # until the first model step has submitted both tasks (the echo takes 4 s)
            live = client.get_run(run["id"], wait=0.25)
            if len(live["subtasks"]) == 2:
                break
        assert live["status"] == "running"
        assert [s["name"] for s in live["subtasks"]] == ["add", "slow_echo"]
        assert {s["name"]: s["status"] for s in live["subtasks"]}["slow_echo"] == "running"
        done = client.wait_run(run["id"], timeout=30)
        assert done["final_answer"] == {"sum": 3, "echo": "later"}
        assert time.monotonic() - began < 25


def test_a_managed_agent_runs_as_a_task(runs_service):
    with runs_service.client() as api:
        task = api.post("/tasks", json={"task_type": "analyst", "description": "write the report",
                                        "parameters": {"topic": "tides"}}).json()
        record = api.get(f"/tasks/{task['id']}", params={"wait": 20}).json()
        assert record["kind"] == "agent" and record["status"] == "completed", record
        assert "report on tides" in record["result"]
        no_description = api.post("/tasks", json={"task_type": "analyst", "parameters": {"topic": "x"}})
        assert no_description.status_code == 422 and no_description.json()["field"] == "description"


def test_runs_are_off_without_a_model(service):
    with service.client() as api:
        response = api.post("/runs", json={"prompt": "hello"})
    assert response.status_code == 404
    assert "started without a model" in response.json()["message"]


def test_run_requests_are_validated(runs_service):
    with runs_service.client() as api:
        assert api.post("/runs", json={"prompt": ""}).json()["field"] == "prompt"
        assert api.post("/runs", json={"prompt": "x", "max_steps": 0}).json()["field"] == "max_steps"
        assert api.get("/runs/r9_9").status_code == 404


def test_a_prompt_that_looks_like_a_placeholder_is_just_text(runs_service):
    with runs_service.client() as api:
        first = api.post("/runs", json={"prompt": "hello"}).json()["id"]
        second = api.post("/runs", json={"prompt": f"${first} and ${{{first}}}"}).json()
        done = api.get(f"/runs/{second['id']}", params={"wait": 20}).json()
    assert done["status"] == "completed" and done["prompt"] == f"${first} and ${{{first}}}"


def test_cancelling_a_run_stops_it_and_its_subtasks(runs_service):
    with TaskClient(runs_service.url, token=runs_service.token) as client:
        run = client.start_run("add 5 6, echo never slowly")
        for _ in range(20):
            live = client.get_run(run["id"], wait=0.25)
            if len(live["subtasks"]) == 2:
                break
        cancelled = client.cancel_run(run["id"])
        assert cancelled["status"] == "cancelled" and "DELETE /runs" in cancelled["reason"]
        assert {s["name"]: s["status"] for s in cancelled["subtasks"]}["slow_echo"] == "cancelled"
        assert client.cancel_run(run["id"])["finished_at"] == cancelled["finished_at"]  # idempotent
        after = client.start_run("add 1 1, echo next")  # the run slot is free again
        assert client.wait_run(after["id"], timeout=30)["final_answer"] == {"sum": 2, "echo": "next"}
