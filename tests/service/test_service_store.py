"""The SQLite store on its own: recovery after a crash, ids per boot, result encoding."""

from __future__ import annotations

import json

from async_task_system.server import Store
from async_task_system.server._encoding import encode_result


def _task(task_id: str, status: str) -> dict:
    return {"id": task_id, "task_type": "add", "kind": "tool", "description": "", "parameters": {"a": 1},
            "priority": 1, "timeout_seconds": None, "status": status, "created_at": 1.0}


def test_reopening_marks_unfinished_records_lost_and_keeps_the_rest(tmp_path):
    store = Store(tmp_path / "s.db")
    assert store.boot == 1
    store.insert_task(_task("t1_1", "running"))
    store.insert_task(_task("t1_2", "pending"))
    store.insert_task(_task("t1_3", "pending"))
    store.update_task("t1_3", status="completed", result=json.dumps([1, 2]), result_encoding="json",
                      finished_at=2.0, reason="attempt 1 returned")
    store.insert_run({"id": "r1_1", "prompt": "p", "status": "running", "created_at": 1.0})
    store.close()  # writes nothing: what a crash leaves (test_service_restart kills a real server)
    again = Store(tmp_path / "s.db")
    assert again.boot == 2 and again.recovered == 3
    assert again.get_task("t1_3")["result"] == [1, 2] and again.get_task("t1_3")["status"] == "completed"
    for key, was in (("t1_1", "running"), ("t1_2", "pending")):
        record = again.get_task(key)
        assert record["status"] == "lost" and f"while this was {was}" in record["reason"]
    assert again.get_run("r1_1")["status"] == "lost"
    again.close()
    assert Store(tmp_path / "s.db").recovered == 0


def test_a_final_record_never_changes(tmp_path):
    store = Store(tmp_path / "s.db")
    store.insert_task(_task("t1_1", "running"))
    store.update_task("t1_1", status="cancelled", reason="by the caller", finished_at=3.0)
    store.update_task("t1_1", status="completed", result="1", result_encoding="json")  # a late report
    record = store.get_task("t1_1")
    assert record["status"] == "cancelled" and record["result"] is None


def test_listing_pages_newest_first_with_a_status_filter(tmp_path):
    store = Store(tmp_path / "s.db")
    for i in range(5):
        store.insert_task(_task(f"t1_{i}", "completed" if i % 2 else "failed"))
    page, total = store.list_tasks("completed", limit=1, offset=0)
    assert total == 2 and [r["id"] for r in page] == ["t1_3"]
    page, total = store.list_tasks(None, limit=10, offset=3)
    assert total == 5 and [r["id"] for r in page] == ["t1_1", "t1_0"]


def test_results_are_stored_as_json_or_as_their_repr():
    assert encode_result({"a": [1, 2.5, None]}, 1000) == ('{"a": [1, 2.5, null]}', "json")
    assert encode_result({1, 2}, 1000) == ('"{1, 2}"', "repr")
    assert encode_result(float("nan"), 1000) == ('"nan"', "repr")
    text, encoding = encode_result("x" * 5000, 1000)
    assert encoding == "truncated" and len(text) < 1000 and "over 1000 bytes" in json.loads(text)


def test_a_second_store_on_the_same_file_is_refused_until_the_first_closes(tmp_path):
    import pytest

    from async_task_system.server._store import StoreLockedError

    first = Store(tmp_path / "one.db")
    with pytest.raises(StoreLockedError, match=r"already served by another process \(pid \d+"):
        Store(tmp_path / "one.db")
    first.close()
    second = Store(tmp_path / "one.db")
    assert second.boot == 2
    second.close()
    Store(":memory:").close()  # no file, no lock


def test_an_older_file_is_switched_to_incremental_vacuum_and_keeps_its_records(tmp_path):
    import sqlite3

    from async_task_system.server._store import _SCHEMA

    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(_SCHEMA)
    db.execute("INSERT INTO tasks (id, task_type, kind, description, parameters, priority, status, created_at) "
               "VALUES ('t1_1', 'add', 'tool', '', '{}', 1, 'completed', 1.0)")
    db.commit()
    db.close()
    store = Store(path)
    assert store._db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2
    assert store.get_task("t1_1")["status"] == "completed"
    store.close()
