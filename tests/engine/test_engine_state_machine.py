"""A hypothesis state machine that drives a TaskManager the way a hostile caller would.

Rules submit plain, failing, misbehaving, slow, dependent, limited, timed-out and retried tasks,
as thread tasks and as coroutine tasks (some that hang until cancelled, or swallow a cancellation),
cancel and wait, run coroutines from synchronous code, add callbacks that raise (even ``SystemExit``) or submit and wait, and shut the
manager down from several threads at once. After every step: statistics add up, no counter is
negative, no task has more than one final transition. At the end: every task is final with
exactly one final transition, every callback ran once, and no thread of the manager is left.

CI runs a bounded search; a longer one (see the README's Development section):
``ENGINE_MACHINE_EXAMPLES=500 .venv/bin/python -m pytest tests/engine/test_engine_state_machine.py``
"""

from __future__ import annotations

import asyncio
import collections
import os
import threading
import time

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from async_task_system import ResultOf, ShutdownError, TaskManager, TaskStatus
from async_task_system.engine import current_task
from async_task_system.engine import TaskObserver

EXAMPLES = int(os.environ.get("ENGINE_MACHINE_EXAMPLES", "60"))
STATUSES = [s.value for s in TaskStatus]


class _BrokenStr(Exception):
    def __str__(self) -> str:
        raise RuntimeError("broken __str__")


class _Recorder(TaskObserver):
    """Counts final transitions per task, and misbehaves on request."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.finals: collections.Counter[str] = collections.Counter()

    def on_event(self, task_id, event, info):
        if info is not None:
            with self.lock:
                self.finals[task_id] += 1
            if info.metadata.get("observer_raises"):
                raise KeyboardInterrupt("an observer interrupted")


def _behave(kind: str, seconds: float) -> str:
    if seconds:
        time.sleep(seconds)
    if kind == "fail":
        raise ValueError("fails on purpose")
    if kind == "broken_str":
        raise _BrokenStr()
    if kind == "system_exit":
        raise SystemExit(3)
    return kind


async def _behave_async(kind: str, seconds: float) -> str:
    if seconds:
        await asyncio.sleep(seconds)
    if kind == "hang":  # only its timeout or a cancel ends it
        await asyncio.Event().wait()
    if kind == "swallow_once":  # ignores its first cancellation, then returns late
        try:
            await asyncio.sleep(0.2)
        except asyncio.CancelledError:
            await asyncio.sleep(0.005)
        return "swallowed"
    return _behave(kind, 0)


class _Gpu:
    """The one local GPU: the units in use by running tasks (``peak`` must stay <= 1)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = self.peak = 0.0

    def use(self, quantity: float) -> None:
        with self.lock:
            self.now += quantity
            self.peak = max(self.peak, self.now)

    def run(self, kind: str, seconds: float, quantity: float) -> str:
        self.use(quantity)
        try:
            return _behave(kind, seconds)
        finally:
            self.use(-quantity)

    async def run_async(self, kind: str, seconds: float, quantity: float) -> str:
        self.use(quantity)
        try:
            return await _behave_async(kind, seconds)
        finally:
            self.use(-quantity)


async def _listed(value):
    await asyncio.sleep(0)
    return [value]


def _flaky_factory():
    calls = [0]

    def flaky():
        calls[0] += 1
        if calls[0] < 2:
            raise ConnectionError("first attempt fails")
        return "recovered"

    return flaky


class EngineMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.threads_before = set(threading.enumerate())
        self.recorder = _Recorder()
        self.gpu = _Gpu()
        self.tm = TaskManager(max_workers=2, max_coroutines=3, name_limits={"limited": 1}, observers=[self.recorder],
                              resources={"GPU": 1})
        self.ids: list[str] = []
        self.callbacks: collections.Counter[str] = collections.Counter()
        self.callbacks_added: collections.Counter[str] = collections.Counter()
        self.cb_lock = threading.Lock()
        self.closed = False

    # ------------------------------------------------------------------ submit

    @precondition(lambda self: not self.closed)
    @rule(kind=st.sampled_from(["ok", "fail", "broken_str", "system_exit"]),
          seconds=st.sampled_from([0, 0, 0.005, 0.02]),
          timeout=st.sampled_from([None, None, 0.01, 1.0]),
          retries=st.integers(0, 2), priority=st.integers(-2, 2),
          limited=st.booleans(), observer_raises=st.booleans())
    def submit(self, kind, seconds, timeout, retries, priority, limited, observer_raises):
        tid = self.tm.submit(
            _behave, (kind, seconds), name="limited" if limited else "task", priority=priority,
            timeout=timeout, max_retries=retries, backoff=lambda attempt: 0.001,
            metadata={"observer_raises": observer_raises},
        )
        self.ids.append(tid)

    @precondition(lambda self: not self.closed)
    @rule(kind=st.sampled_from(["ok", "fail", "system_exit", "hang"]), seconds=st.sampled_from([0, 0.005, 0.02]),
          timeout=st.sampled_from([None, 0.01]), retries=st.integers(0, 1), priority=st.integers(-2, 2),
          as_coroutine=st.booleans(), quantity=st.sampled_from([1, 0.5]))
    def submit_needing_the_gpu(self, kind, seconds, timeout, retries, priority, as_coroutine, quantity):
        if kind == "hang":
            as_coroutine, timeout = True, 0.01
        fn = self.gpu.run_async if as_coroutine else self.gpu.run
        tid = self.tm.submit(fn, (kind, seconds, quantity), name="gpu", priority=priority, timeout=timeout,
                             max_retries=retries, backoff=lambda attempt: 0.001, resources={"GPU": quantity})
        self.ids.append(tid)

    @precondition(lambda self: not self.closed)
    @rule(kind=st.sampled_from(["ok", "fail", "broken_str", "system_exit", "hang", "swallow_once"]),
          seconds=st.sampled_from([0, 0, 0.005, 0.02]),
          timeout=st.sampled_from([None, 0.01, 1.0]),
          retries=st.integers(0, 2), priority=st.integers(-2, 2),
          limited=st.booleans(), observer_raises=st.booleans())
    def submit_coroutine(self, kind, seconds, timeout, retries, priority, limited, observer_raises):
        if kind in ("hang", "swallow_once"):
            timeout = 0.01  # they end by their timeout (or a cancel)
        tid = self.tm.submit(
            _behave_async, (kind, seconds), name="limited" if limited else "task", priority=priority,
            timeout=timeout, max_retries=retries, backoff=lambda attempt: 0.001,
            metadata={"observer_raises": observer_raises},
        )
        self.ids.append(tid)

    @rule(value=st.integers())
    def run_coroutine(self, value):
        try:
            assert self.tm.run_coroutine(_listed, (value,), timeout=5) == [value]
        except ShutdownError:
            assert self.closed

    @precondition(lambda self: not self.closed)
    @rule()
    def submit_flaky(self):
        self.ids.append(self.tm.submit(_flaky_factory(), max_retries=1, backoff=lambda attempt: 0.002))

    @precondition(lambda self: not self.closed and self.ids)
    @rule(data=st.data(), by_marker=st.booleans(), as_coroutine=st.booleans())
    def submit_dependent(self, data, by_marker, as_coroutine):
        dep = data.draw(st.sampled_from(self.ids))
        if as_coroutine:
            tid = self.tm.submit(_listed, (ResultOf(dep),) if by_marker else (1,), depends_on=[dep])
        elif by_marker:
            tid = self.tm.submit(lambda value: [value], ([ResultOf(dep)],))
        else:
            tid = self.tm.submit(int, ("1",), depends_on=[dep])
        self.ids.append(tid)

    @precondition(lambda self: not self.closed)
    @rule(backoff=st.sampled_from([float("nan"), -1.0, "soon", 1e12]))
    def submit_with_a_broken_backoff(self, backoff):
        tid = self.tm.submit(_behave, ("fail", 0), max_retries=1, backoff=lambda attempt: backoff)
        self.ids.append(tid)
        if backoff == 1e12:  # clamped to a year: cancel it, or shutdown would wait that long
            self.tm.wait(tid, timeout=0.05)
            self.tm.cancel(tid, reason="no need to wait a year")

    @precondition(lambda self: not self.closed)
    @rule(seconds=st.sampled_from([0, 0.005, 0.02]), timeout=st.sampled_from([None, 0.01, 1.0]),
          answers=st.booleans())
    def submit_one_that_asks(self, seconds, timeout, answers):
        """A task waits for input a while (and times out or is cancelled meanwhile, or not)."""
        tm = self.tm

        def asks() -> str:
            tid = current_task().task_id
            tm.ask(tid, "which?")
            time.sleep(seconds)
            if answers:
                tm.answered(tid)
            return "asked"

        self.ids.append(tm.submit(asks, timeout=timeout))

    @precondition(lambda self: self.ids)
    @rule(data=st.data(), question=st.sampled_from([None, "a question?"]))
    def ask_or_answer_any_task(self, data, question):
        """ask/answered on any task, in any state: a bool, never a change of a final state."""
        tid = data.draw(st.sampled_from(self.ids))
        before = self.tm.get(tid).status
        changed = self.tm.answered(tid) if question is None else self.tm.ask(tid, question)
        assert isinstance(changed, bool)
        if before.is_final:
            assert not changed and self.tm.get(tid).status is before

    @precondition(lambda self: self.closed)
    @rule()
    def submit_after_shutdown_is_refused(self):
        try:
            self.tm.submit(int)
        except ShutdownError:
            return
        raise AssertionError("submit after shutdown was accepted")

    # ------------------------------------------------------------------ act on tasks

    @precondition(lambda self: self.ids)
    @rule(data=st.data())
    def cancel(self, data):
        self.tm.cancel(data.draw(st.sampled_from(self.ids)), reason="the machine cancelled it")

    @precondition(lambda self: self.ids)
    @rule(data=st.data(), first=st.booleans())
    def wait(self, data, first):
        ids = data.draw(st.lists(st.sampled_from(self.ids), min_size=1, max_size=4))
        done, not_done = self.tm.wait(ids, timeout=0.02, return_when="FIRST_COMPLETED" if first else "ALL_COMPLETED")
        assert done | not_done == set(ids) and not done & not_done
        for tid in done:
            assert self.tm.get(tid).status.is_final

    @precondition(lambda self: self.ids)
    @rule(data=st.data(), how=st.sampled_from(["count", "raise", "system_exit", "submit_and_wait"]))
    def add_callback(self, data, how):
        tid = data.draw(st.sampled_from(self.ids))
        tm = self.tm

        def callback(info):
            with self.cb_lock:
                self.callbacks[info.id] += 1
            if how == "raise":
                raise RuntimeError("a callback raised")
            if how == "system_exit":
                raise SystemExit(1)
            if how == "submit_and_wait":
                try:
                    tm.result(tm.submit(int, ("7",)), timeout=5)
                except ShutdownError:
                    pass

        with self.cb_lock:
            self.callbacks_added[tid] += 1
        tm.add_done_callback(tid, callback)

    @precondition(lambda self: not self.closed)
    @rule(cancel_pending=st.booleans(), callers=st.integers(1, 3))
    def shutdown_from_several_threads(self, cancel_pending, callers):
        errors: list[BaseException] = []

        def close():
            try:
                self.tm.shutdown(wait=True, cancel_pending=cancel_pending)
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=close) for _ in range(callers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert not any(t.is_alive() for t in threads), "shutdown(wait=True) hung"
        assert not errors, errors
        self.closed = True

    # ------------------------------------------------------------------ checks

    @invariant()
    def statistics_add_up(self):
        stats = self.tm.get_statistics()
        assert sum(stats[s] for s in STATUSES) == stats["total"] == len(self.ids) + self._extra()
        for key in ("busy_slots", "abandoned_threads", "busy_coroutine_slots", "abandoned_coroutines",
                    "unfinished", "queued", *STATUSES):
            assert stats[key] >= 0, (key, stats)
        assert stats["busy_slots"] <= stats["max_workers"]
        assert stats["busy_coroutine_slots"] <= stats["max_coroutines"]
        assert stats["resources"]["held"].get("GPU", 0) <= 1 + 1e-9, stats["resources"]

    @invariant()
    def the_gpu_is_never_used_beyond_one_unit(self):
        assert self.gpu.peak <= 1 + 1e-9, self.gpu.peak

    @invariant()
    def at_most_one_final_transition(self):
        with self.recorder.lock:
            assert all(count == 1 for count in self.recorder.finals.values()), self.recorder.finals

    def _extra(self) -> int:
        """Tasks submitted by callbacks (not in self.ids)."""
        return self.tm.get_statistics()["total"] - len(self.ids)

    def teardown(self):
        closer = threading.Thread(target=self.tm.shutdown, kwargs={"wait": True})
        closer.start()
        closer.join(30)
        assert not closer.is_alive(), "shutdown(wait=True) hung"
        stats = self.tm.get_statistics()
        assert stats["unfinished"] == 0 and stats["busy_slots"] == 0 and stats["abandoned_threads"] == 0, stats
        assert stats["busy_coroutine_slots"] == 0 and stats["abandoned_coroutines"] == 0, stats
        assert stats["resources"]["held"] == {}, stats["resources"]  # every attempt gave its GPU back
        for tid in self.ids:
            assert self.tm.get(tid).status.is_final
        deadline = time.monotonic() + 5  # observers and callbacks run just after the final transition
        while time.monotonic() < deadline:
            with self.recorder.lock, self.cb_lock:
                settled = set(self.ids) <= set(self.recorder.finals) and all(
                    self.callbacks[t] == n for t, n in self.callbacks_added.items())
            if settled:
                break
            time.sleep(0.01)
        with self.recorder.lock:
            for tid in self.ids:
                assert self.recorder.finals[tid] == 1, (tid, self.recorder.finals[tid])
        with self.cb_lock:
            for tid, added in self.callbacks_added.items():
                assert self.callbacks[tid] == added, (tid, self.callbacks[tid], added)
        left = [t for t in threading.enumerate() if t not in self.threads_before and t.is_alive()
                and t.name.startswith(("task-worker", "task-timer", "task-loop"))]
        assert not left, left


EngineMachine.TestCase.settings = settings(
    max_examples=EXAMPLES, stateful_step_count=25, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_engine_state_machine = EngineMachine.TestCase
