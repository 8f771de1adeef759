"""Resources a task needs (``submit(resources=)``, ``TaskManager(name_resources=)``): checked at submit,
kept on the record, handed to the executor on every attempt (``TaskCall.resources``), and accounted by
the manager against what the executor offers (``TaskManager(resources=)``, ``Executor.offers``)."""

from __future__ import annotations

import math
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from async_task_system import InvalidArgumentError, TaskManager, TaskStatus
from async_task_system.engine import Executor, TaskCall, ThreadExecutor
from async_task_system.engine._resources import check_resources, fits, format_resources


class Recording(ThreadExecutor):
    """A thread executor that notes what each attempt it is handed needs."""

    def __init__(self, workers: int = 4) -> None:
        super().__init__(workers)
        self.lock = threading.Lock()
        self.seen: dict[tuple[str, int], dict[str, float]] = {}

    def start(self, call: TaskCall, reporter) -> None:
        with self.lock:
            self.seen[(call.task_id, call.attempt)] = dict(call.resources)
        super().start(call, reporter)


def render(page: int) -> str:
    return f"page {page}"


def test_a_tasks_resources_reach_every_attempt_and_its_record():
    executor = Recording()
    failures = iter([True, False])

    def flaky() -> str:
        if next(failures):
            raise RuntimeError("first attempt fails")
        return "ok"

    with TaskManager(executor=executor, observers=[]) as tm:
        gpu = tm.submit(flaky, resources={"GPU": 1, "licence": 0.5}, max_retries=1, backoff=lambda _: 0.0)
        plain = tm.submit(render, (1,))
        assert tm.result(gpu, timeout=10) == "ok" and tm.result(plain, timeout=10) == "page 1"
        assert tm.get(gpu).resources == {"GPU": 1.0, "licence": 0.5}
        assert tm.get(plain).resources == {}
    assert executor.seen == {(gpu, 1): {"GPU": 1.0, "licence": 0.5}, (gpu, 2): {"GPU": 1.0, "licence": 0.5},
                             (plain, 1): {}}


def test_per_name_defaults_apply_unless_submit_says_otherwise():
    executor = Recording()
    with TaskManager(executor=executor, observers=[], name_resources={"render": {"GPU": 1}}) as tm:
        default = tm.submit(render, (1,))
        more = tm.submit(render, (2,), resources={"GPU": 2})
        none = tm.submit(render, (3,), resources={})
        other = tm.submit(render, (4,), name="render_cpu")
        tm.wait([default, more, none, other], timeout=10)
        needs = {tid: tm.get(tid).resources for tid in (default, more, none, other)}
    assert needs == {default: {"GPU": 1.0}, more: {"GPU": 2.0}, none: {}, other: {}}
    assert {executor.seen[(tid, 1)] == need for tid, need in needs.items()} == {True}


def test_without_local_resources_the_thread_executor_runs_tasks_whatever_they_need():
    with TaskManager(max_workers=2, name_resources={"render": {"GPU": 1}}) as tm:
        ids = [tm.submit(render, (i,)) for i in range(4)]
        assert [tm.result(t, timeout=10) for t in ids] == [f"page {i}" for i in range(4)]


class BrokenRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


@pytest.mark.parametrize("bad, why", [
    ({"GPU": 0}, "quantity of 'GPU' must be a finite number > 0, got 0"),
    ({"GPU": -1}, "must be a finite number > 0, got -1"),
    ({"GPU": math.nan}, "finite number > 0, got nan"),
    ({"GPU": math.inf}, "finite number > 0, got inf"),
    ({"GPU": 10 ** 400}, "finite number > 0"),
    ({"GPU": "1"}, "finite number > 0, got '1'"),
    ({"GPU": True}, "finite number > 0, got True"),
    ({"GPU": BrokenRepr()}, "got <BrokenRepr instance at"),
    ({"": 1}, "resource name must be a printable str"),
    ({1: 1}, "resource name must be a printable str"),
    ({"G\x00PU": 1}, "resource name"),
    ({"\ud800": 1}, "resource name"),
    ({"x" * 101: 1}, "of 1 to 100 characters"),
    (["GPU"], "resources must be a dict of resource name -> quantity such as {'GPU': 1}, got list"),
    ("GPU=1", "must be a dict"),
    (BrokenRepr(), "got BrokenRepr <BrokenRepr instance at"),
])
def test_bad_resources_are_refused_at_submit_and_nothing_is_lost(bad, why):
    with TaskManager(max_workers=2, observers=[]) as tm:
        first = tm.submit(render, (1,))
        with pytest.raises(InvalidArgumentError) as caught:
            tm.submit(render, (2,), resources=bad)
        assert why in str(caught.value)
        assert len(str(caught.value)) < 500
        assert tm.submit(render, (3,)) == "t2"  # the refused submit used no id
        assert tm.result(first, timeout=10) == "page 1"


def test_a_mapping_that_cannot_be_read_is_refused():
    class Raises(dict):
        def items(self):
            raise ValueError("broken mapping")

    with pytest.raises(InvalidArgumentError, match=r"could not read the mapping \(ValueError\); pass a plain dict"):
        check_resources(Raises(GPU=1))


@pytest.mark.parametrize("bad, why", [
    ({"render": {"GPU": -1}}, "name_resources['render']: the quantity of 'GPU' must be a finite number > 0"),
    ({"render": "GPU"}, "name_resources['render'] must be a dict of resource name -> quantity"),
    ({"": {"GPU": 1}}, "name_resources keys must be task names (non-empty str), got str ''"),
    ({3: {"GPU": 1}}, "name_resources keys must be task names"),
    ([("render", {"GPU": 1})], "name_resources must be a dict of task name -> resources such as"),
])
def test_bad_name_resources_are_refused_when_the_manager_is_built(bad, why):
    with pytest.raises(InvalidArgumentError) as caught:
        TaskManager(name_resources=bad)
    assert why in str(caught.value)


@given(st.dictionaries(st.text(min_size=1, max_size=20).filter(str.isprintable),
                       st.one_of(st.floats(min_value=1e-9, max_value=1e12), st.integers(1, 10 ** 12)), max_size=5))
def test_valid_resources_round_trip_and_fit_what_offers_them(needs):
    checked = check_resources(needs)
    assert checked == {k: float(v) for k, v in needs.items()}
    assert all(type(v) is float for v in checked.values())
    assert fits(checked, checked)
    assert all(f"{name}=" in format_resources(checked) for name in checked)
    if checked:
        name = next(iter(checked))
        assert not fits(checked, {**checked, name: checked[name] / 2})


@given(st.one_of(st.none(), st.integers(), st.floats(), st.text(), st.booleans(),
                 st.dictionaries(st.one_of(st.text(), st.integers()),
                                 st.one_of(st.floats(), st.integers(), st.text(), st.none()), max_size=4)))
def test_anything_is_either_checked_resources_or_a_clear_refusal(value):
    try:
        checked = check_resources(value)
    except InvalidArgumentError as exc:
        assert "resource" in str(exc) and len(str(exc)) < 500
    else:
        assert all(isinstance(k, str) and k.isprintable() and 0 < len(k) <= 100 for k in checked)
        assert all(math.isfinite(v) and v > 0 for v in checked.values())



# ---------------------------------------------------------------- accounting: local capacities


class Peak:
    """Counts how many calls run at once (the most is ``peak``)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = self.peak = 0
        self.order: list[str] = []

    def run(self, label: str, gate: threading.Event | None = None) -> str:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
            self.order.append(label)
        try:
            if gate is not None:
                assert gate.wait(10)
            return label
        finally:
            with self.lock:
                self.now -= 1


def test_two_gpu_tasks_never_run_at_once_and_cpu_tasks_keep_flowing():
    gpu, gate = Peak(), threading.Event()
    with TaskManager(max_workers=4, resources={"GPU": 1}, observers=[]) as tm:
        first = tm.submit(gpu.run, ("g0", gate), resources={"GPU": 1})
        second = tm.submit(gpu.run, ("g1",), resources={"GPU": 1})
        cpu = [tm.submit(render, (i,)) for i in range(20)]
        assert [tm.result(t, timeout=10) for t in cpu] == [f"page {i}" for i in range(20)]
        assert tm.get(first).status is TaskStatus.RUNNING
        waiting = tm.get(second)
        assert waiting.status is TaskStatus.PENDING
        assert waiting.waiting_reason == "waiting for GPU=1, held by running tasks"
        stats = tm.get_statistics()["resources"]
        assert stats == {"offered": {"GPU": 1.0}, "held": {"GPU": 1.0}, "waiting": {"GPU": 1},
                         "workers": [{"GPU": 1.0}]}
        gate.set()
        assert tm.result(second, timeout=10) == "g1"
        assert tm.get(second).waiting_reason is None
        assert tm.get_statistics()["resources"]["held"] == {}
    assert gpu.peak == 1 and gpu.order == ["g0", "g1"]
    assert "resources={GPU=1}" in repr(tm)


def test_priorities_hold_among_gpu_tasks():
    gpu, gate = Peak(), threading.Event()
    with TaskManager(max_workers=4, resources={"GPU": 1}, observers=[]) as tm:
        tm.submit(gpu.run, ("hold", gate), resources={"GPU": 1})
        ids = [tm.submit(gpu.run, (f"p{p}",), priority=p, resources={"GPU": 1}) for p in (1, 5, 3, 5, -2)]
        gate.set()
        assert not tm.wait(ids, timeout=10).not_done
    assert gpu.order == ["hold", "p5", "p5", "p3", "p1", "p-2"] and gpu.peak == 1


def test_a_big_need_first_in_line_is_not_overtaken_by_smaller_lower_priority_ones():
    # GPU=2 offered; one held. The GPU=2 task waits, and reserves both: the GPU=1 task of lower
    # priority behind it does not take the free one (it would starve the big one), CPU tasks run.
    gpu, gate = Peak(), threading.Event()
    with TaskManager(max_workers=4, resources={"GPU": 2}, observers=[]) as tm:
        tm.submit(gpu.run, ("hold", gate), resources={"GPU": 1})
        big = tm.submit(gpu.run, ("big",), priority=5, resources={"GPU": 2})
        small = tm.submit(gpu.run, ("small",), priority=1, resources={"GPU": 1})
        cpu = tm.submit(render, (1,))
        assert tm.result(cpu, timeout=10) == "page 1"
        assert tm.get(big).status is TaskStatus.PENDING and tm.get(small).status is TaskStatus.PENDING
        # A higher-priority small one is not held back: the reservation is for lower priorities.
        urgent = tm.submit(gpu.run, ("urgent",), priority=9, resources={"GPU": 1})
        assert tm.result(urgent, timeout=10) == "urgent"
        gate.set()
        assert not tm.wait([big, small], timeout=10).not_done
    assert gpu.order == ["hold", "urgent", "big", "small"]


def test_a_waiting_task_reserves_across_sets_of_resources():
    # GPU=2, one held by a task that also holds mem. The GPU+mem task of priority 5 waits for mem; the
    # GPU-only task of priority 1 must not take the GPU it reserved (it needs another set of resources).
    gpu, gate = Peak(), threading.Event()
    with TaskManager(max_workers=4, resources={"GPU": 2, "mem": 1}, observers=[]) as tm:
        tm.submit(gpu.run, ("hold", gate), resources={"GPU": 1, "mem": 1})
        big = tm.submit(gpu.run, ("big",), priority=5, resources={"GPU": 2, "mem": 1})
        small = tm.submit(gpu.run, ("small",), priority=1, resources={"GPU": 1})
        assert tm.result(tm.submit(render, (1,)), timeout=10) == "page 1"
        assert tm.get(small).status is TaskStatus.PENDING
        assert tm.get(small).waiting_reason is None  # what it needs is free, but reserved for "big"
        gate.set()
        assert not tm.wait([big, small], timeout=10).not_done
    assert gpu.order == ["hold", "big", "small"]


def test_an_attempt_that_timed_out_holds_its_gpu_until_its_thread_returns():
    gpu, gate = Peak(), threading.Event()
    with TaskManager(max_workers=4, resources={"GPU": 1}, observers=[]) as tm:
        slow = tm.submit(gpu.run, ("slow", gate), resources={"GPU": 1}, timeout=0.05)
        assert tm.wait(slow, timeout=10).done and tm.get(slow).status is TaskStatus.TIMEOUT
        after = tm.submit(gpu.run, ("after",), resources={"GPU": 1})
        assert tm.submit(render, (2,)) and tm.wait(tm.submit(render, (3,)), timeout=10).done
        assert tm.get(after).status is TaskStatus.PENDING  # the abandoned thread still uses the GPU
        gate.set()
        assert tm.result(after, timeout=10) == "after"
    assert gpu.peak == 1


def test_fractional_quantities_add_up_without_drift():
    peak, gate = Peak(), threading.Event()
    with TaskManager(max_workers=16, resources={"mem": 1}, observers=[]) as tm:
        tenths = [tm.submit(peak.run, (f"m{i}", gate), resources={"mem": 0.1}) for i in range(10)]
        extra = tm.submit(peak.run, ("extra",), resources={"mem": 0.1})
        assert until(lambda: peak.now == 10)
        assert tm.get(extra).status is TaskStatus.PENDING
        gate.set()
        assert not tm.wait([*tenths, extra], timeout=10).not_done
        for _ in range(3):  # held goes back to nothing, not to 1e-17
            assert not tm.wait([tm.submit(render, (1,), resources={"mem": 0.3}) for _ in range(5)], timeout=10).not_done
        assert tm.get_statistics()["resources"]["held"] == {}
        whole = tm.submit(render, (9,), resources={"mem": 1})
        assert tm.result(whole, timeout=10) == "page 9"


def test_coroutine_tasks_share_the_machines_resources_with_thread_tasks():
    gate = threading.Event()

    async def on_gpu() -> str:
        return "async gpu"

    with TaskManager(max_workers=2, resources={"GPU": 1}, observers=[]) as tm:
        hold = tm.submit(gate.wait, (10,), resources={"GPU": 1})
        coroutine = tm.submit(on_gpu, resources={"GPU": 1})
        assert tm.result(tm.submit(render, (1,)), timeout=10) == "page 1"
        assert tm.get(coroutine).status is TaskStatus.PENDING
        gate.set()
        assert tm.result(coroutine, timeout=10) == "async gpu" and tm.result(hold) is True


def test_a_need_beyond_the_local_machine_is_refused_at_submit_naming_what_it_offers():
    with TaskManager(max_workers=2, resources={"GPU": 1}, observers=[]) as tm:
        with pytest.raises(InvalidArgumentError) as caught:
            tm.submit(render, (1,), resources={"GPU": 2})
        message = str(caught.value)
        assert "task 'render' needs GPU=2, more than this machine offers (GPU=1" in message
        assert "TaskManager(resources=...)" in message
        with pytest.raises(InvalidArgumentError, match="needs browser=1, more than this machine offers"):
            tm.submit(render, (1,), resources={"browser": 1})
        assert tm.submit(render, (1,)) == "t1"  # nothing was used by the refusals
    with pytest.raises(InvalidArgumentError, match=r"name_resources\['render'\] needs GPU=1, more than this "
                                                   r"machine offers \(no resources"):
        TaskManager(resources={}, name_resources={"render": {"GPU": 1}})


@pytest.mark.parametrize("kwargs, why", [
    ({"resources": {"GPU": -1}}, "the quantity of 'GPU' must be a finite number > 0, got -1"),
    ({"resources": "GPU=1"}, "resources must be a dict of resource name -> quantity"),
    ({"resources": {"GPU": 1}, "executor": ThreadExecutor(2)}, "with executor= the executor offers them"),
])
def test_bad_local_resources_are_refused_when_the_manager_is_built(kwargs, why):
    with pytest.raises(InvalidArgumentError) as caught:
        TaskManager(**kwargs)
    assert why in str(caught.value)


def test_executors_that_do_not_offer_resources_are_not_accounted():
    with TaskManager(max_workers=2, observers=[]) as tm:
        assert tm.get_statistics()["resources"] is None
        assert tm.get(tm.submit(render, (1,), resources={"GPU": 5})).waiting_reason is None


# ---------------------------------------------------------------- accounting: offers that change


class Cluster(ThreadExecutor):
    """A thread executor posing as a cluster whose workers (their offers) come and go."""

    fixed_offers = False

    def __init__(self, offers: list[dict[str, float]]) -> None:
        super().__init__(8)
        self.offers = offers
        self.reporter = None

    def attach(self, reporter) -> None:
        self.reporter = reporter

    def join(self, offer: dict[str, float]) -> None:
        self.offers = [*self.offers, offer]
        self.reporter.capacity_changed()


def test_a_task_no_worker_offers_for_waits_with_the_reason_and_starts_when_one_joins():
    cluster = Cluster([{}, {"mem": 4}])
    with TaskManager(executor=cluster, observers=[], name_resources={"render": {"GPU": 1}}) as tm:
        gpu = tm.submit(render, (1,))  # before any attempt started: the executor was attached at once
        cpu = [tm.submit(render, (i,), name="cpu") for i in range(10)]
        assert not tm.wait(cpu, timeout=10).not_done
        info = tm.get(gpu)
        assert info.status is TaskStatus.PENDING
        reason = "no worker offers GPU=1 (the workers offer mem=4 in all)"
        assert info.waiting_reason == reason
        assert [e.reason for e in info.events if e.kind == "waiting_for_resources"] == [reason]
        assert tm.get_statistics()["resources"]["waiting"] == {"GPU": 1}
        cluster.join({"mem": 1})  # a worker without a GPU: still waiting, no second event
        assert tm.wait(tm.submit(render, (0,), name="cpu"), timeout=10).done
        assert [e.kind for e in tm.get(gpu).events].count("waiting_for_resources") == 1
        cluster.join({"GPU": 1})
        assert tm.result(gpu, timeout=10) == "page 1"
        assert tm.get(gpu).waiting_reason is None
        assert tm.get_statistics()["resources"]["offered"] == {"GPU": 1.0, "mem": 5.0}


def test_a_need_no_single_worker_meets_waits_even_if_the_workers_together_offer_it():
    cluster = Cluster([{"GPU": 1}, {"GPU": 1}])
    with TaskManager(executor=cluster, observers=[]) as tm:
        both = tm.submit(render, (1,), resources={"GPU": 2})
        one = tm.submit(render, (2,), resources={"GPU": 1})
        assert tm.result(one, timeout=10) == "page 2"
        assert tm.get(both).waiting_reason == "no worker offers GPU=2 (the workers offer GPU=2 in all)"
        cluster.join({"GPU": 2})
        assert tm.result(both, timeout=10) == "page 1"


def test_a_cancelled_waiting_task_is_not_counted_and_never_runs():
    cluster = Cluster([{}])
    with TaskManager(executor=cluster, observers=[]) as tm:
        ids = [tm.submit(render, (i,), resources={"GPU": 1}) for i in range(100)]
        for task_id in ids[1:]:
            assert tm.cancel(task_id)
        assert tm.get_statistics()["resources"]["waiting"] == {"GPU": 1}
        cluster.join({"GPU": 1})
        assert tm.result(ids[0], timeout=10) == "page 0"
        assert {tm.get(t).status for t in ids[1:]} == {TaskStatus.CANCELLED}


class BrokenOffers(ThreadExecutor):
    fixed_offers = False

    def __init__(self) -> None:
        super().__init__(4)
        self.broken = False
        self.reporter = None

    def attach(self, reporter) -> None:
        self.reporter = reporter

    @property
    def offers(self):
        if self.broken:
            raise RuntimeError("the cluster is unreachable")
        return [{"GPU": 1}, "not a dict", {"GPU": math.nan, "mem": -1, 3: 1, "disk": True, "tape": 10 ** 400,
                                           "fan": math.inf, "cpu": "4"}]


@pytest.mark.parametrize("offers", ["GPU=1", {"GPU": 1}, 3])
def test_offers_that_are_not_a_list_leave_resources_unaccounted(offers, caplog):
    class Odd(ThreadExecutor):
        pass

    executor = Odd(2)
    executor.offers = offers
    with TaskManager(executor=executor, observers=[]) as tm:
        assert tm.get_statistics()["resources"] is None
        assert tm.result(tm.submit(render, (1,), resources={"GPU": 1}), timeout=10) == "page 1"
    assert "reading the executor's offers raised" in caplog.text


def test_offers_that_raise_or_hold_junk_do_not_break_dispatch(caplog):
    executor = BrokenOffers()
    with TaskManager(executor=executor, observers=[]) as tm:
        assert tm.get_statistics()["resources"]["workers"] == [{"GPU": 1.0}, {}]
        executor.broken = True
        executor.reporter.capacity_changed()  # reading raises: logged, the last offers stand
        assert "reading the executor's offers raised" in caplog.text
        assert tm.result(tm.submit(render, (1,), resources={"GPU": 1}), timeout=10) == "page 1"
        assert tm.result(tm.submit(render, (2,)), timeout=10) == "page 2"


def test_an_executor_whose_attach_raises_an_exception_still_runs_tasks(caplog):
    class Raises(ThreadExecutor):
        def attach(self, reporter) -> None:
            raise RuntimeError("attach is user code")

    with TaskManager(executor=Raises(2), observers=[]) as tm:
        assert tm.result(tm.submit(render, (1,)), timeout=10) == "page 1"
    assert "the executor's attach() raised" in caplog.text


def until(condition, timeout: float = 10.0) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.005)
    return condition()


# ---------------------------------------------------------------- the accounting as a property


class Manual(Executor):
    """Runs nothing by itself: the test ends attempts one by one. Notes what was pending at each start."""

    fixed_offers = False

    def __init__(self, offers: list[dict[str, float]], pending_at_start) -> None:
        self.offers = offers
        self.running: list[tuple[TaskCall, object]] = []
        self.pending_at_start = pending_at_start
        self.inversions: list[str] = []
        self.reporter = None

    def attach(self, reporter) -> None:
        self.reporter = reporter

    def start(self, call: TaskCall, reporter) -> None:
        for other in self.pending_at_start():  # a pending task of higher priority needing the same resources
            if other.priority > call.priority and sorted(other.resources) == sorted(call.resources) \
                    and call.resources and not (other.waiting_reason or "").startswith("no worker offers"):
                self.inversions.append(f"{call.task_id} (priority {call.priority}) started before {other.id}")
        self.running.append((call, reporter))

    def finish(self, index: int) -> None:
        call, reporter = self.running.pop(index)
        assert reporter.attempt_starting(call)
        reporter.attempt_finished(call, True, None)


NEEDS = st.dictionaries(st.sampled_from(["GPU", "mem"]), st.sampled_from([0.5, 1, 2, 3]), max_size=2)


@settings(max_examples=150, deadline=None)
@given(offers=st.lists(st.dictionaries(st.sampled_from(["GPU", "mem"]), st.sampled_from([1, 2, 4]), max_size=2),
                       min_size=1, max_size=3),
       tasks=st.lists(st.tuples(NEEDS, st.integers(0, 3)), min_size=1, max_size=14),
       data=st.data())
def test_accounting_holds_no_more_than_offered_starves_nothing_and_keeps_priority(offers, tasks, data):
    holder: list[TaskManager] = []
    executor = Manual([{k: float(v) for k, v in o.items()} for o in offers],
                      lambda: holder[0].tasks(status=TaskStatus.PENDING) if holder else [])
    tm = TaskManager(max_workers=100, executor=executor, observers=[])
    holder.append(tm)
    try:
        ids = [tm.submit(render, (i,), resources=needs, priority=p) for i, (needs, p) in enumerate(tasks)]
        while True:
            _check_accounting(tm, executor)
            if not executor.running:
                break
            executor.finish(data.draw(st.integers(0, len(executor.running) - 1), label="finish"))
        # Whatever is left needs more than any worker offers: a worker that offers everything lets it run.
        left = tm.tasks(status=TaskStatus.PENDING)
        assert all(t.waiting_reason.startswith("no worker offers") for t in left)
        assert all([e.kind for e in t.events].count("waiting_for_resources") == 1 for t in left)
        executor.offers = [*executor.offers, {"GPU": 3.0, "mem": 3.0}]
        executor.reporter.capacity_changed()
        while executor.running:
            _check_accounting(tm, executor)
            executor.finish(0)
        assert {tm.get(t).status for t in ids} == {TaskStatus.COMPLETED}
        assert executor.inversions == []
    finally:
        tm.shutdown(wait=False, cancel_pending=True)
        while executor.running:  # a failed check must not leave the manager waiting for them
            executor.finish(0)


def _check_accounting(tm: TaskManager, executor: Manual) -> None:
    offered: dict[str, float] = {}
    for offer in executor.offers:
        for name, quantity in offer.items():
            offered[name] = offered.get(name, 0.0) + quantity
    held: dict[str, float] = {}
    for call, _ in executor.running:
        for name, quantity in call.resources.items():
            held[name] = held.get(name, 0.0) + quantity
    assert all(held[name] <= offered.get(name, 0.0) + 1e-9 for name in held), (held, offered)
    assert tm.get_statistics()["resources"]["held"] == pytest.approx(held)
    # No runnable task starves. Taking the pending tasks best priority first, each one that cannot
    # run now reserves what it needs from the tasks after it: a task that fits in what is free less
    # what those before it reserved must have started (CPU-only ones always fit).
    pending = sorted(tm.tasks(status=TaskStatus.PENDING), key=lambda t: (-t.priority, int(t.id[1:])))
    room = {name: offered.get(name, 0.0) - held.get(name, 0.0) for name in {*offered, *held}}
    for task in pending:
        assert task.resources, f"{task.id} needs nothing and still waits"
        if not any(fits(task.resources, offer) for offer in executor.offers):
            continue
        assert not all(room.get(n, 0.0) + 1e-9 >= q for n, q in task.resources.items()), (
            f"{task.id} needs {task.resources}, which fit in {room} (free less what tasks before it reserve); "
            f"offers {executor.offers}, pending {[(t.id, t.priority, t.resources) for t in pending]}")
        for name, quantity in task.resources.items():
            room[name] = room.get(name, 0.0) - quantity
