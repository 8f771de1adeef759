"""Coroutine tasks: ``async def`` functions run on the manager's event loop, under every engine rule."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import gc
import threading
import time
import warnings
import weakref
from unittest.mock import AsyncMock, Mock

import pytest
from engine_helpers import engine_threads
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry import context as otel_context

from async_task_system import (
    InvalidArgumentError,
    ResultOf,
    TaskCancelledError,
    TaskFailedError,
    TaskManager,
    TaskStatus,
    current_task,
)
from async_task_system.engine import Executor, TaskObserver
from async_task_system.engine._loop import callable_kind

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="unset")


async def double(x):
    await asyncio.sleep(0)
    return 2 * x


async def where():
    await asyncio.sleep(0)
    return threading.current_thread().name


def hang_until_cancelled(stopped: threading.Event):
    """A coroutine function that waits forever and sets ``stopped`` in its finally."""

    async def hang():
        try:
            await asyncio.Event().wait()
        finally:
            stopped.set()

    return hang


def test_coroutines_share_one_loop_thread_and_run_concurrently():
    n = 50
    started = 0
    all_started = None

    async def meet():
        nonlocal started, all_started
        if all_started is None:
            all_started = asyncio.Event()
        started += 1
        if started == n:
            all_started.set()
        await asyncio.wait_for(all_started.wait(), 10)  # only returns if all n run at once
        return threading.current_thread().name

    with TaskManager(max_workers=1) as tm:
        ids = [tm.submit(meet) for _ in range(n)]
        tm.wait(ids, timeout=30)
        names = {tm.result(i) for i in ids}
    assert names == {"task-loop"}


def test_result_current_task_and_the_submitters_context_reach_the_coroutine():
    key = otel_context.create_key("tenant")

    async def probe():
        await asyncio.sleep(0)
        task = current_task()
        return task.task_id, task.attempt, REQUEST_ID.get(), otel_context.get_value(key)

    token = otel_context.attach(otel_context.set_value(key, "acme"))
    var_token = REQUEST_ID.set("req-7")
    try:
        with TaskManager() as tm:
            tid = tm.submit(probe)
            assert tm.result(tid, timeout=10) == (tid, 1, "req-7", "acme")
    finally:
        REQUEST_ID.reset(var_token)
        otel_context.detach(token)


def test_what_a_coroutine_sets_in_its_context_does_not_leak_into_the_next():
    async def set_it(value):
        before = REQUEST_ID.get()
        REQUEST_ID.set(value)
        return before

    with TaskManager(max_coroutines=1) as tm:
        first = tm.submit(set_it, ("a",))
        second = tm.submit(set_it, ("b",))
        assert tm.result(first, timeout=10) == "unset"
        assert tm.result(second, timeout=10) == "unset"


def test_partial_async_callable_object_and_bound_async_method_run_as_coroutines():
    class Client:
        async def get(self, path):
            return await where(), path

        async def __call__(self, path):
            return await where(), path.upper()

    client = Client()
    with TaskManager() as tm:
        ids = [tm.submit(functools.partial(double, 21)), tm.submit(client.get, ("/a",)),
               tm.submit(client, ("/b",)), tm.submit(functools.partial(client, "/c"))]
        results = [tm.result(i, timeout=10) for i in ids]
    assert results == [42, ("task-loop", "/a"), ("task-loop", "/B"), ("task-loop", "/C")]


def test_cancel_reaches_the_running_coroutine_and_its_finally_runs():
    started = threading.Event()
    stopped = threading.Event()
    seen: list[str] = []

    async def long_call():
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError as exc:
            seen.append(str(exc))
            raise
        finally:
            stopped.set()

    with TaskManager() as tm:
        tid = tm.submit(long_call)
        assert started.wait(10)
        assert tm.cancel(tid, reason="plan changed")
        assert stopped.wait(10), "the coroutine's finally did not run"
        assert tm.get(tid).status is TaskStatus.CANCELLED
        with pytest.raises(TaskCancelledError, match="plan changed"):
            tm.result(tid)
        tm.wait(tid)
    assert seen == ["plan changed"]
    info = tm.get(tid)
    assert info.events[-1].kind == "coroutine_stopped"
    stats = tm.get_statistics()
    assert stats["abandoned_coroutines"] == 0 and stats["late_results_discarded"] == 0


def test_timeout_cancels_the_coroutine_itself():
    stopped = threading.Event()

    hang = hang_until_cancelled(stopped)

    with TaskManager() as tm:
        tid = tm.submit(hang, timeout=0.2)
        tm.wait(tid, timeout=10)
        assert tm.get(tid).status is TaskStatus.TIMEOUT
        assert stopped.wait(10)
        assert "timeout of 0.2s" in tm.get(tid).reason


def test_a_pending_coroutine_task_that_is_cancelled_never_runs():
    ran: list[int] = []
    release = threading.Event()

    async def blocker():
        while not release.is_set():
            await asyncio.sleep(0.01)

    async def record(i):
        ran.append(i)

    with TaskManager(max_coroutines=1) as tm:
        first = tm.submit(blocker)
        queued = tm.submit(record, (1,))
        assert tm.cancel(queued)
        release.set()
        tm.wait([first, queued], timeout=10)
    assert ran == [] and tm.get(queued).started_at is None


def test_priorities_order_coroutine_tasks():
    order: list[str] = []
    release = threading.Event()

    async def gate():
        while not release.is_set():
            await asyncio.sleep(0.01)

    async def mark(label):
        order.append(label)

    with TaskManager(max_coroutines=1) as tm:
        ids = [tm.submit(gate)]
        ids += [tm.submit(mark, (label,), priority=p) for label, p in (("low", 0), ("high", 9), ("mid", 5))]
        release.set()
        assert not tm.wait(ids, timeout=10).not_done
    assert order == ["high", "mid", "low"]


def test_per_name_limits_hold_for_coroutines():
    running = 0
    most = 0

    async def fetch(i):
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.01)
        running -= 1
        return i

    with TaskManager(name_limits={"fetch": 2}) as tm:
        ids = [tm.submit(fetch, (i,)) for i in range(12)]
        assert sorted(tm.result(i, timeout=10) for i in ids) == list(range(12))
    assert most == 2


def test_retries_with_backoff_rerun_the_coroutine():
    calls: list[int] = []

    async def flaky():
        calls.append(current_task().attempt)
        if len(calls) < 3:
            raise ConnectionError("try again")
        return "ok"

    with TaskManager() as tm:
        tid = tm.submit(flaky, max_retries=3, backoff=lambda attempt: 0.01)
        assert tm.result(tid, timeout=10) == "ok"
        info = tm.get(tid)
    assert calls == [1, 2, 3] and info.attempts == 3
    assert [e.kind for e in info.events].count("retry_scheduled") == 2


def test_failure_records_the_coroutines_error():
    async def broken():
        await asyncio.sleep(0)
        raise KeyError("missing")

    with TaskManager() as tm:
        tid = tm.submit(broken)
        with pytest.raises(TaskFailedError, match="KeyError"):
            tm.result(tid, timeout=10)
        assert tm.get(tid).error.type == "KeyError"


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit, GeneratorExit, asyncio.CancelledError])
def test_a_coroutine_raising_any_base_exception_fails_its_task_and_the_loop_carries_on(exc_type):
    async def raiser():
        raise exc_type("boom")

    with TaskManager() as tm:
        bad = tm.submit(raiser)
        tm.wait(bad, timeout=10)
        assert tm.get(bad).status is TaskStatus.FAILED
        assert tm.get(bad).error.type == exc_type.__name__
        assert tm.result(tm.submit(double, (4,)), timeout=10) == 8


def test_dependencies_mix_thread_and_coroutine_tasks():
    with TaskManager(max_workers=1, max_coroutines=1) as tm:
        t1 = tm.submit(pow, (2, 5))                      # thread
        t2 = tm.submit(double, (ResultOf(t1),))  # coroutine, gets 32
        t3 = tm.submit(str, (ResultOf(t2),))  # thread, gets 64
        t4 = tm.submit(where, depends_on=[t3])           # coroutine after a thread
        assert tm.result(t3, timeout=10) == "64"
        assert tm.result(t4, timeout=10) == "task-loop"


def test_result_of_placeholders_reach_a_coroutine_inside_containers():
    async def combine(parts, options):
        await asyncio.sleep(0)
        return [*parts, options["scale"]]

    with TaskManager() as tm:
        t1 = tm.submit(double, (1,))
        t2 = tm.submit(pow, (3, 2))
        t3 = tm.submit(combine, ([ResultOf(t1), ResultOf(t2)],), {"options": {"scale": ResultOf(t1)}})
        assert tm.result(t3, timeout=10) == [2, 9, 2]
        assert set(tm.get(t3).depends_on) == {t1, t2}


def test_a_failed_coroutine_cancels_its_thread_dependents():
    async def fails():
        raise ValueError("bad input")

    with TaskManager() as tm:
        bad = tm.submit(fails)
        after = tm.submit(str, (ResultOf(bad),))
        tm.wait([bad, after], timeout=10)
        assert tm.get(after).status is TaskStatus.CANCELLED
        assert tm.get(after).reason.startswith(f"dependency {bad} (fails) failed")


def test_threads_and_coroutines_never_wait_for_each_others_slots(gate):
    async def coro_gate():
        while not gate.is_set():
            await asyncio.sleep(0.01)

    with TaskManager(max_workers=1, max_coroutines=1) as tm:
        busy_thread = tm.submit(gate.wait, (30,))
        busy_coro = tm.submit(coro_gate)
        # Both lanes are full; each lane's queued tasks wait only for their own lane.
        queued_coro = tm.submit(double, (1,))
        queued_thread = tm.submit(abs, (-1,))
        stats = tm.get_statistics()
        assert stats["busy_slots"] == 1 and stats["busy_coroutine_slots"] == 1 and stats["queued"] == 2
        gate.set()
        assert tm.result(queued_coro, timeout=10) == 2 and tm.result(queued_thread, timeout=10) == 1
        tm.wait([busy_thread, busy_coro], timeout=10)


def test_a_blocked_thread_lane_does_not_stop_coroutines(gate):
    with TaskManager(max_workers=1) as tm:
        blocked = tm.submit(gate.wait, (30,))
        ids = [tm.submit(double, (i,)) for i in range(20)]
        assert [tm.result(i, timeout=10) for i in ids] == [2 * i for i in range(20)]
        assert tm.get(blocked).status is TaskStatus.RUNNING
        gate.set()


def test_statistics_and_events_count_coroutine_tasks():
    async def fails():
        raise RuntimeError("no")

    with TaskManager() as tm:
        ids = [tm.submit(double, (i,)) for i in range(5)] + [tm.submit(fails)]
        tm.wait(ids, timeout=10)
        stats = tm.get_statistics()
        kinds = [e.kind for e in tm.get(ids[0]).events]
    assert (stats["completed"], stats["failed"], stats["total"], stats["running"]) == (5, 1, 6, 0)
    assert stats["max_coroutines"] == 1000
    assert kinds == ["pending", "running", "completed"]


def test_done_callbacks_and_observer_scopes_run_for_coroutine_tasks():
    seen: list[tuple] = []
    in_scope: contextvars.ContextVar[bool] = contextvars.ContextVar("in_scope", default=False)

    class Recorder(TaskObserver):
        @contextlib.contextmanager
        def attempt_scope(self, call):
            token = in_scope.set(True)
            try:
                yield
            finally:
                in_scope.reset(token)
                seen.append(("scope exited", current_task().task_id))

        def on_event(self, task_id, event, info):
            seen.append((event.kind, task_id))

    async def probe():
        await asyncio.sleep(0)
        return in_scope.get()

    done: list[str] = []
    with TaskManager(observers=[Recorder()]) as tm:
        tid = tm.submit(probe)
        tm.add_done_callback(tid, lambda info: done.append(info.status.value))
        assert tm.result(tid, timeout=10) is True
    assert ("scope exited", tid) in seen and ("completed", tid) in seen
    assert done == ["completed"]


@pytest.mark.parametrize("kind", ["generator", "async generator"])
def test_generator_functions_are_refused_at_submit(kind):
    def gen():
        yield 1

    async def agen():
        yield 1

    fn = gen if kind == "generator" else agen
    with TaskManager() as tm:
        with pytest.raises(InvalidArgumentError, match=f"the {kind} function .*a task has one result"):
            tm.submit(fn)
        with pytest.raises(InvalidArgumentError, match=kind):
            tm.submit(functools.partial(fn))
        assert tm.get_statistics()["total"] == 0


def test_a_function_that_returns_a_coroutine_fails_clearly_and_the_coroutine_is_closed():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "coroutine ... was never awaited" would be an error here
        with TaskManager() as tm:
            tid = tm.submit(lambda: double(3))
            with pytest.raises(TaskFailedError, match="un-awaited coroutine .*double"):
                tm.result(tid, timeout=10)


def test_a_coroutine_that_swallows_its_cancellation_is_abandoned_then_cancelled_again_at_shutdown():
    started = threading.Event()
    finished = threading.Event()

    async def stubborn():
        started.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(60)  # the first cancellation is swallowed
        try:
            await asyncio.sleep(60)
        finally:
            finished.set()

    tm = TaskManager()
    tid = tm.submit(stubborn)
    assert started.wait(10)
    tm.cancel(tid)
    assert tm.get(tid).status is TaskStatus.CANCELLED
    assert tm.get_statistics()["abandoned_coroutines"] == 1  # its slot is free; it still runs
    tm.shutdown(wait=True)
    assert finished.is_set() and engine_threads() == []
    assert tm.get_statistics()["abandoned_coroutines"] == 0


def test_shutdown_cancel_pending_cancels_queued_coroutines_and_leaves_no_thread():
    release = threading.Event()

    async def busy():
        while not release.is_set():
            await asyncio.sleep(0.01)
        return "done"

    tm = TaskManager(max_coroutines=2)
    running = [tm.submit(busy) for _ in range(2)]
    queued = [tm.submit(busy) for _ in range(5)]
    threading.Timer(0.1, release.set).start()
    tm.shutdown(wait=True, cancel_pending=True)
    assert [tm.get(t).status for t in running] == [TaskStatus.COMPLETED] * 2
    assert {tm.get(t).status for t in queued} == {TaskStatus.CANCELLED}
    assert engine_threads() == []


def test_submit_after_shutdown_is_refused_for_coroutines_too():
    tm = TaskManager()
    tm.submit(double, (1,))
    tm.shutdown()
    with pytest.raises(Exception, match="after shutdown"):
        tm.submit(double, (1,))
    assert engine_threads() == []


def test_no_loop_thread_is_started_until_a_coroutine_task_runs():
    with TaskManager() as tm:
        tm.result(tm.submit(abs, (-3,)), timeout=10)
        assert not any(t.name == "task-loop" for t in threading.enumerate())
        tm.result(tm.submit(double, (1,)), timeout=10)
        assert sum(t.name == "task-loop" for t in threading.enumerate()) == 1


_plans = st.lists(
    st.tuples(st.sampled_from(["thread", "coroutine"]), st.booleans(), st.integers(min_value=-1, max_value=8)),
    min_size=1, max_size=12,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=_plans)
def test_every_mixed_task_ends_once_and_failures_cancel_their_dependents(plan):
    """Random mixes of thread and coroutine tasks, some failing, some depending on earlier ones."""

    def work_sync(fail, *_):
        if fail:
            raise ValueError("planned failure")
        return 1

    async def work_async(fail, *_):
        await asyncio.sleep(0)
        return work_sync(fail)

    with TaskManager(max_workers=2, max_coroutines=3) as tm:
        ids: list[str] = []
        for kind, fail, dep in plan:
            fn = work_async if kind == "coroutine" else work_sync
            args = (fail, ResultOf(ids[dep % len(ids)])) if dep >= 0 and ids else (fail,)
            ids.append(tm.submit(fn, args))
        assert not tm.wait(ids, timeout=30).not_done
        infos = [tm.get(i) for i in ids]
        for (kind, fail, dep), info in zip(plan, infos):
            parent = infos[ids.index(info.depends_on[0])] if info.depends_on else None
            if parent is not None and parent.status is not TaskStatus.COMPLETED:
                assert info.status is TaskStatus.CANCELLED
            elif fail:
                assert info.status is TaskStatus.FAILED
            else:
                assert info.status is TaskStatus.COMPLETED and info.result == 1
        stats = tm.get_statistics()
        assert stats["completed"] + stats["failed"] + stats["cancelled"] == stats["total"] == len(plan)


def test_run_coroutine_runs_on_the_loop_and_blocks_for_the_result():
    with TaskManager() as tm:
        assert tm.run_coroutine(where) == "task-loop"
        assert tm.run_coroutine(double, (5,)) == 10
        assert tm.get_statistics()["total"] == 0  # not a task


def test_run_coroutine_timeout_cancels_the_coroutine_before_it_returns():
    stopped = threading.Event()

    hang = hang_until_cancelled(stopped)

    with TaskManager() as tm:
        with pytest.raises(TimeoutError, match="did not finish within 0.1s"):
            tm.run_coroutine(hang, timeout=0.1)
        assert stopped.is_set()  # already: the call returned after the coroutine ended


def test_run_coroutine_inside_a_task_is_cancelled_with_the_task():
    from async_task_system import CancelToken

    stopped = threading.Event()
    token = CancelToken()

    hang = hang_until_cancelled(stopped)

    with TaskManager() as tm:
        threading.Timer(0.1, token.cancel, ("enough",)).start()
        with pytest.raises(TaskCancelledError, match="enough"):
            tm.run_coroutine(hang, token=token)
        assert stopped.is_set()


def test_run_coroutine_on_the_loop_thread_is_refused_and_after_shutdown_too():
    async def nested():
        return tm.run_coroutine(double, (1,))

    tm = TaskManager()
    tid = tm.submit(lambda: tm.run_coroutine(nested))  # a thread task: allowed; nested runs on the loop
    with pytest.raises(TaskFailedError, match="await it instead"):
        tm.result(tid, timeout=10)
    tm.shutdown()
    with pytest.raises(Exception, match="after shutdown"):
        tm.run_coroutine(double, (1,))


def test_a_coroutine_object_is_refused_with_the_fix_and_closed():
    class BrokenRepr:
        def __repr__(self):
            raise RuntimeError("no repr")

    coroutine = double(2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "was never awaited" would be an error here
        with TaskManager() as tm:
            with pytest.raises(InvalidArgumentError, match=r"coroutine object double\(\.\.\.\).*submit\(double"):
                tm.submit(coroutine)
            with pytest.raises(InvalidArgumentError, match="fn must be callable, got BrokenRepr <BrokenRepr"):
                tm.submit(BrokenRepr())
            assert tm.get_statistics()["total"] == 0
    assert coroutine.cr_frame is None  # closed


class _Kinds:
    async def amethod(self):
        return 1

    def method(self):
        return 1

    def gen_method(self):
        yield 1

    async def __call__(self):
        return 1


def _gen():
    yield 1


async def _agen():
    yield 1


@pytest.mark.parametrize(("fn", "kind"), [
    (double, "coroutine"), (_Kinds().amethod, "coroutine"), (_Kinds(), "coroutine"),
    (functools.partial(functools.partial(double, 1)), "coroutine"), (functools.partial(_Kinds()), "coroutine"),
    (AsyncMock(), "coroutine"),
    (_gen, "generator"), (_Kinds().gen_method, "generator"), (_agen, "async generator"),
    (functools.partial(_agen), "async generator"),
    (abs, "function"), (str.upper, "function"), (dict, "function"), (_Kinds, "function"),
    (_Kinds().method, "function"), (lambda: double(1), "function"), (Mock(), "function"),
])
def test_callable_kind_sees_through_partials_methods_and_callable_objects(fn, kind):
    assert callable_kind(fn) == kind


def test_run_coroutine_refuses_a_plain_function():
    with TaskManager() as tm:
        with pytest.raises(InvalidArgumentError, match="run_coroutine needs an async def function"):
            tm.run_coroutine(abs, (-1,))


def test_tasks_a_coroutine_spawned_on_the_loop_are_cancelled_at_shutdown():
    stopped = threading.Event()
    spawned: list[asyncio.Task] = []

    async def spawner():
        spawned.append(asyncio.create_task(hang_until_cancelled(stopped)()))  # fire and forget
        return "spawned"

    tm = TaskManager()
    assert tm.result(tm.submit(spawner), timeout=10) == "spawned"
    tm.shutdown(wait=True)
    assert stopped.is_set() and engine_threads() == []


def test_with_propagation_off_a_coroutine_starts_in_an_empty_context():
    async def probe():
        return REQUEST_ID.get(), current_task() is not None

    token = REQUEST_ID.set("req-9")
    try:
        with TaskManager(propagate_context=False) as tm:
            assert tm.result(tm.submit(probe), timeout=10) == ("unset", True)
    finally:
        REQUEST_ID.reset(token)


def test_a_failed_coroutine_is_reported_once_though_its_own_token_cancels_it_while_it_reports():
    # Failing fires the task's token on the loop thread, inside the report; that cancels the
    # asyncio task that is reporting. Its end must still count once: no negative abandoned count.
    async def broken(i):
        raise ValueError(f"broken {i}")

    with TaskManager() as tm:
        ids = [tm.submit(broken, (i,)) for i in range(20)]
        assert not tm.wait(ids, timeout=10).not_done
    stats = tm.get_statistics()
    assert stats["failed"] == 20 and stats["abandoned_coroutines"] == 0 and stats["busy_coroutine_slots"] == 0
    assert stats["late_results_discarded"] == 0
    assert all(tm.get(i).events[-1].kind == "failed" for i in ids)


def test_a_coroutine_tasks_done_callback_runs_off_the_loop_and_may_submit_and_wait():
    # On the loop thread, a callback that waits for another coroutine task would wait forever.
    release = threading.Event()
    seen: list[object] = []
    done = threading.Event()

    async def gate():
        while not release.is_set():
            await asyncio.sleep(0.005)

    with TaskManager() as tm:
        def callback(info):
            seen.append(threading.current_thread().name)
            seen.append(tm.result(tm.submit(double, (21,)), timeout=10))
            done.set()

        tid = tm.submit(gate)
        tm.add_done_callback(tid, callback)
        release.set()
        assert done.wait(10)
    assert seen[0].startswith("task-loop-callbacks") and seen[1] == 42
    assert not [t for t in engine_threads() if t.name.startswith("task-loop")]


def test_an_executor_that_runs_coroutines_too_is_never_handed_more_than_its_capacity():
    class Both(Executor):
        """Runs threads and coroutines, two attempts at a time; records the most it held."""

        capacity = 2
        runs_coroutines = True

        def __init__(self):
            self.lock = threading.Lock()
            self.held = self.most = 0

        def start(self, call, reporter):
            with self.lock:
                self.held += 1
                self.most = max(self.most, self.held)
            threading.Thread(target=self._run, args=(call, reporter)).start()

        def _run(self, call, reporter):
            if reporter.attempt_starting(call):
                try:
                    value = call.run()
                    ok, value = True, asyncio.run(value) if asyncio.iscoroutine(value) else value
                except BaseException as exc:  # noqa: BLE001
                    ok, value = False, exc
            else:
                ok = None
            with self.lock:
                self.held -= 1
            if ok is not None:
                reporter.attempt_finished(call, ok, value)

    executor = Both()
    with TaskManager(max_workers=4, max_coroutines=4, executor=executor) as tm:
        ids = [tm.submit(double, (i,)) if i % 2 else tm.submit(pow, (i, 2)) for i in range(20)]
        results = [tm.result(i, timeout=10) for i in ids]
    assert results == [2 * i if i % 2 else i * i for i in range(20)]
    assert executor.most <= 2


def test_a_manager_of_coroutine_tasks_dropped_without_shutdown_is_collected_and_its_loop_ends():
    def use_and_drop():
        tm = TaskManager(max_workers=1)
        ids = [tm.submit(double, (i,)) for i in range(10)]
        assert not tm.wait(ids, timeout=10).not_done
        tm.add_done_callback(ids[0], lambda info: None)
        return weakref.ref(tm)

    refs = [use_and_drop() for _ in range(3)]
    deadline = time.monotonic() + 10  # the loop lets go of an attempt's reporter just after its end
    while any(ref() is not None for ref in refs) and time.monotonic() < deadline:
        gc.collect()
        time.sleep(0.01)
    assert all(ref() is None for ref in refs)
    while [t for t in engine_threads() if t.name.startswith("task-loop")] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not [t for t in engine_threads() if t.name.startswith("task-loop")]
