"""Resources a task needs (``submit(resources=)``, ``TaskManager(name_resources=)``): checked at submit,
kept on the record, handed to the executor on every attempt (``TaskCall.resources``)."""

from __future__ import annotations

import math
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from async_task_system import InvalidArgumentError, TaskManager
from async_task_system.engine import TaskCall, ThreadExecutor
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


def test_the_same_code_runs_on_the_thread_executor():
    # Local capacities are not accounted yet: the thread executor runs tasks whatever they need.
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

