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


def test_finished_records_are_kept_until_read():
    with TaskManager(max_workers=2, max_finished=10) as tm:
        unread = [tm.submit(int, (str(i),)) for i in range(10)]
        tm.wait(unread, timeout=5)
        read = [tm.submit(int, (str(i),)) for i in range(30)]
        tm.wait(read, timeout=5)
        for tid in read:
            tm.get(tid)
        more = [tm.submit(int) for _ in range(15)]
        tm.wait(more, timeout=5)
        # Unread results survive; read ones past the bound are forgotten.
        assert [tm.get(t).result for t in unread] == list(range(10))
        assert tm.get_statistics()["retained_records"] < 40
        with pytest.raises(UnknownTaskError, match="forgotten once read"):
            tm.get(read[0])
        assert tm.get_statistics()["total"] == 55


def test_records_expire_after_result_ttl():
    with TaskManager(max_workers=1, result_ttl=0.1) as tm:
        tid = tm.submit(int)
        tm.wait(tid, timeout=5)
        time.sleep(0.3)
        assert tm.get_statistics()["retained_records"] == 0
        with pytest.raises(UnknownTaskError):
            tm.get(tid)
