"""Bounded store and responses: retention by count (and age), space given back, pages
bounded by bytes with next_offset, big results on their own route."""

from __future__ import annotations

import pytest

from async_task_system.server import Store

pytestmark = pytest.mark.slow


def _run(api, task_type: str, parameters: dict) -> dict:
    task_id = api.post("/tasks", json={"task_type": task_type, "parameters": parameters}).json()["id"]
    return api.get(f"/tasks/{task_id}", params={"wait": 20}).json()


def _size(db) -> int:
    return sum(p.stat().st_size for p in db.parent.glob(db.name + "*") if not p.name.endswith(".lock"))


def test_finished_records_beyond_the_retention_are_deleted_and_their_space_reclaimed(start_service, tmp_path):
    db = tmp_path / "retain.db"
    server = start_service(db, SERVICE_RETAIN="3")
    with server.client() as api:
        ids = [_run(api, "slow_echo", {"text": "x" * 600_000, "seconds": 0})["id"] for _ in range(30)]
        listing = api.get("/tasks", params={"limit": 500}).json()
        kept = [t["id"] for t in listing["items"]]
        assert listing["total"] <= 4 and kept[0] == ids[-1]  # the newest stay
        assert api.get(f"/tasks/{ids[0]}").status_code == 404
    # 30 records of 1.2 MB (parameters + result) were written; the file holds about the 3 kept
    assert _size(db) < 12_000_000, _size(db)  # (about 4.8 MB measured; 36 MB without retention)


def test_retention_by_age_and_count_in_the_store(tmp_path):
    store = Store(tmp_path / "age.db")
    for i in range(6):
        store.insert_task({"id": f"t1_{i}", "task_type": "add", "kind": "tool", "description": "", "parameters": {},
                           "priority": 1, "timeout_seconds": None, "status": "completed", "created_at": float(i),
                           "finished_at": 1000.0 + i})
    store.insert_task({"id": "t1_run", "task_type": "add", "kind": "tool", "description": "", "parameters": {},
                       "priority": 1, "timeout_seconds": None, "status": "running", "created_at": 0.0})
    assert store.prune(keep=None, max_age_seconds=10, now=1012.5) == 3  # finished before 1002.5
    assert store.prune(keep=2, max_age_seconds=None) == 1
    page, total = store.list_tasks(None, 50, 0)
    assert [r["id"] for r in page] == ["t1_run", "t1_5", "t1_4"] and total == 3  # unfinished never pruned
    store.close()


def test_pages_are_bounded_by_bytes_and_follow_next_offset(api):
    ids = [_run(api, "slow_echo", {"text": "p" * 400_000, "seconds": 0})["id"] for _ in range(5)]
    seen, offset, pages = [], 0, 0
    while offset is not None and pages < 20:
        response = api.get("/tasks", params={"limit": 500, "offset": offset})
        assert len(response.content) < 1_300_000  # about max_page_bytes (1 MB), never limit x records
        page = response.json()
        assert page["items"], page
        seen += [t["id"] for t in page["items"]]
        offset, pages = page["next_offset"], pages + 1
    assert set(ids) <= set(seen) and pages >= 2 and len(seen) == len(set(seen))


def test_a_big_result_is_left_out_of_records_and_served_by_its_own_route(api):
    record = _run(api, "odd_value", {"kind": "huge"})
    assert record["status"] == "completed" and record["result"] is None
    assert record["result_bytes"] == 300_002 and record["result_url"] == f"/tasks/{record['id']}/result"
    result = api.get(record["result_url"])
    assert result.status_code == 200 and result.json() == "x" * 300_000
    assert result.headers["x-result-encoding"] == "json"
    listed = [t for t in api.get("/tasks").json()["items"] if t["id"] == record["id"]]
    assert listed and listed[0]["result"] is None and listed[0]["result_url"] == record["result_url"]
    small = _run(api, "add", {"a": 1, "b": 2})
    assert small["result"] == 3 and small["result_url"] is None
    assert api.get(f"/tasks/{small['id']}/result").json() == 3


def test_the_result_route_says_why_there_is_no_result(api):
    failed = _run(api, "divide", {"x": 1, "y": 0})
    response = api.get(f"/tasks/{failed['id']}/result")
    assert response.status_code == 409 and "is failed" in response.json()["message"]
    assert api.get("/tasks/t9_9/result").status_code == 404


def test_the_client_fetches_a_big_result_when_it_waits(service):
    from async_task_system.server import TaskClient

    with TaskClient(service.url, token=service.token) as client:
        task = client.submit("odd_value", {"kind": "huge"})
        assert client.wait(task["id"], timeout=20)["result"] == "x" * 300_000


def test_a_slow_store_read_does_not_hold_up_other_requests(start_service, tmp_path):
    import threading

    gate = tmp_path / "gate"
    server = start_service(tmp_path / "gated.db", SERVICE_LIST_GATE=str(gate))
    listing: dict = {}

    def list_all() -> None:
        with server.client() as api:
            listing["response"] = api.get("/tasks")

    reader = threading.Thread(target=list_all)
    reader.start()
    try:
        with server.client() as api:
            for _ in range(5):  # answered while the listing is still inside its store read
                assert api.get("/health", timeout=10).status_code == 200
                assert api.post("/tasks", json={"task_type": "add", "parameters": {"a": 1, "b": 1}},
                                timeout=10).status_code == 202
        assert reader.is_alive() and "response" not in listing
    finally:
        gate.touch()
        reader.join(30)
    assert listing["response"].status_code == 200
