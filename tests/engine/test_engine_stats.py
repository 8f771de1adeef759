"""Statistics and the retention of finished records."""

from __future__ import annotations

import time

import pytest

from async_task_system import TaskManager, UnknownTaskError


def test_statistics_add_up(tm):
    ok = [tm.submit(time.sleep, (0.01,)) for _ in range(5)]
    bad = tm.submit(int, ("x",))
    slow = tm.submit(time.sleep, (1,), timeout=0.05)
    tm.wait([*ok, bad, slow], timeout=5)
    stats = tm.get_statistics()
    assert stats["completed"] == 5 and stats["failed"] == 1 and stats["timeout"] == 1
    assert stats["total"] == 7 and stats["running"] == 0 and stats["queued"] == 0
    statuses = ("pending", "waiting", "running", "completed", "failed", "timeout", "cancelled")
    assert sum(stats[s] for s in statuses) == stats["total"]
    assert 0.01 <= stats["run_time_seconds"]["p50"] < 0.5
    assert stats["queue_wait_seconds"]["p99"] is not None


def test_max_finished_bounds_every_finished_record_oldest_first_and_get_has_no_side_effect():
    with TaskManager(max_workers=2, max_finished=10) as tm:
        old = [tm.submit(int, (str(i),)) for i in range(30)]
        tm.wait(old, timeout=5)
        kept = [info.id for info in tm.tasks()]
        assert len(kept) == 10
        for tid in kept:
            tm.get(tid)  # reading changes nothing
        new = [tm.submit(int, (str(i),)) for i in range(10)]
        tm.wait(new, timeout=5)
        assert [tm.get(t).result for t in new] == list(range(10))  # unread or not: the newest 10
        stats = tm.get_statistics()
        assert stats["retained_records"] == 10 and stats["forgotten_records"] == 30
        assert stats["completed"] == stats["total"] == 40  # forgotten records still count
        with pytest.raises(UnknownTaskError, match="finished and its record was forgotten"):
            tm.get(kept[0])
        assert tm.wait(old, timeout=0) == (set(old), set())  # forgotten means finished


def test_records_expire_after_result_ttl():
    with TaskManager(max_workers=1, result_ttl=0.1) as tm:
        tid = tm.submit(int)
        tm.wait(tid, timeout=5)
        time.sleep(0.3)
        assert tm.get_statistics()["retained_records"] == 0
        with pytest.raises(UnknownTaskError):
            tm.get(tid)
