"""Outcomes in the workers' notes: every value comes back whole, by whichever way it travels.

Small values come home in the note that says the attempt ended, bigger ones (and errors) by
Dask's own way. (An attempt that ends without any note, its worker killed, is found by the
executor's sweep: ``test_dask_faults``.)
"""

from __future__ import annotations

import math
import os
import time

import pytest
from dask_jobs import echo, make_lambda, make_worker_only, stamp, until
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from async_task_system import TaskManager, TaskStatus
from async_task_system.executors import DaskExecutor
from async_task_system.executors._dask_notes import VALUE_LIMIT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tm(dask_cluster):
    _, client = dask_cluster
    with TaskManager(max_unfinished=100_000, executor=DaskExecutor(client, trace_endpoint=None)) as manager:
        yield manager


def _same(a, b) -> bool:
    """Equal, with NaN equal to NaN and -0.0 told from 0.0 (what pickling keeps)."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return a == b


def test_values_on_both_sides_of_the_note_limit_come_back_whole(tm):
    values = [None, 0, -1.5, "x", {"a": [1, 2]}, "s" * (VALUE_LIMIT - 100), "b" * (VALUE_LIMIT + 100),
              b"\x00" * 5_000_000, "\ud800 lone \x00 surrogate"]
    ids = [tm.submit(echo, (v,)) for v in values]
    assert not tm.wait(ids, timeout=60).not_done
    for task_id, value in zip(ids, values):
        assert tm.get(task_id).status is TaskStatus.COMPLETED, tm.get(task_id)
        assert tm.result(task_id) == value


def test_values_that_overfill_one_note_come_back_whole(tm):
    """Many values just under the limit end at once: those that do not fit a note are fetched."""
    values = [f"{i:05d}" + "v" * (VALUE_LIMIT - 100) for i in range(40)]
    ids = [tm.submit(echo, (v,)) for v in values]
    assert not tm.wait(ids, timeout=60).not_done
    assert [tm.result(i) for i in ids] == values


def test_a_value_only_cloudpickle_takes_comes_back_callable(tm):
    task_id = tm.submit(make_lambda, (21,))
    assert not tm.wait([task_id], timeout=60).not_done
    assert tm.result(task_id)() == 42


def test_each_of_many_short_tasks_gets_its_own_value_and_one_worker_event(tm):
    ids = [tm.submit(echo, (i,)) for i in range(1_000)]
    assert not tm.wait(ids, timeout=120).not_done
    assert [tm.result(i) for i in ids] == list(range(1_000))
    for task_id in ids[::50]:
        assert [e.kind for e in tm.get(task_id).events].count("worker") == 1


def test_a_value_that_does_not_load_here_fails_its_task_saying_why(tm):
    """It travels in a note, fails to load in the client, is fetched Dask's way, and fails there too."""
    task_id = tm.submit(make_worker_only, ("payload", os.getpid()))
    assert not tm.wait([task_id], timeout=30).not_done
    info = tm.get(task_id)
    assert info.status is TaskStatus.FAILED
    assert "cannot be loaded in the client" in str(info.error), info.error


def test_a_long_attempt_is_running_on_its_worker_before_it_ends(tm):
    """Its start is noted on its own (nothing else ends on that worker to carry it)."""
    task_id = tm.submit(stamp, ("long", 1.5))
    assert until(lambda: any(e.kind == "worker" for e in tm.get(task_id).events), timeout=1.2)
    assert tm.get(task_id).status is TaskStatus.RUNNING
    assert not tm.wait([task_id], timeout=30).not_done
    assert tm.get(task_id).status is TaskStatus.COMPLETED


_leaves = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text()
           | st.binary(max_size=40_000))
_values = st.recursive(_leaves, lambda kids: st.lists(kids, max_size=5)
                       | st.dictionaries(st.text(max_size=8), kids, max_size=5), max_leaves=20)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(value=_values)
def test_any_plain_value_comes_back_as_it_was(tm, value):
    task_id = tm.submit(echo, (value,))
    assert not tm.wait([task_id], timeout=30).not_done
    assert _same(tm.result(task_id), value)
