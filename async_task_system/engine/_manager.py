"""The TaskManager: the one owner of task state, and the policy of what runs when."""

from __future__ import annotations

import contextvars
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, NamedTuple

from ..errors import (
    InvalidArgumentError,
    QueueFullError,
    ShutdownError,
    TaskCancelledError,
    TaskFailedError,
    TaskTimeoutError,
    UnknownTaskError,
)
from ._call import Executor, TaskCall, TaskObserver
from ._placeholders import find_references, resolve
from ._record import FINAL_STATES, TaskError, TaskEvent, TaskInfo, TaskStatus
from ._retention import Retention
from ._retry import Backoff, ExponentialBackoff, RetryOn, should_retry
from ._stats import Samples
from ._task import Task, Waiter
from ._validate import check_ids, check_int, check_limits, check_retry_on, check_seconds

__all__ = ["TaskManager", "WaitResult"]

_log = logging.getLogger("async_task_system")

ReturnWhen = Literal["ALL_COMPLETED", "FIRST_COMPLETED"]
_RETURN_WHEN = {"ALL_COMPLETED", "FIRST_COMPLETED"}
_BASE_SCOPE = TaskObserver.attempt_scope
_RETRY_ALL: tuple[type[BaseException], ...] = (Exception,)
# Enum member lookups are slow on the hot path: plain module constants.
PENDING, WAITING, RUNNING = TaskStatus.PENDING, TaskStatus.WAITING, TaskStatus.RUNNING
COMPLETED, FAILED, TIMEOUT, CANCELLED = (
    TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.TIMEOUT, TaskStatus.CANCELLED)
_Effect = Callable[[], None]


def _observes(observer: TaskObserver) -> bool:
    """``observer.is_active()``; an observer that raises observes nothing (the task still runs)."""
    try:
        return bool(observer.is_active())
    except Exception:  # noqa: BLE001
        _log.exception("a task observer's is_active() raised; it will not observe this task")
        return False


class WaitResult(NamedTuple):
    """What ``wait()`` returns: the ids that are final and the ids that are not."""

    done: set[str]
    not_done: set[str]


class TaskManager:
    """Runs Python callables in the background with priorities, dependencies, limits,
    timeouts, retries and cancellation. Thread-safe; usable as a context manager.

    >>> with TaskManager(max_workers=4) as tm:
    ...     t1 = tm.submit(pow, (2, 10))
    ...     t2 = tm.submit(str, ("$t1",))          # gets t1's result: depends on t1
    ...     tm.wait([t1, t2]); tm.get(t2).result
    '1024'

    Timeouts and cancellation of a *running* task take effect at once in its record,
    and its ``CancelToken`` is cancelled; the thread itself runs on until the callable
    returns (threads cannot be killed). Its worker slot is given back at once and the
    thread runs on as an *abandoned* thread on spare capacity (``max_abandoned``, by
    default as many as ``max_workers``); once the spare is used up, new tasks wait
    for abandoned threads to return. A result that arrives late is discarded and logged.
    """

    def __init__(
        self,
        max_workers: int = 4,
        *,
        executor: Executor | None = None,
        name_limits: Mapping[str, int] | None = None,
        max_unfinished: int = 10_000,
        max_finished: int = 10_000,
        result_ttl: float | None = 3600.0,
        max_abandoned: int | None = None,
        propagate_context: bool = True,
        observers: Sequence[TaskObserver] | None = None,
        id_prefix: str = "t",
        default_backoff: Backoff | None = None,
    ) -> None:
        self.max_workers = check_int("max_workers", max_workers, minimum=1)
        self.name_limits = check_limits(name_limits)
        self.max_unfinished = check_int("max_unfinished", max_unfinished, minimum=1)
        self.max_finished = check_int("max_finished", max_finished, minimum=0)
        self.result_ttl = check_seconds("result_ttl", result_ttl)
        spare = max_workers if max_abandoned is None else check_int("max_abandoned", max_abandoned, minimum=0)
        if not isinstance(id_prefix, str) or not id_prefix.isidentifier():
            raise InvalidArgumentError(f"id_prefix must be a short identifier such as 't', got {id_prefix!r}")
        self.id_prefix = id_prefix
        self.propagate_context = bool(propagate_context)
        if executor is None:
            from ..executors._thread import ThreadExecutor

            executor = ThreadExecutor(self.max_workers + spare)
        elif not isinstance(executor, Executor):
            raise InvalidArgumentError(
                f"executor must be an async_task_system.executors.Executor, got {type(executor).__name__}"
            )
        self.executor = executor
        self._executor_checks = type(executor).check is not Executor.check
        if observers is None:
            from ..tracing import default_observers

            observers = default_observers()
        self._observers = tuple(observers)
        self._default_backoff = default_backoff or ExponentialBackoff()

        self._lock = threading.Lock()
        self._timer_cv = threading.Condition(self._lock)
        self._tasks: dict[str, Task] = {}
        self._ids = itertools.count(1)
        self._seq = itertools.count()
        self._ready: list[tuple[int, int, Task]] = []  # heap of (-priority, seq, task)
        self._parked: dict[str, list[tuple[int, int, Task]]] = {}  # ready, but over their name limit
        self._timers: list[tuple[float, int, str, Task, int]] = []  # (due, seq, kind, task, attempt)
        self._retention = Retention(self.max_finished, self.result_ttl, lambda t: self._tasks.pop(t.id, None))
        self._running_slots = 0
        self._running_by_name: dict[str, int] = {}
        self._abandoned = 0  # threads still running an attempt whose task already ended
        self._unfinished = 0
        self._submitted = 0
        self._counts = {status: 0 for status in TaskStatus}
        self._queue_wait = Samples()
        self._run_time = Samples()
        self._late_results = 0
        self._closing = False
        self._closed = threading.Event()
        self._timer_thread = threading.Thread(target=self._timer_loop, name="task-timer", daemon=True)
        self._timer_thread.start()

    # ------------------------------------------------------------------ public API

    def submit(
        self,
        fn: Callable[..., Any],
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        name: str | None = None,
        priority: int = 0,
        timeout: float | None = None,
        max_retries: int = 0,
        retry_on: RetryOn = _RETRY_ALL,
        backoff: Backoff | None = None,
        depends_on: Iterable[str] | str = (),
        metadata: Mapping[str, Any] | None = None,
    ) -> str:
        """Queue ``fn(*args, **kwargs)`` and return its task id at once.

        ``priority``: higher starts first among ready tasks; ties in submission order.
        ``timeout``: seconds each attempt may run. ``max_retries``: extra attempts after
        a failure matching ``retry_on``, spaced by ``backoff(attempt)`` seconds.
        ``depends_on``: ids that must complete first; placeholders in the arguments
        (``"$t1"``, ``"${t1}"``, ``ResultOf("t1")``) receive their results and add themselves.
        """
        if not callable(fn):
            raise InvalidArgumentError(f"fn must be callable, got {type(fn).__name__} {fn!r}")
        if type(args) is not tuple and (isinstance(args, (str, bytes, Mapping)) or not isinstance(args, list)):
            raise InvalidArgumentError(
                f"args must be a tuple or list of positional arguments, got {type(args).__name__} {args!r}"
            )
        if kwargs is None:
            kwargs = {}
        elif (type(kwargs) is not dict and not isinstance(kwargs, Mapping)) or not all(
            type(k) is str for k in kwargs
        ):
            raise InvalidArgumentError(f"kwargs must be a dict with str keys, got {kwargs!r}")
        if name is None:
            name = getattr(fn, "__name__", None) or type(fn).__name__
        elif not isinstance(name, str) or not name:
            raise InvalidArgumentError(f"name must be a non-empty str, got {name!r}")
        check_int("priority", priority)
        timeout = check_seconds("timeout", timeout)
        check_int("max_retries", max_retries, minimum=0)
        if retry_on is not _RETRY_ALL:
            retry_on = check_retry_on(retry_on)
        if backoff is not None and not callable(backoff):
            raise InvalidArgumentError(f"backoff must be a callable attempt -> seconds, got {backoff!r}")
        deps = list(dict.fromkeys(check_ids("depends_on", depends_on))) if depends_on else []
        if args or kwargs:
            refs = find_references(args, kwargs, self.id_prefix)
            deps += [ref for ref in sorted(refs) if ref not in deps]
        if self._executor_checks:
            self.executor.check(fn, tuple(args), dict(kwargs))
        context = contextvars.copy_context() if self.propagate_context else None

        effects: list[_Effect] = []
        with self._lock:
            if self._closing:
                raise ShutdownError("cannot submit new tasks after shutdown() was called")
            if self._unfinished >= self.max_unfinished:
                raise QueueFullError(
                    f"{self._unfinished} tasks are unfinished, the limit (max_unfinished) is "
                    f"{self.max_unfinished}; wait for some to finish, or cancel some, then submit again"
                )
            dep_tasks = []
            for dep in deps:
                dep_task = self._tasks.get(dep)
                if dep_task is None:
                    raise UnknownTaskError(self._unknown_message(dep, "depends_on"))
                dep_tasks.append(dep_task)
            task_id = f"{self.id_prefix}{next(self._ids)}"
            task = Task(
                task_id, name, fn, tuple(args), dict(kwargs), priority, timeout, max_retries, retry_on,
                backoff or self._default_backoff, tuple(deps), dict(metadata) if metadata else {},
                context, next(self._seq),
            )
            self._tasks[task_id] = task
            self._submitted += 1
            self._unfinished += 1
            self._counts[PENDING] += 1
            self._log(task, "pending", "submitted", effects)
            broken = None
            for dep_task in dep_tasks:
                if dep_task.status is COMPLETED:
                    self._keep_result(task, dep_task)
                    continue
                if dep_task.status in FINAL_STATES:
                    broken = dep_task
                    break
                task.unmet += 1
                if dep_task.dependents:
                    dep_task.dependents.append(task)
                else:  # records start with a shared empty tuple: most never get a dependent
                    dep_task.dependents = [task]
            if broken is not None:
                self._finalize(task, CANCELLED, self._dependency_reason(broken), effects)
            elif task.unmet:
                self._move(task, WAITING, f"waiting for {', '.join(task.depends_on)}", effects)
            else:
                self._make_ready(task)
                self._dispatch(effects)
        self._run(effects)
        return task_id

    def wait(
        self,
        task_ids: Iterable[str] | str,
        timeout: float | None = None,
        return_when: ReturnWhen = "ALL_COMPLETED",
    ) -> WaitResult:
        """Block until all (or the first) of ``task_ids`` are final, or ``timeout`` seconds pass.

        Returns ``(done, not_done)`` id sets. Wakes as soon as the deciding task ends.
        """
        ids = check_ids("task_ids", task_ids)
        timeout = check_seconds("timeout", timeout, allow_zero=True)
        if return_when not in _RETURN_WHEN:
            raise InvalidArgumentError(
                f"return_when must be 'ALL_COMPLETED' or 'FIRST_COMPLETED', got {return_when!r}"
            )
        with self._lock:
            tasks = [self._require(task_id) for task_id in ids]
            pending = [t for t in tasks if t.status not in FINAL_STATES]
            if not pending or (return_when == "FIRST_COMPLETED" and len(pending) < len(tasks)) or timeout == 0:
                return self._split(ids)
            waiter = Waiter(len(pending) if return_when == "ALL_COMPLETED" else 1)
            for task in pending:
                if task.waiters:
                    task.waiters.append(waiter)
                else:
                    task.waiters = [waiter]
        try:
            waiter.event.wait(timeout)
        finally:
            with self._lock:
                for task in pending:
                    if waiter in task.waiters:
                        task.waiters.remove(waiter)
                result = self._split(ids)
        return result

    def get(self, task_id: str) -> TaskInfo:
        """A snapshot of the task's record (status, result, error, times, events)."""
        with self._lock:
            task = self._require(task_id)
            if task.status in FINAL_STATES:
                task.result_read = True
            return self._snapshot(task)

    def result(self, task_id: str, timeout: float | None = None) -> Any:
        """Wait for the task and return its result, or raise what happened to it.

        Raises ``TimeoutError`` if it is still unfinished after ``timeout`` seconds,
        ``TaskFailedError`` (its message names the task's error; ``get(id).error`` has the type,
        message and traceback), ``TaskTimeoutError`` or ``TaskCancelledError``.
        """
        done, _ = self.wait([task_id], timeout)
        if not done:
            raise TimeoutError(f"task {task_id} is still unfinished after {timeout}s")
        info = self.get(task_id)
        if info.status is COMPLETED:
            return info.result
        if info.status is TIMEOUT:
            raise TaskTimeoutError(f"task {task_id} ({info.name}) timed out: {info.reason}")
        if info.status is CANCELLED:
            raise TaskCancelledError(f"task {task_id} ({info.name}) was cancelled: {info.reason}")
        raise TaskFailedError(f"task {task_id} ({info.name}) failed: {info.error}")

    def cancel(self, task_id: str, reason: str | None = None) -> bool:
        """Cancel a task. Idempotent: False if it had already ended.

        A pending or waiting task never runs. A running one is marked cancelled at
        once and its ``CancelToken`` is cancelled; its late result is discarded.
        """
        effects: list[_Effect] = []
        with self._lock:
            task = self._require(task_id)
            if task.status in FINAL_STATES:
                return False
            self._finalize(task, CANCELLED, reason or "cancelled by the caller", effects)
            self._dispatch(effects)
        self._run(effects)
        return True

    def tasks(self, status: TaskStatus | str | None = None, limit: int | None = None) -> list[TaskInfo]:
        """Snapshots of retained tasks, newest first, optionally of one status."""
        wanted = None if status is None else self._status(status)
        with self._lock:
            selected = [t for t in reversed(self._tasks.values()) if wanted is None or t.status is wanted]
            if limit is not None:
                selected = selected[: check_int("limit", limit, minimum=0)]
            return [self._snapshot(t) for t in selected]

    def add_done_callback(self, task_id: str, callback: Callable[[TaskInfo], object]) -> None:
        """Call ``callback(info)`` once the task is final (at once, in this thread, if it is)."""
        with self._lock:
            task = self._require(task_id)
            if task.status not in FINAL_STATES:
                if task.callbacks:
                    task.callbacks.append(callback)
                else:
                    task.callbacks = [callback]
                return
            info = self._snapshot(task)
        self._run([lambda: callback(info)])

    def get_statistics(self) -> dict[str, Any]:
        """Counts per status (they add up to ``total``), ``queued``, ``running`` and latency percentiles."""
        with self._lock:
            self._retention.prune(time.monotonic())
            stats: dict[str, Any] = {status.value: count for status, count in self._counts.items()}
            stats.update(
                total=self._submitted,
                queued=self._counts[PENDING] + self._counts[WAITING],
                unfinished=self._unfinished,
                max_workers=self.max_workers,
                busy_slots=self._running_slots,
                abandoned_threads=self._abandoned,
                late_results_discarded=self._late_results,
                retained_records=len(self._tasks),
                queue_wait_seconds=self._queue_wait.summary(),
                run_time_seconds=self._run_time.summary(),
            )
            return stats

    def shutdown(self, wait: bool = True, cancel_pending: bool = False) -> None:
        """Take no new tasks; optionally cancel those not yet running; with ``wait``,
        return when every task is final and every worker thread has exited."""
        effects: list[_Effect] = []
        with self._lock:
            self._closing = True
            if cancel_pending:
                for task in list(self._tasks.values()):
                    if task.status in (PENDING, WAITING):
                        self._finalize(task, CANCELLED, "the task manager was shut down", effects)
            if self._unfinished == 0:
                effects.append(self._close)
            unfinished = [t.id for t in self._tasks.values() if t.status not in FINAL_STATES]
        self._run(effects)
        if wait:
            if unfinished:
                self.wait(unfinished)
            self._closed.wait()
            self.executor.shutdown(wait=True)
            self._timer_thread.join()

    @property
    def is_shutdown(self) -> bool:
        return self._closing

    def __enter__(self) -> TaskManager:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown(wait=True, cancel_pending=exc_info[0] is not None)

    def __repr__(self) -> str:
        return (
            f"<TaskManager {self.executor.describe()} max_workers={self.max_workers} "
            f"unfinished={self._unfinished} total={self._submitted}{' shut down' if self._closing else ''}>"
        )

    # ------------------------------------------------------------ executor callbacks

    def begin(self, call: TaskCall) -> bool:
        """Executor callback, just before running: False if the task was cancelled meanwhile.

        The task was marked running when it was handed to the executor (which runs it at
        once: it is only given attempts it has room for), so the common case takes no lock.
        """
        if not call.token.cancelled:
            return True
        effects: list[_Effect] = []
        with self._lock:
            self._abandoned -= 1  # ended between dispatch and start: the thread is free again
            self._dispatch(effects)
        self._run(effects)
        return False

    def end(self, call: TaskCall, ok: bool, value: Any) -> None:
        """Executor callback: the attempt returned ``value`` (``ok``) or raised it."""
        effects: list[_Effect] = []
        with self._lock:
            task = self._tasks.get(call.task_id)
            if task is None or task.inflight != call.attempt or task.status in FINAL_STATES:
                self._abandoned -= 1  # its slot was given back when the task ended
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
                    self._attempt_failed(task, call.attempt, value, effects)
            self._dispatch(effects)
        self._run(effects)

    def capacity_changed(self) -> None:
        """Executor callback: its capacity grew, so hand it queued tasks now."""
        effects: list[_Effect] = []
        with self._lock:
            self._dispatch(effects)
        self._run(effects)

    # ------------------------------------------------------------ policy, under the lock

    def _attempt_failed(self, task: Task, attempt: int, exc: BaseException, effects: list[_Effect]) -> None:
        error = TaskError.from_exception(exc)
        try:  # the retry policy is the caller's code: if it raises, the task fails, it is not lost
            retryable = isinstance(exc, Exception) and should_retry(task.retry_on, exc)
            delay = max(0.0, float(task.backoff(attempt))) if retryable and attempt <= task.max_retries else 0.0
        except Exception as policy_exc:  # noqa: BLE001
            task.error = error
            self._finalize(task, FAILED, f"failed with {error}; its retry policy then raised "
                           f"{TaskError.from_exception(policy_exc)}", effects)
            return
        if attempt <= task.max_retries and retryable and not self._closing:
            task.error = error
            self._move(task, PENDING, f"attempt {attempt} failed with {error}; "
                       f"retry {attempt} of {task.max_retries} in {delay:.3f}s", effects, attempt)
            self._log(task, "retry_scheduled", f"in {delay:.3f}s", effects, attempt)
            self._add_timer(time.monotonic() + delay, "retry", task, attempt)
            return
        task.error = error
        if attempt > 1:
            why = f"failed after {attempt} attempts: {error}"
        elif not retryable and task.max_retries:
            why = f"failed with {error} (not retried: it does not match retry_on)"
        else:
            why = f"failed with {error}"
        self._finalize(task, FAILED, why, effects)

    def _make_ready(self, task: Task) -> None:
        heapq.heappush(self._ready, (-task.priority, task.seq, task))

    def _dispatch(self, effects: list[_Effect]) -> None:
        """Hand ready tasks to the executor while it has free slots, best priority first."""
        capacity = self.executor.capacity
        while self._ready and self._running_slots < self.max_workers:
            if capacity is not None and self._running_slots + self._abandoned >= capacity:
                return
            entry = heapq.heappop(self._ready)
            task = entry[2]
            if task.status is not PENDING or task.inflight:
                continue  # stale entry: cancelled while queued
            limit = self.name_limits.get(task.name)
            if limit is not None and self._running_by_name.get(task.name, 0) >= limit:
                heapq.heappush(self._parked.setdefault(task.name, []), entry)
                continue
            self._running_slots += 1
            self._running_by_name[task.name] = self._running_by_name.get(task.name, 0) + 1
            task.holds_slot = True
            attempt = task.inflight = task.attempts + 1
            task.attempts = attempt
            if task.started_at is None:
                task.started_at = time.time()
                self._queue_wait.add(task.started_at - task.created_at)
            if attempt == 1 and self._observers:  # observers that record this task: asked once
                task.observers = tuple(o for o in self._observers if _observes(o))
            self._move(task, RUNNING, "started", effects, attempt)
            if task.timeout is not None:
                self._add_timer(time.monotonic() + task.timeout, "deadline", task, attempt)
            args, kwargs = task.args, task.kwargs
            if task.depends_on:
                results = task.dep_results or {}
                args = resolve(args, results, self.id_prefix)
                kwargs = resolve(kwargs, results, self.id_prefix)
            call = TaskCall(
                task_id=task.id, name=task.name, attempt=attempt, fn=task.fn, args=args,
                kwargs=kwargs, token=task.token, context=task.context, metadata=task.metadata,
                priority=task.priority, scopes=self._scopes_for(task),
            )
            effects.append(lambda call=call: self._start(call))

    def _start(self, call: TaskCall) -> None:
        try:
            self.executor.start(call, self)
        except BaseException as exc:  # noqa: BLE001 - the executor refused: the task fails, nothing is lost
            effects: list[_Effect] = []
            with self._lock:
                task = self._tasks.get(call.task_id)
                if task is not None and task.inflight == call.attempt and task.status not in FINAL_STATES:
                    task.inflight = 0
                    self._release_slot(task)
                    task.error = TaskError.from_exception(exc)
                    self._finalize(task, FAILED,
                                   f"the executor could not start it: {task.error}", effects)
                elif task is not None and task.inflight == call.attempt:
                    self._abandoned -= 1
                self._dispatch(effects)
            self._run(effects)

    def _scopes_for(self, task: Task) -> tuple[Callable[[TaskCall], Any], ...]:
        """The attempt scopes of the observers that record this task."""
        if not task.observers:
            return ()
        return tuple(o.attempt_scope for o in task.observers if type(o).attempt_scope is not _BASE_SCOPE)

    def _release_slot(self, task: Task) -> None:
        if not task.holds_slot:
            return
        task.holds_slot = False
        self._running_slots -= 1
        left = self._running_by_name[task.name] - 1
        if left:
            self._running_by_name[task.name] = left
        else:
            del self._running_by_name[task.name]
        parked = self._parked.get(task.name)
        if parked:
            heapq.heappush(self._ready, heapq.heappop(parked))
            if not parked:
                del self._parked[task.name]

    def _finalize(self, task: Task, status: TaskStatus, reason: str, effects: list[_Effect]) -> None:
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
                self._abandoned += 1
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
                    effects.append(lambda token=task.token, cbs=callbacks, r=reason: token._notify(cbs, r))
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
                    effects.append(lambda callback=callback, info=info: callback(info))
                for observer in task.observers:
                    event = task.events[-1]
                    effects.append(lambda o=observer, e=event, i=info: o.on_event(i.id, e, i))
                task.callbacks = ()
            # Free what the record no longer needs; the result stays until read or expired.
            task.fn = task.args = task.kwargs = task.context = task.dep_results = None
            self._retention.add(task, task.finished_mono)
        if self._closing and self._unfinished == 0:
            effects.append(self._close)

    @staticmethod
    def _keep_result(task: Task, dep: Task) -> None:
        """Hand a completed dependency's result to ``task`` now, for its placeholders."""
        if task.dep_results is None:
            task.dep_results = {}
        task.dep_results[dep.id] = dep.result

    def _dependency_reason(self, dep: Task) -> str:
        what = {FAILED: f"failed ({dep.error})", TIMEOUT: "timed out",
                CANCELLED: "was cancelled"}[dep.status]
        return f"dependency {dep.id} ({dep.name}) {what}"

    def _move(self, task: Task, status: TaskStatus, reason: str, effects: list[_Effect], attempt: int = 0) -> None:
        self._counts[task.status] -= 1
        self._counts[status] += 1
        task.status = status
        self._log(task, status._value_, reason, effects, attempt, final=status in FINAL_STATES)

    def _log(self, task: Task, kind: str, reason: str, effects: list[_Effect], attempt: int = 0,
             final: bool = False) -> None:
        event = TaskEvent(time.time(), kind, reason, attempt)
        task.events.append(event)
        if task.observers and not final:  # final events are reported with a snapshot by _finalize
            for observer in task.observers:
                effects.append(lambda o=observer, e=event, i=task.id: o.on_event(i, e, None))

    def _add_timer(self, due: float, kind: str, task: Task, attempt: int) -> None:
        entry = (due, next(self._seq), kind, task, attempt)
        heapq.heappush(self._timers, entry)
        if self._timers[0] is entry:
            self._timer_cv.notify()

    def _timer_loop(self) -> None:
        """Fire deadlines and retry backoffs at their time: one thread, a heap, condition waits."""
        while True:
            effects: list[_Effect] = []
            with self._lock:
                while True:
                    if self._closed.is_set():
                        return
                    now = time.monotonic()
                    if self._timers and self._timers[0][0] <= now:
                        break
                    wait = None if not self._timers else self._timers[0][0] - now
                    expiry = self._retention.next_expiry()
                    if expiry is not None:
                        wait = expiry - now if wait is None else min(wait, expiry - now)
                        if wait <= 0:
                            self._retention.prune(now)
                            continue
                    self._timer_cv.wait(wait)
                while self._timers and self._timers[0][0] <= now:
                    _, _, kind, task, attempt = heapq.heappop(self._timers)
                    if kind == "deadline":
                        if task.inflight == attempt and task.status is RUNNING:
                            self._finalize(task, TIMEOUT,
                                           f"attempt {attempt} ran longer than its timeout of {task.timeout:g}s",
                                           effects)
                    elif task.status is PENDING and task.attempts == attempt:
                        self._make_ready(task)  # the retry's backoff is over
                self._dispatch(effects)
            self._run(effects)

    def _close(self) -> None:
        with self._lock:
            if self._closed.is_set():
                return
            self._closed.set()
            self._timer_cv.notify_all()
        self.executor.shutdown(wait=False)  # threads exit as their last attempts return

    # ------------------------------------------------------------ helpers

    def _run(self, effects: list[_Effect]) -> None:
        """Run what was decided under the lock: executor starts, callbacks, observers."""
        for effect in effects:
            try:
                effect()
            except Exception:  # a broken callback must not break the manager
                _log.exception("a task callback or observer raised; the manager carries on")

    def _require(self, task_id: Any) -> Task:
        if not isinstance(task_id, str):
            raise InvalidArgumentError(f"task id must be a str such as 't1', got {type(task_id).__name__} {task_id!r}")
        task = self._tasks.get(task_id)
        if task is None:
            raise UnknownTaskError(self._unknown_message(task_id, "task id"))
        return task

    def _unknown_message(self, task_id: str, what: str) -> str:
        known = f"ids run from {self.id_prefix}1 to {self.id_prefix}{self._submitted}" if self._submitted \
            else "no task has been submitted yet"
        return (f"unknown {what} {task_id!r}: no such task here ({known}; a finished record is "
                f"forgotten once read and over the {self.max_finished} kept, or after {self.result_ttl}s)")

    def _split(self, ids: list[str]) -> WaitResult:
        done, not_done = set(), set()
        for task_id in ids:
            task = self._tasks.get(task_id)
            (done if task is None or task.status in FINAL_STATES else not_done).add(task_id)
        return WaitResult(done, not_done)

    @staticmethod
    def _status(status: TaskStatus | str) -> TaskStatus:
        try:
            return TaskStatus(status)
        except ValueError:
            accepted = ", ".join(s.value for s in TaskStatus)
            raise InvalidArgumentError(f"unknown status {status!r}; accepted: {accepted}") from None

    @staticmethod
    def _snapshot(task: Task) -> TaskInfo:
        return TaskInfo(
            id=task.id, name=task.name, status=task.status, priority=task.priority,
            created_at=task.created_at, started_at=task.started_at, finished_at=task.finished_at,
            attempts=task.attempts, max_retries=task.max_retries, timeout=task.timeout,
            depends_on=task.depends_on, result=task.result, error=task.error,
            events=tuple(task.events), metadata=dict(task.metadata),
        )
