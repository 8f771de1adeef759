"""Stress and property tests: no task is ever lost or finished twice."""

from __future__ import annotations

import random
import threading
import time

from engine_helpers import engine_threads
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from async_task_system import TaskManager, TaskStatus
from async_task_system.engine import FINAL_STATES

FINAL_KINDS = {s.value for s in FINAL_STATES}


def _work(duration: float, fail: bool) -> float:
    time.sleep(duration)
    if fail:
        raise RuntimeError("planned failure")
    return duration


def check_invariants(tm: TaskManager, ids: list[str]) -> None:
    stats = tm.get_statistics()
    assert stats["total"] == len(ids)
    assert sum(stats[s.value] for s in TaskStatus) == stats["total"]
    assert stats["queued"] == stats["running"] == stats["unfinished"] == 0
    assert stats["busy_slots"] == 0
    for tid in ids:
        info = tm.get(tid)
        assert info.status in FINAL_STATES, info
        finals = [e for e in info.events if e.kind in FINAL_KINDS]
        assert len(finals) == 1 and finals[0].kind == info.status.value, info.events
        assert info.finished_at is not None
        if info.status is TaskStatus.COMPLETED:
            assert info.error is None and info.attempts >= 1
        broken = [d for d in info.depends_on if tm.get(d).status is not TaskStatus.COMPLETED]
        if broken:  # cancelled, naming one of the dependencies that did not complete
            assert info.status is TaskStatus.CANCELLED and info.started_at is None
            named = any(info.reason.startswith(f"dependency {d} ") for d in broken)
            assert named or info.reason in {"stress cancel", "cancelled by the caller"}, info.reason


def test_stress_many_threads_thousands_of_tasks():
    rng = random.Random(7)
    tm = TaskManager(max_workers=8, name_limits={"limited": 2}, max_unfinished=100_000)
    ids: list[str] = []
    ids_lock = threading.Lock()

    def submitter(seed: int) -> None:
        r = random.Random(seed)
        for _ in range(1000):
            with ids_lock:
                deps = r.sample(ids[-50:], k=min(len(ids[-50:]), r.choice([0, 0, 0, 1, 2])))
            kind = r.random()
            tid = tm.submit(
                _work,
                (r.choice([0, 0, 0.0005, 0.002]), kind < 0.1),
                name="limited" if kind > 0.9 else "work",
                priority=r.randint(-2, 2),
                timeout=0.001 if 0.1 <= kind < 0.15 else None,
                max_retries=1 if kind < 0.05 else 0,
                backoff=lambda n: 0.001,
                depends_on=deps,
            )
            with ids_lock:
                ids.append(tid)

    def canceller() -> None:
        for _ in range(400):
            with ids_lock:
                target = rng.choice(ids) if ids else None
            if target:
                tm.cancel(target, reason="stress cancel")
            time.sleep(0.0005)

    threads = [threading.Thread(target=submitter, args=(s,)) for s in range(4)]
    threads.append(threading.Thread(target=canceller))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert tm.wait(ids, timeout=120).not_done == set()
    tm.shutdown(wait=True)
    check_invariants(tm, ids)
    stats = tm.get_statistics()
    for status in ("completed", "failed", "cancelled", "timeout"):
        assert stats[status] > 0, stats  # the mix really exercised every ending
    assert engine_threads() == []


ops = st.lists(
    st.one_of(
        st.tuples(st.just("submit"), st.integers(-3, 3), st.sampled_from(["ok", "fail", "slow", "hang"]),
                  st.lists(st.integers(0, 30), max_size=2)),
        st.tuples(st.just("cancel"), st.integers(0, 30)),
        st.tuples(st.just("wait"), st.integers(0, 30)),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=ops, workers=st.integers(1, 3))
def test_lifecycle_property(ops, workers):
    """Any sequence of submits, cancels and waits leaves every task in exactly one final state."""
    release = threading.Event()
    bodies = {
        "ok": lambda: 1,
        "fail": lambda: 1 / 0,
        "slow": lambda: time.sleep(0.002),
        "hang": lambda: release.wait(2),
    }
    tm = TaskManager(max_workers=workers, max_unfinished=1000)
    ids: list[str] = []
    try:
        for op in ops:
            if op[0] == "submit":
                _, prio, body, deps = op
                dep_ids = [ids[d % len(ids)] for d in deps] if ids else []
                timeout = 0.01 if body == "hang" else None
                ids.append(tm.submit(bodies[body], priority=prio, timeout=timeout, depends_on=dep_ids))
            elif ids and op[0] == "cancel":
                tm.cancel(ids[op[1] % len(ids)])
            elif ids:
                tm.wait(ids[op[1] % len(ids)], timeout=0.001)
    finally:
        release.set()
        tm.shutdown(wait=True)
    check_invariants(tm, ids)
