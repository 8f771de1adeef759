"""The task endpoints over real HTTP against a uvicorn server in a subprocess."""

from __future__ import annotations

import time

import httpx
import pytest

from async_task_system.server import ServiceError, TaskClient

pytestmark = pytest.mark.slow


def submit(api: httpx.Client, task_type: str, parameters: dict, **extra) -> dict:
    response = api.post("/tasks", json={"task_type": task_type, "parameters": parameters, **extra})
    assert response.status_code == 202, response.text
    return response.json()


def test_submit_then_long_poll_gives_the_result(api):
    task = submit(api, "add", {"a": 2, "b": 40}, description="the answer")
    assert task["id"] and task["status"] in ("pending", "running", "completed")
    done = api.get(f"/tasks/{task['id']}", params={"wait": 10}).json()
    assert done["status"] == "completed"
    assert done["result"] == 42 and done["result_encoding"] == "json"
    assert done["description"] == "the answer" and done["parameters"] == {"a": 2, "b": 40}
    assert done["finished_at"] >= done["started_at"] >= done["created_at"]


def test_long_poll_answers_as_soon_as_the_task_ends(api):
    task = submit(api, "slow_echo", {"text": "hi", "seconds": 1.0})
    began = time.monotonic()
    record = api.get(f"/tasks/{task['id']}", params={"wait": 20}).json()
    elapsed = time.monotonic() - began
    assert record["status"] == "completed" and record["result"] == "hi"
    assert 0.5 < elapsed < 10, f"the long-poll returned after {elapsed:.2f}s for a 1 s task (wait=20)"


def test_long_poll_gives_up_after_wait_seconds_with_the_unfinished_record(api):
    task = submit(api, "slow_echo", {"text": "later", "seconds": 30})
    began = time.monotonic()
    record = api.get(f"/tasks/{task['id']}", params={"wait": 0.5}).json()
    elapsed = time.monotonic() - began
    assert record["status"] in ("pending", "running") and record["finished_at"] is None
    assert 0.4 < elapsed < 10
    api.delete(f"/tasks/{task['id']}")


def test_wait_is_bounded(api):
    response = api.get("/tasks/t1_1", params={"wait": 3600})
    assert response.status_code == 422
    assert response.json()["field"] == "wait"
    assert "30" in response.json()["message"]


def test_cancel_a_running_task(api):
    task = submit(api, "slow_echo", {"text": "never", "seconds": 60})
    api.get(f"/tasks/{task['id']}", params={"wait": 0.2})
    response = api.delete(f"/tasks/{task['id']}")
    assert response.status_code == 200
    record = response.json()
    assert record["status"] == "cancelled" and "DELETE" in record["reason"]
    again = api.delete(f"/tasks/{task['id']}").json()  # idempotent
    assert again["status"] == "cancelled" and again["finished_at"] == record["finished_at"]


def test_a_failing_tool_is_recorded_with_its_error(api):
    task = submit(api, "divide", {"x": 1, "y": 0})
    record = api.get(f"/tasks/{task['id']}", params={"wait": 10}).json()
    assert record["status"] == "failed"
    assert record["error"]["type"] == "ZeroDivisionError" and "y must not be 0" in record["error"]["message"]
    assert record["result"] is None


def test_a_task_past_its_timeout_is_marked_timeout(api):
    task = submit(api, "slow_echo", {"text": "late", "seconds": 30}, timeout_seconds=0.3)
    record = api.get(f"/tasks/{task['id']}", params={"wait": 10}).json()
    assert record["status"] == "timeout" and record["timeout_seconds"] == 0.3


def test_a_result_that_is_not_json_is_stored_as_its_repr(api):
    task = submit(api, "make_set", {"word": "aaa", "upper": True})
    record = api.get(f"/tasks/{task['id']}", params={"wait": 10}).json()
    assert record["status"] == "completed"
    assert record["result_encoding"] == "repr" and record["result"] == "{'A'}"


def test_list_filters_by_status_and_pages_newest_first(api):
    ids = [submit(api, "add", {"a": i, "b": 0})["id"] for i in range(5)]
    for task_id in ids:
        api.get(f"/tasks/{task_id}", params={"wait": 10})
    failed = submit(api, "divide", {"x": 1, "y": 0})["id"]
    api.get(f"/tasks/{failed}", params={"wait": 10})

    page = api.get("/tasks", params={"status": "completed", "limit": 3}).json()
    assert [t["id"] for t in page["items"]] == ids[::-1][:3]
    assert page["next_offset"] == 3 and page["total"] >= 5
    assert all(t["status"] == "completed" for t in page["items"])
    second = api.get("/tasks", params={"status": "completed", "limit": 3, "offset": 3}).json()
    assert [t["id"] for t in second["items"]][:2] == ids[::-1][3:5]
    failed_page = api.get("/tasks", params={"status": "failed"}).json()
    assert failed in [t["id"] for t in failed_page["items"]]
    assert api.get("/tasks", params={"status": "sideways"}).status_code == 422


def test_priority_ten_starts_before_priority_one(start_service, tmp_path):
    server = start_service(tmp_path / "prio.db", SERVICE_MAX_WORKERS="1")
    with server.client() as api:
        blocker = submit(api, "slow_echo", {"text": "b", "seconds": 3.0})  # holds the one worker
        low = submit(api, "add", {"a": 1, "b": 1}, priority=1)
        high = submit(api, "add", {"a": 2, "b": 2}, priority=10)
        records = [api.get(f"/tasks/{t['id']}", params={"wait": 20}).json() for t in (blocker, low, high)]
    assert [r["status"] for r in records] == ["completed"] * 3
    assert records[2]["started_at"] < records[1]["started_at"]


def test_unregistered_task_type_lists_the_registered_ones(api):
    response = api.post("/tasks", json={"task_type": "os.system", "parameters": {"command": "true"}})
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "unknown_task_type" and body["field"] == "task_type"
    assert body["registered"] == ["add", "analyst", "ask_user", "divide", "listener", "make_set", "odd_value",
                                  "slow_echo", "stubborn"]
    assert "add, analyst, ask_user, divide, listener, make_set, odd_value, slow_echo, stubborn" in body["message"]


@pytest.mark.parametrize(("parameters", "field", "words"), [
    ({"a": "one", "b": 2}, "parameters.a", "must be integer, got string"),
    ({"a": 1}, "parameters.b", "needs the input 'b'"),
    ({"a": 1, "b": 2, "c": 3}, "parameters.c", "its inputs are: a, b"),
    ({"a": True, "b": 2}, "parameters.a", "got boolean"),
])
def test_parameters_are_checked_against_the_tool_inputs(api, parameters, field, words):
    response = api.post("/tasks", json={"task_type": "add", "parameters": parameters})
    assert response.status_code == 422
    assert response.json()["field"] == field
    assert words in response.json()["message"]


@pytest.mark.parametrize(("body", "field"), [
    ({"task_type": "add", "priority": 11}, "priority"),
    ({"task_type": "add", "priority": 0}, "priority"),
    ({"task_type": "add", "timeout_seconds": -1}, "timeout_seconds"),
    ({"task_type": "add", "parameters": [1, 2]}, "parameters"),
    ({"task_type": "add", "code": "import os"}, "code"),
    ({"parameters": {}}, "task_type"),
])
def test_invalid_bodies_get_422_naming_the_field(api, body, field):
    response = api.post("/tasks", json=body)
    assert response.status_code == 422
    assert response.json()["field"] == field
    assert response.json()["message"].startswith(field)


def test_unknown_ids_get_404(api):
    for response in (api.get("/tasks/t9_999"), api.delete("/tasks/t9_999"), api.get("/runs/r9_9")):
        assert response.status_code == 404
        assert "t9_999" in response.json()["message"] or "r9_9" in response.json()["message"]


def test_a_token_is_required(service):
    with service.client(token=None) as anonymous, service.client(token="wrong") as wrong:
        for client in (anonymous, wrong):
            for response in (client.post("/tasks", json={"task_type": "add", "parameters": {"a": 1, "b": 1}}),
                             client.get("/tasks"), client.get("/tasks/t1_1"), client.delete("/tasks/t1_1")):
                assert response.status_code == 401
                assert "Authorization: Bearer" in response.json()["message"]
                assert response.headers["www-authenticate"] == "Bearer"
        assert anonymous.get("/health").status_code == 200  # health needs no token
    with service.client() as api:
        assert api.get("/tasks").status_code == 200


def test_bodies_over_the_limit_get_413(api):
    big = {"task_type": "slow_echo", "parameters": {"text": "x" * 1_100_000, "seconds": 0}}
    response = api.post("/tasks", json=big)
    assert response.status_code == 413
    assert "limited to 1000000 bytes" in response.json()["message"]


def test_task_types_lists_the_registered_tools(api):
    types = {t["name"]: t for t in api.get("/task-types").json()}
    assert sorted(types) == ["add", "analyst", "ask_user", "divide", "listener", "make_set", "odd_value", "slow_echo",
                             "stubborn"]
    assert types["analyst"]["kind"] == "agent"
    assert types["add"]["kind"] == "tool" and set(types["add"]["inputs"]) == {"a", "b"}


def test_health_is_503_while_the_queue_is_full(start_service, tmp_path):
    server = start_service(tmp_path / "full.db", SERVICE_MAX_WORKERS="1", SERVICE_MAX_UNFINISHED="2")
    with server.client() as api:
        assert api.get("/health").json()["status"] == "ok"
        held = [submit(api, "slow_echo", {"text": "x", "seconds": 60}) for _ in range(2)]
        health = api.get("/health")
        assert health.status_code == 503
        assert health.json()["status"] == "overloaded" and health.json()["unfinished"] == 2
        refused = api.post("/tasks", json={"task_type": "add", "parameters": {"a": 1, "b": 1}})
        assert refused.status_code == 503 and "max_unfinished" in refused.json()["message"]
        assert api.get(f"/tasks/{held[1]['id']}").json()["status"] == "pending"
        api.delete(f"/tasks/{held[1]['id']}")  # a task cancelled before it started is recorded too
        assert api.get(f"/tasks/{held[1]['id']}").json()["status"] == "cancelled"
        assert api.get("/health").status_code == 200


def test_the_client_submits_and_waits(service):
    with TaskClient(service.url, token=service.token, max_poll_seconds=5) as client:
        task = client.submit("slow_echo", {"text": "via client", "seconds": 0.2})
        assert client.wait(task["id"], timeout=20)["result"] == "via client"
        slow = client.submit("slow_echo", {"text": "x", "seconds": 60})
        with pytest.raises(TimeoutError):
            client.wait(slow["id"], timeout=0.5)
        assert client.cancel(slow["id"])["status"] == "cancelled"
        with pytest.raises(ServiceError) as caught:
            client.submit("nope")
        assert caught.value.status_code == 400 and "add" in caught.value.body["registered"]
        assert client.list(status="cancelled")["total"] >= 1


def test_a_body_that_is_not_json_gets_422(api):
    response = api.post("/tasks", content=b"\xff{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["field"] == "body" and "not valid JSON" in response.json()["message"]


def test_json_types_are_strict(api):
    for body, field in (({"task_type": "add", "priority": True}, "priority"),
                        ({"task_type": "add", "priority": "5"}, "priority"),
                        ({"task_type": 7}, "task_type")):
        response = api.post("/tasks", json=body)
        assert response.status_code == 422 and response.json()["field"] == field
