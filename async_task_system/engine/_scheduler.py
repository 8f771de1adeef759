"""The manager's core: what runs when (``_dispatch``) and how a task ends (``_finalize``).

Everything here but ``_run``, ``_start`` and the executor hooks' first halves runs under
the manager's lock and only *decides*: what it decides to do outside the lock (start an
attempt, call a callback or an observer) goes into an ``Effects`` and is done by ``_run``
once the lock is released. No user-supplied code (callables, callbacks, observers, retry
predicates, backoffs, ``__str__`` of exceptions) ever runs under the lock, and all of it
is guarded: whatever it raises, every task reaches exactly one final state.
"""

from __future__ import annotations

import functools
import heapq
import logging
import math
import threading
import time
from asyncio import CancelledError
from collections.abc import Callable
from types import CoroutineType
from typing import Any

from ._capacity import Account, Needy, read_offers
from ._executor import Executor, TaskCall
from ._info import FINAL_STATES, TaskError, TaskEvent, TaskInfo, TaskStatus
from ._loop import EventLoopExecutor, refuse_coroutine_result
from ._markers import resolve_markers
from ._observers import TaskObserver
from ._pool import ThreadExecutor
from ._resources import format_resources
from ._retention import Retention
from ._retry import should_retry
from ._state import Task
from ._stats import Samples
from ._timers import DEADLINE, RETRY, Clock
from ._validate import MAX_SECONDS, describe, exact_str

__all__ = ["Scheduler", "Effects", "Lane"]

_log = logging.getLogger("async_task_system")
_BASE_SCOPE = TaskObserver.attempt_scope
# Enum member lookups are slow on the hot path: plain module constants.
PENDING, WAITING, RUNNING = TaskStatus.PENDING, TaskStatus.WAITING, TaskStatus.RUNNING
COMPLETED, FAILED, TIMEOUT, CANCELLED = (
    TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.TIMEOUT, TaskStatus.CANCELLED)


class Effects:
    """What was decided under the lock, to do after it, in this order: observer events (so each
    task's events reach observers in order, its start before its end), attempts to start, then
    callbacks (which may be slow: they never delay a start; on the event loop's thread they go to
    a thread of their own, so they never stall the coroutines either)."""

    __slots__ = ("events", "starts", "calls", "close")

    def __init__(self) -> None:
        self.events: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
        self.starts: list[tuple[Lane, TaskCall, Task | None]] = []  # with the task if its arguments hold markers
        self.calls: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
        self.close = False

    def event(self, fn: Callable[..., Any], *args: Any) -> None:
        self.events.append((fn, args))

    def call(self, fn: Callable[..., Any], *args: Any) -> None:
        self.calls.append((fn, args))


class _Verdict:
    """How a failed attempt ends, decided outside the lock (it runs the task's retry policy)."""

    __slots__ = ("error", "status", "reason", "delay")

    def __init__(self, error: TaskError, status: TaskStatus, reason: str, delay: float = 0.0) -> None:
        self.error, self.status, self.reason, self.delay = error, status, reason, delay


class Reporter:
    """What a lane's executor is handed (never the manager itself): the three hooks, bound to
    that lane, which never raise."""

    __slots__ = ("attempt_starting", "attempt_finished", "capacity_changed")

    def __init__(self, scheduler: Scheduler, lane: Lane) -> None:
        self.attempt_starting = functools.partial(scheduler._attempt_starting, lane)
        self.attempt_finished = functools.partial(scheduler._attempt_finished, lane)
        self.capacity_changed = scheduler._capacity_changed


class Lane:
    """One kind of worker slot: thread tasks, or coroutine tasks on the event loop.

    Each lane has its own executor, slot limit and ready heap, so threads and coroutines
    never wait for each other's slots; name limits, priorities within a lane, retries,
    timeouts and retention are the manager's, shared. Fields are guarded by the manager's lock.
    """

    __slots__ = ("executor", "limit", "ready", "needy", "running", "abandoned", "reporter", "shared", "last_capacity")

    def __init__(self, scheduler: Scheduler, executor: Executor, limit: int) -> None:
        self.executor = executor
        self.limit = limit
        self.ready: list[tuple[int, int, Task]] = []  # heap of (-priority, seq, task)
        self.needy = Needy()  # ready tasks that need resources, when the executor offers them (``_capacity``)
        self.running = 0  # slots held by attempts in flight
        self.abandoned = 0  # attempts still in flight (or about to begin) whose task already ended
        self.reporter = Reporter(scheduler, self)
        self.shared: Lane | None = None  # the other lane, when both run on one executor (runs_coroutines)
        self.last_capacity: int | None = None  # the executor's capacity as last read (``Scheduler._capacity``)


class Scheduler:
    """Task state and the policy over it; ``TaskManager`` adds the public API on top."""

    def _init_state(self, executor: Executor, observers: tuple[TaskObserver, ...]) -> None:
        self.executor = executor
        self._observers = observers
        self._decline_handoff = executor.decline_handoff if isinstance(executor, ThreadExecutor) else None
        self._lock = threading.Lock()
        self._tasks: dict[str, Task] = {}
        self._last_id = 0  # ids issued run from 1 to this
        self._seq = 0
        self._threads = Lane(self, executor, self.max_workers)
        # Coroutines run on the executor if it says it runs them (runs_coroutines), else on our own
        # loop, whose thread starts with the first coroutine; room for ones slow to honour a cancel.
        self._loop = EventLoopExecutor(2 * self.max_coroutines)
        self._coroutines = Lane(self, executor if executor.runs_coroutines else self._loop, self.max_coroutines)
        self._lanes = (self._threads, self._coroutines)
        if self._coroutines.executor is executor:  # its capacity bounds both lanes together
            self._threads.shared, self._coroutines.shared = self._coroutines, self._threads
        self._parked: dict[str, list[tuple[int, int, Task]]] = {}  # ready, but over their name limit
        self._account = _account(executor)  # resources offered and held; None: the executor does not say
        try:
            executor.attach(self._threads.reporter)
        except Exception:  # noqa: BLE001 - an executor's hook must not stop the manager being built
            _log.exception("the executor's attach() raised; it will report capacity changes with its first attempt")
        self._retention = Retention(self.max_finished, self.result_ttl, self._tasks)
        self._clock = Clock(self._lock, self._retention)
        self._running_by_name: dict[str, int] = {}
        self._unfinished = 0
        self._counts = {status: 0 for status in TaskStatus}
        self._queue_wait = Samples()
        self._run_time = Samples()
        self._late_results = 0
        self._closing = False
        self._cancel_pending = False
        self._closed = threading.Event()

    # ------------------------------------------------------------ dispatch

    def _make_ready(self, task: Task) -> None:
        self._requeue((-task.priority, task.seq, task))

    def _requeue(self, entry: tuple[int, int, Task]) -> None:
        """Queue a ready task: in its lane's heap, or with the needy ones if the executor accounts resources."""
        task = entry[2]
        if task.resources and self._account is not None:
            task.lane.needy.push(entry)
        else:
            heapq.heappush(task.lane.ready, entry)

    def _dispatch(self, effects: Effects) -> None:
        """Hand each lane's ready tasks to its executor while it has free slots, best priority first."""
        for lane in self._lanes:
            if lane.ready or lane.needy.heaps:
                self._dispatch_lane(lane, effects)

    def _dispatch_lane(self, lane: Lane, effects: Effects) -> None:
        if lane.needy.heaps:
            self._dispatch_needy(lane, effects)
            return
        capacity = self._capacity(lane)
        ready, limit, shared = lane.ready, lane.limit, lane.shared
        while ready and lane.running < limit:
            if capacity is not None and lane.running + lane.abandoned + (
                    shared.running + shared.abandoned if shared is not None else 0) >= capacity:
                return
            entry = heapq.heappop(ready)
            task = entry[2]
            if task.status is not PENDING or task.inflight:
                continue  # stale entry: cancelled while queued
            name_limit = self.name_limits.get(task.name)
            if name_limit is not None and self._running_by_name.get(task.name, 0) >= name_limit:
                heapq.heappush(self._parked.setdefault(task.name, []), entry)
                continue
            self._launch(lane, task, effects)

    def _dispatch_needy(self, lane: Lane, effects: Effects) -> None:
        """``_dispatch_lane`` while some ready tasks need resources: best priority first over the plain
        heap and the needy heaps. A task whose needs are held by running attempts stays queued and
        *reserves* them for this round, so no lower-priority task takes them first, while tasks that
        need something else (or nothing) start behind it. A task that no worker can run is kept
        aside, with the reason on its record, until the offers change (``_capacity_changed``)."""
        capacity = self._capacity(lane)
        account, ready, needy, limit, shared = self._account, lane.ready, lane.needy, lane.limit, lane.shared
        reserved: dict[str, float] = {}
        closed: set[tuple[str, ...]] = set()  # needy heaps whose best task must wait: all of theirs wait
        waiting: list[tuple[int, int, Task]] = []
        while lane.running < limit:
            if capacity is not None and lane.running + lane.abandoned + (
                    shared.running + shared.abandoned if shared is not None else 0) >= capacity:
                break
            head = needy.best(closed)
            if head is None or (ready and ready[0][:2] < head[1][:2]):
                if not ready:
                    break
                entry = heapq.heappop(ready)
            else:
                entry = needy.pop(head[0])
            task = entry[2]
            if task.status is not PENDING or task.inflight:
                continue
            name_limit = self.name_limits.get(task.name)
            if name_limit is not None and self._running_by_name.get(task.name, 0) >= name_limit:
                heapq.heappush(self._parked.setdefault(task.name, []), entry)
                continue
            needs = task.resources
            if needs and account is not None:
                missing = account.missing(needs)
                if missing is not None:
                    self._wait_for(task, missing, effects)
                    account.park(entry)
                    continue
                if not account.fits_now(needs, reserved):
                    for name, quantity in needs.items():
                        reserved[name] = reserved.get(name, 0.0) + quantity
                    waiting.append(entry)
                    closed.add(head[0])
                    continue
                account.acquire(needs)
            self._launch(lane, task, effects)
        for entry in waiting:
            needy.push(entry)

    def _wait_for(self, task: Task, reason: str, effects: Effects) -> None:
        """A task no worker can run: the reason on its record (kept current), and once in its log."""
        if task.waiting_reason is None:
            self._log(task, "waiting_for_resources", reason, effects)
        task.waiting_reason = reason

    def _waiting_reason(self, task: Task) -> str | None:
        """Why a pending task waits for resources: no worker offers them, or running tasks hold them."""
        if task.status is not PENDING or not task.resources or self._account is None:
            return None
        if task.waiting_reason is None and not self._account.fits_now(task.resources, {}):
            return f"waiting for {format_resources(task.resources)}, held by running tasks"
        return task.waiting_reason

    def _launch(self, lane: Lane, task: Task, effects: Effects) -> None:
        """Hand one attempt of ``task`` to the lane's executor (after the lock)."""
        task.waiting_reason = None
        lane.running += 1
        self._running_by_name[task.name] = self._running_by_name.get(task.name, 0) + 1
        task.holds_slot = True
        attempt = task.inflight = task.attempts + 1
        task.attempts = attempt
        if task.started_at is None:
            task.started_at = time.time()
            self._queue_wait.add(task.started_at - task.created_at)
        self._move(task, RUNNING, "started", effects, attempt)
        call = TaskCall(
            task_id=task.id, name=task.name, attempt=attempt, fn=task.fn, args=task.args,
            kwargs=task.kwargs, token=task.token, context=task.context, metadata=task.metadata,
            priority=task.priority, timeout=task.timeout, scopes=self._scopes_for(task),
            resources=task.resources,
        )
        effects.starts.append((lane, call, task if task.plan is not None else None))

    def _capacity(self, lane: Lane) -> int | None:
        """The lane executor's capacity; if reading it raises (a property asking a cluster), the last value
        read: the error must not escape ``_dispatch``, where it would strand what was decided so far."""
        try:
            lane.last_capacity = capacity = lane.executor.capacity
        except Exception:  # noqa: BLE001
            capacity = lane.last_capacity
            _log.exception("reading the executor's capacity raised; using the last value read (%s)", capacity)
        return capacity

    def _start(self, lane: Lane, call: TaskCall, task: Task | None) -> None:
        """Outside the lock: put dependency results in place of markers, and start the attempt."""
        stage = "its arguments could not be built from its dependencies' results"
        try:
            if task is not None:
                self._resolve(call, task)
            stage = "the executor could not start it"
            lane.executor.start(call, lane.reporter)
        except BaseException as exc:  # noqa: BLE001 - it could not start: the task fails, nothing is lost
            self._start_failed(lane, call, exc, stage)

    def _resolve(self, call: TaskCall, task: Task) -> None:
        """Rebuild the arguments around the markers (outside the lock), then keep the result for
        any retry: the markers (and the dependency results they stood for) are dropped at once."""
        with self._lock:
            plan, results = task.plan, task.dep_results or {}
        if plan is None:  # a retry of an attempt whose arguments were already resolved
            return
        call.args = resolve_markers(call.args, plan, results)
        call.kwargs = resolve_markers(call.kwargs, plan, results)
        with self._lock:
            if task.status is RUNNING and task.plan is plan:
                task.args, task.kwargs, task.plan, task.dep_results = call.args, call.kwargs, None, None

    def _start_failed(self, lane: Lane, call: TaskCall, exc: BaseException, what: str) -> None:
        error = TaskError.from_exception(exc)
        effects = Effects()
        with self._lock:
            task = self._tasks.get(call.task_id)
            if task is None or task.inflight == call.attempt:  # the branches below that account for it
                self._release_resources(call)
            if task is not None and task.inflight == call.attempt:
                task.inflight = 0
                if task.status is RUNNING:
                    self._release_slot(task)
                    task.error = error
                    self._finalize(task, FAILED, f"{what}: {error}", effects)
                else:
                    lane.abandoned -= 1  # it ended while being started: that worker never ran it
            elif task is None:
                lane.abandoned -= 1  # ended and forgotten meanwhile: likewise
            self._dispatch(effects)
        self._run(effects)

    def _scopes_for(self, task: Task) -> tuple[Callable[[TaskCall], Any], ...]:
        """The attempt scopes of the observers that record this task."""
        if not task.observers:
            return ()
        scopes = []
        for observer in task.observers:
            try:  # an observer's attribute (a property) is its code: it must not escape _dispatch
                if type(observer).attempt_scope is not _BASE_SCOPE:
                    scopes.append(observer.attempt_scope)
            except Exception:  # noqa: BLE001
                _log.exception("a task observer's attempt_scope could not be read; the attempt runs without it")
        return tuple(scopes)

    def _release_slot(self, task: Task) -> None:
        if not task.holds_slot:
            return
        task.holds_slot = False
        task.lane.running -= 1
        left = self._running_by_name[task.name] - 1
        if left:
            self._running_by_name[task.name] = left
        else:
            del self._running_by_name[task.name]
        parked = self._parked.get(task.name)
        while parked:  # give the freed place to the best parked task still waiting for it
            entry = heapq.heappop(parked)
            if entry[2].status is PENDING and not entry[2].inflight:
                self._requeue(entry)
                break
        if parked is not None and not parked:
            del self._parked[task.name]

    # ------------------------------------------------------------ executor hooks

    def _attempt_starting(self, lane: Lane, call: TaskCall, where: str | None = None) -> bool:
        """Just before an attempt runs: False if its task ended meanwhile. Starts its timeout clock.
        ``where``: the worker it runs on, logged as a ``worker`` event (executors in other processes)."""
        token = call.token
        if not token._cancelled and call.timeout is None and where is None:
            return True  # the common case takes no lock
        effects = Effects()
        with self._lock:
            task = self._tasks.get(call.task_id)
            live = task is not None and task.inflight == call.attempt and task.status is RUNNING
            if live and token._cancelled:  # cancelled by the task's code or a callback, not by the manager
                self._finalize(task, CANCELLED, f"its cancel token was cancelled before attempt "
                               f"{call.attempt} started: {token._reason}", effects)
                live = False
            if live:
                if where is not None:
                    self._log(task, "worker", exact_str(where)[:200], effects, call.attempt)
                if call.timeout is not None:
                    self._clock.add(time.monotonic() + call.timeout, DEADLINE, call.task_id, call.attempt)
            else:
                lane.abandoned -= 1  # its task ended between dispatch and start: the worker is free again
                self._release_resources(call)
                if task is not None and task.inflight == call.attempt:
                    task.inflight = 0
                self._dispatch(effects)
        self._run(effects)
        return live

    def _attempt_finished(self, lane: Lane, call: TaskCall, ok: bool, value: Any) -> None:
        """After an attempt: ``ok`` with its result, or not with its exception."""
        if ok and type(value) is CoroutineType:  # lambda: fetch(x) returned one, which nothing would run
            ok, value = refuse_coroutine_result(value)
        verdict = None
        hint = self._tasks.get(call.task_id)  # unlocked look: the policy runs only for a live attempt
        if hint is not None and hint.inflight == call.attempt and hint.status is RUNNING:
            if not ok:
                verdict = self._judge(hint, call, value)
        effects = Effects()
        with self._lock:
            if call.resources:
                self._release_resources(call)
            task = self._tasks.get(call.task_id)
            if task is None or task.inflight != call.attempt or task.status is not RUNNING:
                lane.abandoned -= 1  # its slot was given back when the task ended
                if lane is self._coroutines and not ok and isinstance(value, CancelledError):
                    if task is not None:  # the cancellation reached the coroutine: it stopped
                        self._log(task, "coroutine_stopped", f"attempt {call.attempt}'s coroutine was "
                                  "cancelled and has returned (its finally blocks ran)", effects, call.attempt)
                else:
                    self._late_results += 1
                    if task is not None:
                        what = "result" if ok else f"error ({type(value).__name__})"
                        self._log(task, "late_result_discarded", f"attempt {call.attempt} returned a {what} "
                                  f"after the task was already {task.status.value}", effects, call.attempt)
            else:
                task.inflight = 0
                self._release_slot(task)
                if ok:
                    task.result = value
                    self._finalize(task, COMPLETED, "returned", effects)
                else:
                    if verdict is None:  # pragma: no cover - a live attempt always has one
                        verdict = _Verdict(TaskError.from_exception(value), FAILED, "failed")
                    self._apply(task, call.attempt, verdict, effects)
            self._dispatch(effects)
        self._run(effects)

    def _capacity_changed(self) -> None:
        """The executor's capacity or its workers changed: take its offers anew, hand it queued tasks now."""
        effects = Effects()
        with self._lock:
            account = self._account
            if account is not None and not account.fixed:
                offers = _read_offers(self.executor)
                if offers is not None and account.load(offers):
                    for entry in account.unpark():  # a worker that offers them may have joined
                        self._requeue(entry)
            self._dispatch(effects)
        self._run(effects)

    def _release_resources(self, call: TaskCall) -> None:
        """An attempt reported back (or will never run): what it held is free again."""
        if call.resources and self._account is not None:
            self._account.release(call.resources)

    def _judge(self, task: Task, call: TaskCall, exc: BaseException) -> _Verdict:
        """Outside the lock: what a failed attempt leads to (runs ``retry_on`` and ``backoff``)."""
        error = TaskError.from_exception(exc)
        attempt = call.attempt
        if call.token._cancelled:
            return _Verdict(error, CANCELLED, f"its cancel token was cancelled ({call.token._reason}) "
                            f"and attempt {attempt} then failed with {error}")
        if attempt > task.max_retries:
            why = f"failed after {attempt} attempts: {error}" if attempt > 1 else f"failed with {error}"
            return _Verdict(error, FAILED, why)
        try:  # the retry policy is the caller's code: if it misbehaves, the task fails, it is not lost
            if not (isinstance(exc, Exception) and should_retry(task.retry_on, exc)):
                return _Verdict(error, FAILED, f"failed with {error} (not retried: it does not match retry_on)")
            delay = task.backoff(attempt)
            seconds = math.nan if isinstance(delay, bool) else \
                MAX_SECONDS if isinstance(delay, int) and delay > MAX_SECONDS else float(delay)
            if math.isnan(seconds) or seconds < 0:
                raise ValueError(f"the backoff returned {describe(delay)}, not a number of seconds >= 0")
        except BaseException as policy_exc:  # noqa: BLE001
            return _Verdict(error, FAILED, f"failed with {error}; its retry policy then raised "
                            f"{TaskError.from_exception(policy_exc)}")
        return _Verdict(error, PENDING, "", min(seconds, MAX_SECONDS))

    def _apply(self, task: Task, attempt: int, verdict: _Verdict, effects: Effects) -> None:
        task.error = verdict.error
        if verdict.status is not PENDING:
            self._finalize(task, verdict.status, verdict.reason, effects)
        elif self._cancel_pending:
            self._finalize(task, CANCELLED, f"attempt {attempt} failed with {verdict.error}; its retry was "
                           "cancelled: the task manager was shut down with cancel_pending", effects)
        else:
            self._move(task, PENDING, f"attempt {attempt} failed with {verdict.error}; "
                       f"retry {attempt} of {task.max_retries} in {verdict.delay:.3f}s", effects, attempt)
            self._log(task, "retry_scheduled", f"in {verdict.delay:.3f}s", effects, attempt)
            self._clock.add(time.monotonic() + verdict.delay, RETRY, task.id, attempt)

    def _fire(self, due: list[tuple[float, int, str, str, int]]) -> Effects:
        """Under the lock, on the clock's thread: deadlines passed and backoffs over."""
        effects = Effects()
        for _, _, kind, task_id, attempt in due:
            task = self._tasks.get(task_id)
            if task is None:
                continue
            if kind == DEADLINE:
                if task.inflight == attempt and task.status is RUNNING:
                    self._finalize(task, TIMEOUT,
                                   f"attempt {attempt} ran longer than its timeout of {task.timeout:g}s", effects)
            elif task.status is PENDING and task.attempts == attempt:
                self._make_ready(task)  # the retry's backoff is over
        self._dispatch(effects)
        return effects

    # ------------------------------------------------------------ finalize

    def _finalize(self, task: Task, status: TaskStatus, reason: str, effects: Effects) -> None:
        """Move a task to its one final state and wake everything that waits for it."""
        # Worklist, not recursion: cancelling a long chain of dependents must not overflow the stack.
        work = [(task, status, reason)]
        while work:
            task, status, reason = work.pop()
            if task.status in FINAL_STATES:
                continue
            # A slot still held means an attempt is in flight (running, or dispatched and about to
            # begin): its thread cannot be stopped, so it becomes abandoned until it reports back.
            if task.holds_slot:
                self._release_slot(task)
                task.lane.abandoned += 1
            task.finished_at = time.time()
            task.finished_mono = time.monotonic()
            if task.started_at is not None:
                self._run_time.add(task.finished_at - task.started_at)
            self._move(task, status, reason, effects, task.attempts)
            self._unfinished -= 1
            if status is not COMPLETED:
                # The flag is set now, under the lock, so a dispatched attempt that has not begun
                # yet will not run; the token's callbacks (interrupt a sub-agent, ...) run after.
                callbacks = task.token._set(reason)
                if callbacks:
                    effects.call(task.token._notify, callbacks, reason)
            for waiter in task.waiters:
                waiter.task_done()
            task.waiters = ()
            for dependent in task.dependents:
                if status is COMPLETED:
                    dependent.unmet -= 1
                    self._keep_result(dependent, task)
                    if dependent.unmet == 0 and dependent.status is WAITING:
                        self._move(dependent, PENDING, "dependencies completed", effects)
                        self._make_ready(dependent)
                else:
                    work.append((dependent, CANCELLED, self._dependency_reason(task)))
            task.dependents = ()
            if task.callbacks or task.observers:
                info = self._snapshot(task)
                for callback in task.callbacks:
                    effects.call(callback, info)
                event = task.events[-1]
                for observer in task.observers:
                    effects.event(observer.on_event, info.id, event, info)
                task.callbacks = ()
            # Free what the record no longer needs; the result stays until the record is forgotten.
            task.fn = task.args = task.kwargs = task.context = task.dep_results = task.plan = None
            task.retry_on = task.backoff = task.lane = None  # its lane leads to the manager: a record kept
            task.observers = ()                                # must not keep a dropped manager alive
            if self._retention.add(task, task.finished_mono):
                self._clock.wake()  # the first record kept: the clock must learn when it expires
        if self._unfinished == 0:
            self._clock.keepalive = None
            if self._closing:
                effects.close = True

    @staticmethod
    def _keep_result(task: Task, dep: Task) -> None:
        """Hand a completed dependency's result to ``task`` now, for its markers."""
        if task.dep_results is None:
            task.dep_results = {}
        task.dep_results[dep.id] = dep.result

    @staticmethod
    def _dependency_reason(dep: Task) -> str:
        what = {FAILED: f"failed ({dep.error})", TIMEOUT: "timed out", CANCELLED: "was cancelled"}[dep.status]
        return f"dependency {dep.id} ({dep.name}) {what}"

    def _move(self, task: Task, status: TaskStatus, reason: str, effects: Effects, attempt: int = 0) -> None:
        self._counts[task.status] -= 1
        self._counts[status] += 1
        task.status = status
        self._log(task, status._value_, reason, effects, attempt, final=status in FINAL_STATES)

    @staticmethod
    def _log(task: Task, kind: str, reason: str, effects: Effects, attempt: int = 0, final: bool = False) -> None:
        event = TaskEvent(time.time(), kind, reason, attempt)
        task.events.append(event)
        if task.observers and not final:  # final events are reported with a snapshot by _finalize
            for observer in task.observers:
                effects.event(observer.on_event, task.id, event, None)

    def _close(self) -> None:
        with self._lock:
            if self._closed.is_set():
                return
            self._closed.set()
            self._clock.keepalive = None
        self._clock.stop()
        for executor in self._executors():
            executor.shutdown(wait=False)  # threads exit as their last attempts return, the loop when idle

    def _executors(self) -> list[Executor]:
        """Each executor once (one may run both lanes), the event loop last."""
        executors = [lane.executor for lane in self._lanes] + [self._loop]
        return list({id(executor): executor for executor in executors}.values())

    # ------------------------------------------------------------ after the lock

    def _run(self, effects: Effects) -> None:
        """Run what was decided under the lock: observer events, attempt starts, then callbacks."""
        if effects.calls and self._decline_handoff is not None:
            self._decline_handoff()  # no attempt waits on this thread behind a callback
        if effects.events:
            _call_all(effects.events)
        for start in effects.starts:
            self._start(*start)
        if effects.calls and not self._loop.run_elsewhere(_call_all, effects.calls):  # not on the loop thread
            _call_all(effects.calls)
        if effects.close:
            try:
                self._close()
            except Exception:  # noqa: BLE001 - an executor whose shutdown raises
                _log.exception("shutting the executor down raised")

    def _snapshot(self, task: Task) -> TaskInfo:
        asking = task.question is not None and task.status is RUNNING
        return TaskInfo(
            id=task.id, name=task.name, status=TaskStatus.WAITING_FOR_INPUT if asking else task.status,
            priority=task.priority,
            created_at=task.created_at, started_at=task.started_at, finished_at=task.finished_at,
            attempts=task.attempts, max_retries=task.max_retries, timeout=task.timeout,
            depends_on=task.depends_on, result=task.result, error=task.error,
            events=tuple(task.events), metadata=dict(task.metadata), question=task.question if asking else None,
            resources=dict(task.resources), waiting_reason=self._waiting_reason(task) if task.resources else None,
        )


def _read_offers(executor: Executor) -> list[dict[str, float]] | None:
    """``executor.offers`` as plain dicts; None if it has none or reading them raised (logged)."""
    try:
        return read_offers(executor.offers)
    except Exception:  # noqa: BLE001 - a property asking a cluster must not escape dispatch
        _log.exception("reading the executor's offers raised; resources are accounted as before")
        return None


def _account(executor: Executor) -> Account | None:
    offers = _read_offers(executor)
    if offers is None:
        return None
    try:
        fixed = executor.fixed_offers is True
    except Exception:  # noqa: BLE001 - a broken property: its offers may change
        fixed = False
    return Account(offers, fixed)


def _call_all(calls: list[tuple[Callable[..., Any], tuple[Any, ...]]]) -> None:
    for fn, args in calls:
        try:
            fn(*args)
        except BaseException:  # noqa: BLE001 - SystemExit in a callback must not lose a task either
            _log.exception("a task callback or observer raised; the manager carries on")
