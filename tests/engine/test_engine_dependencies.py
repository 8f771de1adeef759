"""Dependencies: ordering, result passing through ResultOf markers, and what a broken dependency does."""

from __future__ import annotations

import threading

import pytest

from async_task_system import ResultOf, TaskManager, TaskStatus, UnknownTaskError


def test_dependent_waits_then_gets_results(tm, gate):
    t1 = tm.submit(lambda: gate.wait(5) and [1, 2, 3], name="load")
    t2 = tm.submit(sum, (ResultOf(t1),), name="total")  # the result object itself
    t3 = tm.submit(str.format, ("rows: {}, total: {}", ResultOf(t1), ResultOf(t2)), name="report")
    t4 = tm.submit(lambda d: d["n"] * 2, (), {"d": {"n": ResultOf(t2)}}, name="double")
    assert tm.get(t2).status is TaskStatus.WAITING and tm.get(t2).depends_on == (t1,)
    assert set(tm.get(t3).depends_on) == {t1, t2}
    gate.set()
    tm.wait([t1, t2, t3, t4], timeout=5)
    assert tm.result(t2) == 6
    assert tm.result(t3) == "rows: [1, 2, 3], total: 6"
    assert tm.result(t4) == 12
    kinds = [e.kind for e in tm.get(t2).events]
    assert kinds == ["pending", "waiting", "pending", "running", "completed"]


def test_explicit_depends_on_orders_without_passing_results(tm):
    order: list[str] = []
    a = tm.submit(lambda: threading.Event().wait(0.05) or order.append("a"))
    b = tm.submit(order.append, ("b",), depends_on=[a])
    tm.wait([a, b], timeout=5)
    assert order == ["a", "b"]


def test_unknown_dependency_is_refused_and_named(tm):
    with pytest.raises(UnknownTaskError, match="unknown depends_on 't99'"):
        tm.submit(int, depends_on=["t99"])
    with pytest.raises(UnknownTaskError, match="unknown depends_on 't42'"):
        tm.submit(print, (ResultOf("t42"),))
    assert tm.get_statistics()["total"] == 0  # nothing was queued


def test_failed_dependency_cancels_the_chain_with_a_reason(tm):
    def fail():
        raise RuntimeError("source offline")

    a = tm.submit(fail, name="fetch")
    b = tm.submit(str, (ResultOf(a),), name="parse")
    c = tm.submit(str, (ResultOf(b),), name="report")
    tm.wait([a, b, c], timeout=5)
    assert tm.get(a).status is TaskStatus.FAILED
    assert tm.get(b).status is TaskStatus.CANCELLED
    assert tm.get(b).reason == f"dependency {a} (fetch) failed (RuntimeError: source offline)"
    assert tm.get(c).status is TaskStatus.CANCELLED and tm.get(c).reason.startswith(f"dependency {b} (parse)")
    assert tm.get(b).started_at is None  # never ran


def test_dependency_already_failed_at_submit(tm):
    a = tm.submit(int, ("x",))
    tm.wait(a, timeout=5)
    b = tm.submit(str, (ResultOf(a),))
    info = tm.get(b)
    assert info.status is TaskStatus.CANCELLED and a in info.reason


def test_cancelled_dependency_cancels_dependent(tm, gate):
    a = tm.submit(gate.wait, (5,))
    b = tm.submit(str, (), depends_on=[a])
    tm.cancel(a, reason="not needed")
    assert tm.wait(b, timeout=1).done == {b}
    assert tm.get(b).reason.endswith("was cancelled")


def test_long_chain_does_not_overflow_the_stack():
    with TaskManager(max_workers=1) as tm:
        gate = threading.Event()
        first = prev = tm.submit(gate.wait, (5,))
        for _ in range(3000):
            prev = tm.submit(int, depends_on=[prev])
        tm.cancel(first)
        assert tm.wait(prev, timeout=5).done == {prev}
        assert tm.get_statistics()["cancelled"] == 3001
        gate.set()


def test_result_reaches_dependent_even_after_the_dependency_record_is_forgotten():
    """A dependency whose record was forgotten (retention) still hands its result on."""
    gate = threading.Event()
    with TaskManager(max_workers=2, max_finished=2) as tm:
        a = tm.submit(lambda: "from a", name="a")
        b = tm.submit(gate.wait, (5,), name="b")
        c = tm.submit(lambda x, _: x, (ResultOf(a), ResultOf(b)), name="c")
        tm.wait(a, timeout=5)
        others = [tm.submit(int) for _ in range(10)]
        tm.wait(others, timeout=5)
        with pytest.raises(UnknownTaskError):
            tm.get(a)  # the precondition: a's record is gone
        gate.set()
        assert tm.result(c, timeout=5) == "from a"
