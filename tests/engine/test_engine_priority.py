"""Among ready tasks the higher priority starts first; equal priorities in submission order."""

from __future__ import annotations

import threading

from async_task_system import TaskManager


def test_priority_then_submission_order():
    order: list[str] = []
    gate = threading.Event()
    with TaskManager(max_workers=1) as tm:
        blocker = tm.submit(gate.wait, (5,))
        specs = [("low-a", 0), ("high-a", 10), ("mid", 5), ("high-b", 10), ("low-b", 0), ("neg", -3)]
        for name, prio in specs:
            tm.submit(order.append, (name,), name=name, priority=prio)
        gate.set()
        tm.wait([blocker] + [t.id for t in tm.tasks()], timeout=5)
    assert order == ["high-a", "high-b", "mid", "low-a", "low-b", "neg"]


def test_never_more_running_than_max_workers():
    lock = threading.Lock()
    running = peak = 0

    def work():
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        threading.Event().wait(0.01)
        with lock:
            running -= 1

    with TaskManager(max_workers=3) as tm:
        tm.wait([tm.submit(work) for _ in range(30)], timeout=10)
    assert peak == 3


def test_per_name_limit_while_other_names_use_free_workers():
    lock = threading.Lock()
    running: dict[str, int] = {}
    peaks: dict[str, int] = {}

    def work(name: str):
        with lock:
            running[name] = running.get(name, 0) + 1
            peaks[name] = max(peaks.get(name, 0), running[name])
        threading.Event().wait(0.02)
        with lock:
            running[name] -= 1

    with TaskManager(max_workers=4, name_limits={"web_search": 2}) as tm:
        ids = [tm.submit(work, ("web_search",), name="web_search") for _ in range(10)]
        ids += [tm.submit(work, ("compute",), name="compute") for _ in range(10)]
        tm.wait(ids, timeout=10)
        assert all(tm.get(i).status == "completed" for i in ids)
    assert peaks["web_search"] == 2
    assert peaks["compute"] >= 2  # the free workers were used, not left idle behind the limit


def test_parked_tasks_keep_priority_order():
    order: list[int] = []
    gate = threading.Event()
    with TaskManager(max_workers=3, name_limits={"api": 1}) as tm:
        first = tm.submit(gate.wait, (5,), name="api")
        ids = [tm.submit(order.append, (p,), name="api", priority=p) for p in (1, 3, 2, 5, 4)]
        gate.set()
        tm.wait([first, *ids], timeout=5)
    assert order == [5, 4, 3, 2, 1]


def test_executor_capacity_growth_dispatches_queued_tasks():
    """An executor whose capacity grows (a worker joined) says so, and queued tasks start at once."""
    from async_task_system.executors import ThreadExecutor

    class Growing(ThreadExecutor):
        def start(self, call, reporter):
            self.reporter = reporter  # what an executor is handed: the hooks, not the manager
            super().start(call, reporter)

    executor = Growing(4)
    executor.capacity = 1
    gate = threading.Event()
    with TaskManager(max_workers=4, executor=executor) as tm:
        first = tm.submit(gate.wait, (5,))
        second = tm.submit(int, ("2",))
        assert tm.wait(second, timeout=0.2).not_done == {second}  # capacity 1 is in use
        executor.capacity = 2
        assert not hasattr(tm, "capacity_changed")
        executor.reporter.capacity_changed()
        assert tm.result(second, timeout=2) == 2
        gate.set()
        tm.wait(first, timeout=5)


def test_without_max_workers_the_executors_capacity_is_the_limit(gate):
    started = threading.Semaphore(0)

    def hold() -> None:
        started.release()
        gate.wait(10)

    from async_task_system.executors import ThreadExecutor

    executor = ThreadExecutor(6)
    with TaskManager(executor=executor, observers=[]) as tm:
        ids = [tm.submit(hold) for _ in range(8)]
        assert all(started.acquire(timeout=5) for _ in range(6))  # six at once, not the default four
        assert tm.get_statistics()["max_workers"] == 6 and "max_workers=6" in repr(tm)
        assert tm.get_statistics()["running"] == 6
        gate.set()
        assert not tm.wait(ids, timeout=10).not_done
    with TaskManager(executor=ThreadExecutor(6), max_workers=2) as tm:
        assert tm.get_statistics()["max_workers"] == 2  # an explicit max_workers still caps it
    with TaskManager() as tm:
        assert tm.max_workers == 4  # on its own threads: four
