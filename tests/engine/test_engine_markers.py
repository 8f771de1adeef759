"""Issue 9, items 9, 11, 14, 17: ResultOf markers are resolved where documented, refused elsewhere,
and a container that holds no marker reaches the task as the very same object."""

from __future__ import annotations

import gc
import threading
import warnings
from collections import OrderedDict, defaultdict, namedtuple

import pytest

from async_task_system import InvalidArgumentError, ResultOf, TaskStatus
from async_task_system.engine._markers import live_markers

Point = namedtuple("Point", "x y")


def _identity(*args, **kwargs):
    return args, kwargs


def test_marker_free_containers_are_passed_as_the_same_objects(tm):
    t1 = tm.submit(lambda: "r1")
    data, point, table, ordered = [1, 2], Point(1, 2), defaultdict(list), OrderedDict(a=1)
    nested = {"keep": data}
    tid = tm.submit(_identity, (data, point, [ResultOf(t1), data], nested), {"table": table, "o": ordered})
    args, kwargs = tm.result(tid, timeout=5)
    assert args[0] is data and args[1] is point and args[3] is nested
    assert kwargs["table"] is table and kwargs["o"] is ordered
    assert args[2] == ["r1", data] and args[2][1] is data  # rebuilt around the marker only


def test_markers_are_found_in_lists_tuples_and_dict_values_and_add_the_dependency(tm, gate):
    t1 = tm.submit(lambda: gate.wait(5) and 5)
    tid = tm.submit(_identity, (ResultOf(t1), (1, [ResultOf(t1)])), {"d": {"k": (ResultOf(t1),)}})
    assert tm.get(tid).depends_on == (t1,) and tm.get(tid).status is TaskStatus.WAITING
    gate.set()
    assert tm.result(tid, timeout=5) == ((5, (1, [5])), {"d": {"k": (5,)}})


def test_shared_containers_stay_shared_after_rebuilding(tm):
    t1 = tm.submit(lambda: 1)
    shared = [ResultOf(t1)]
    args, _ = tm.result(tm.submit(_identity, (shared, shared)), timeout=5)
    assert args == ([1], [1]) and args[0] is args[1] and args[0] is not shared


def test_strings_are_never_rewritten(tm):
    t1 = tm.submit(lambda: "x")
    tm.wait(t1, timeout=5)
    tid = tm.submit(_identity, ("$" + t1, "${%s}" % t1))
    assert tm.get(tid).depends_on == ()
    assert tm.result(tid, timeout=5) == (("$t1", "${t1}"), {})


@pytest.mark.parametrize(
    ("build", "where"),
    [
        (lambda m: ({m},), "set"),
        (lambda m: (frozenset([m]),), "frozenset"),
        (lambda m: (Point(m, 1),), "Point"),
        (lambda m: (defaultdict(list, k=m),), "defaultdict"),
        (lambda m: ({m: 1},), "dict key"),
        (lambda m: ([{(m, 1)}],), "set"),
    ],
)
def test_markers_where_the_engine_does_not_rebuild_are_refused_at_submit(tm, build, where):
    t1 = tm.submit(int)
    with pytest.raises(InvalidArgumentError, match=f"inside a {where}.*plain list, tuple and dict"):
        tm.submit(_identity, build(ResultOf(t1)))
    assert tm.get_statistics()["total"] == 1  # nothing queued, no id used


def test_a_self_referencing_container_without_markers_is_passed_as_is(tm):
    loop: list = [1]
    loop.append(loop)
    table: dict = {}
    table["self"] = table
    t1 = tm.submit(int)
    args, _ = tm.result(tm.submit(_identity, (loop, table, ResultOf(t1))), timeout=5)
    assert args[0] is loop and args[1] is table


def test_a_self_referencing_container_holding_a_marker_is_refused_clearly(tm):
    t1 = tm.submit(int)
    loop: list = [ResultOf(t1)]
    loop.append(loop)
    with pytest.raises(InvalidArgumentError, match="contains itself"):
        tm.submit(len, (loop,))


def test_submit_does_not_look_into_arguments_while_no_marker_exists(tm):
    class Spy(list):
        looked = 0

        def __iter__(self):
            Spy.looked += 1
            return super().__iter__()

    gc.collect()
    assert live_markers() == 0
    big = Spy(range(100_000))
    assert tm.result(tm.submit(len, (big,)), timeout=5) == 100_000
    assert Spy.looked == 0


def test_markers_are_resolved_outside_the_managers_lock(tm):
    """A key's __hash__ runs while its dict is rebuilt: another thread can use the manager meanwhile."""
    answered: list[bool] = []

    class Key:
        def __hash__(self):
            reader = threading.Thread(target=tm.get_statistics)
            reader.start()
            reader.join(2)
            answered.append(not reader.is_alive())
            return 1

    gate = threading.Event()
    t1 = tm.submit(lambda: gate.wait(5) and 1)
    tid = tm.submit(_identity, ({Key(): ResultOf(t1)},))
    answered.clear()  # the hash at submit does not count; the rebuild at dispatch does
    gate.set()
    args, _ = tm.result(tid, timeout=10)
    assert list(args[0].values()) == [1] and answered and all(answered)


async def _coro():
    return 1


def _gen():
    yield 1


class _AsyncCallable:
    async def __call__(self):
        return 1


async def _agen():
    yield 1


@pytest.mark.parametrize(("fn", "kind"), [(_gen, "generator"), (_agen, "async generator")])
def test_generator_functions_are_refused_with_the_fix(tm, fn, kind):
    with pytest.raises(InvalidArgumentError, match=f"the {kind} function .*a task has one result") as err:
        tm.submit(fn)
    assert "list(" in str(err.value)
    assert tm.get_statistics()["total"] == 0


@pytest.mark.parametrize("fn", [_coro, _AsyncCallable()])
def test_async_functions_run_as_tasks(tm, fn):
    assert tm.result(tm.submit(fn), timeout=10) == 1


def test_a_callable_that_returns_a_coroutine_fails_instead_of_completing(tm):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "coroutine was never awaited": it is closed
        tid = tm.submit(lambda: _coro())
        assert tm.wait(tid, timeout=5).done == {tid}
        gc.collect()
    info = tm.get(tid)
    assert info.status is TaskStatus.FAILED and "returned an un-awaited coroutine (_coro())" in info.reason
    assert tm.result(tm.submit(_coro), timeout=10) == 1  # the same function, submitted the way the message says


def test_markers_are_dropped_once_their_task_started_and_retries_reuse_the_resolved_arguments(tm, gate):
    gc.collect()
    before = live_markers()
    t1 = tm.submit(lambda: gate.wait(5) and "data")
    seen: list[object] = []

    def flaky(items):
        seen.append(items)
        if len(seen) == 1:
            raise ConnectionError("first attempt fails")
        return items

    tid = tm.submit(flaky, ([ResultOf(t1)],), max_retries=1, backoff=lambda attempt: 0.0)
    assert live_markers() == before + 1  # held by the waiting task
    gate.set()
    assert tm.result(tid, timeout=5) == ["data"]
    gc.collect()
    assert live_markers() == before
    assert seen[0] is seen[1]  # each attempt gets the same argument objects
