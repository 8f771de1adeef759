"""The TaskManager: the public API over the scheduler (``_scheduler``), the one owner of task state."""

from __future__ import annotations

import contextvars
import logging
import weakref
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
    WaitTimeoutError,
)
from ._cancel import CancelToken, current_task
from ._executor import Executor
from ._info import FINAL_STATES, TaskInfo, TaskStatus
from ._loop import check_runnable, not_callable_error
from ._markers import find_markers
from ._observers import TaskObserver, default_observers
from ._pool import ThreadExecutor
from ._resources import check_name_resources, check_resources, format_resources
from ._retry import Backoff, ExponentialBackoff, RetryOn
from ._scheduler import CANCELLED, COMPLETED, PENDING, TIMEOUT, WAITING, Effects, Scheduler
from ._state import Task, Waiter
from ._timers import Clock
from ._validate import (
    check_ids,
    check_int,
    check_limits,
    check_metadata,
    check_retry_on,
    check_seconds,
    describe,
    exact_str,
    quote,
)

__all__ = ["TaskManager", "WaitResult"]

_log = logging.getLogger("async_task_system")

ReturnWhen = Literal["ALL_COMPLETED", "FIRST_COMPLETED"]
_RETURN_WHEN = {"ALL_COMPLETED", "FIRST_COMPLETED"}
_RETRY_ALL: tuple[type[BaseException], ...] = (Exception,)
_UNCAPPED = 2 ** 31 - 1  # max_workers when only the executor's capacity limits what runs


class WaitResult(NamedTuple):
    """What ``wait()`` returns: the ids that are final and the ids that are not."""

    done: set[str]
    not_done: set[str]


class TaskManager(Scheduler):
    """Runs Python callables in the background with priorities, dependencies, limits,
    timeouts, retries and cancellation. Thread-safe; usable as a context manager.

    >>> from async_task_system import ResultOf
    >>> with TaskManager(max_workers=4) as tm:
    ...     t1 = tm.submit(pow, (2, 10))
    ...     t2 = tm.submit(str, (ResultOf(t1),))          # gets t1's result: depends on t1
    ...     tm.wait([t1, t2]); tm.get(t2).result
    '1024'

    ``async def`` functions (also a ``functools.partial`` of one, or an object whose
    ``__call__`` is ``async def``) run as coroutines on one event loop the manager owns,
    up to ``max_coroutines`` at once, beside the ``max_workers`` threads; a timeout or
    ``cancel()`` cancels the coroutine itself (it sees ``CancelledError``).

    Timeouts and cancellation of a *running* thread task take effect at once in its record,
    and its ``CancelToken`` is cancelled; the thread itself runs on until the callable
    returns (threads cannot be killed). Its worker slot is given back at once and the
    thread runs on as an *abandoned* thread on spare capacity (``max_abandoned``, by
    default as many as ``max_workers``); once the spare is used up, new tasks wait
    for abandoned threads to return. A result that arrives late is discarded and logged.

    ``max_workers``: attempts running at once. Not given: 4 on the manager's own threads; with
    an ``executor`` that has a ``capacity`` (a ``DaskExecutor``: its cluster's threads and
    prefetch window), that capacity alone, as it changes.

    ``resources``: this machine's capacities for the manager's own threads, e.g. ``{"GPU": 1}``.
    Tasks then start only while what they need (``submit(resources=)``, ``name_resources``) is
    free, CPU-only ones flowing past them; a need beyond them is refused at submit. An executor
    that offers resources (a ``DaskExecutor``: its workers') is accounted the same way, except
    that there a need no worker offers waits (``TaskInfo.waiting_reason``) until one joins.

    A manager dropped without ``shutdown()`` finishes its unfinished tasks, then its
    threads exit and it is collected.
    """

    def __init__(
        self,
        max_workers: int | None = None,
        *,
        executor: Executor | None = None,
        name_limits: Mapping[str, int] | None = None,
        name_resources: Mapping[str, Mapping[str, float]] | None = None,
        resources: Mapping[str, float] | None = None,
        max_unfinished: int = 10_000,
        max_finished: int = 10_000,
        result_ttl: float | None = 3600.0,
        max_abandoned: int | None = None,
        propagate_context: bool = True,
        observers: Sequence[TaskObserver] | None = None,
        id_prefix: str = "t",
        default_backoff: Backoff | None = None,
        max_coroutines: int = 1000,
    ) -> None:
        if max_workers is None:  # the executor's capacity decides (the manager's loop never stops first)
            max_workers = 4 if not isinstance(executor, Executor) or executor.capacity is None else _UNCAPPED
        self.max_workers = check_int("max_workers", max_workers, minimum=1)
        self.max_coroutines = check_int("max_coroutines", max_coroutines, minimum=1)
        self.name_limits = check_limits(name_limits)
        self.name_resources = check_name_resources(name_resources)
        self.max_unfinished = check_int("max_unfinished", max_unfinished, minimum=1)
        self.max_finished = check_int("max_finished", max_finished, minimum=0)
        self.result_ttl = check_seconds("result_ttl", result_ttl)
        spare = self.max_workers if max_abandoned is None else check_int("max_abandoned", max_abandoned, minimum=0)
        if not isinstance(id_prefix, str) or not id_prefix.isidentifier() or len(id_prefix) > 40:
            raise InvalidArgumentError(f"id_prefix must be a short identifier such as 't', got {describe(id_prefix)}")
        self.id_prefix = exact_str(id_prefix)
        self.propagate_context = bool(propagate_context)
        owned = executor is None
        if executor is None:
            executor = ThreadExecutor(self.max_workers + spare,
                                      resources=None if resources is None else check_resources(resources))
        elif resources is not None:
            raise InvalidArgumentError(
                "resources= gives this machine's capacities to the manager's own threads; with executor= "
                "the executor offers them (ThreadExecutor(resources=...), or a DaskExecutor's workers)"
            )
        elif not isinstance(executor, Executor):
            raise InvalidArgumentError(
                f"executor must be an async_task_system.executors.Executor, got {type(executor).__name__}"
            )
        self._executor_checks = type(executor).check is not Executor.check
        if default_backoff is not None and not callable(default_backoff):
            raise InvalidArgumentError(f"default_backoff must be a callable attempt -> seconds, got "
                                       f"{describe(default_backoff)}")
        self._default_backoff = default_backoff or ExponentialBackoff()
        self._init_state(executor, tuple(default_observers() if observers is None else observers))
        for name, needs in self.name_resources.items():
            self._refuse_unoffered(needs, f"name_resources[{quote(name[:50])}]")
        self._asking: set[Task] = set()  # running tasks with an open question (ask/answered)
        # Dropped without shutdown(): the clock stops, and a pool and a loop of our own are shut down.
        weakref.finalize(self, _dropped, self._clock, executor if owned else None, self._loop).atexit = False
        self._clock.start(self)

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
        resources: Mapping[str, float] | None = None,
    ) -> str:
        """Queue ``fn(*args, **kwargs)`` and return its task id at once.

        ``priority``: higher starts first among ready tasks; ties in submission order.
        ``timeout``: seconds each attempt may run, from its real start. ``max_retries``:
        extra attempts after a failure matching ``retry_on``, spaced by ``backoff(attempt)``
        seconds. ``depends_on``: ids that must complete first; a ``ResultOf("t1")`` marker in
        the arguments (as an argument, or inside plain lists, tuples and dict values) receives
        t1's result and adds the dependency. ``resources``: what each attempt needs to run, such as
        ``{"GPU": 1}`` (an executor that knows resources runs it only where they are free); None takes
        ``name_resources[name]``, ``{}`` needs nothing. Nothing is submitted (and no id is used) if this raises.
        """
        if not callable(fn):
            raise not_callable_error(fn)  # a coroutine object gets its own message, and is closed
        lane = self._coroutines if _is_coroutine_function(fn) else self._threads
        if type(args) is not tuple:
            if not isinstance(args, list):
                raise InvalidArgumentError(
                    f"args must be a tuple or list of positional arguments, got {describe(args)}")
            args = tuple(args)
        if kwargs is None:
            kwargs = {}
        elif not isinstance(kwargs, Mapping) or not all(type(k) is str for k in kwargs):
            raise InvalidArgumentError(f"kwargs must be a dict with str keys, got {describe(kwargs)}")
        else:
            kwargs = dict(kwargs)
        if name is None:
            name = _name_of(fn)
        elif not isinstance(name, str) or not name:
            raise InvalidArgumentError(f"name must be a non-empty str, got {describe(name)}")
        elif type(name) is not str:
            name = exact_str(name)
        priority = check_int("priority", priority)
        timeout = check_seconds("timeout", timeout)
        max_retries = check_int("max_retries", max_retries, minimum=0)
        if retry_on is not _RETRY_ALL:
            retry_on = check_retry_on(retry_on)
        if backoff is not None and not callable(backoff):
            raise InvalidArgumentError(f"backoff must be a callable attempt -> seconds, got {describe(backoff)}")
        meta = check_metadata(metadata)
        needs = self.name_resources.get(name) if resources is None else check_resources(resources)
        if needs:
            self._refuse_unoffered(needs, f"task {quote(name[:50])}")
        deps = list(dict.fromkeys(check_ids("depends_on", depends_on))) if depends_on else []
        plan = _find_markers(args, kwargs) if (args or kwargs) else None
        if plan is not None:
            deps += [ref for ref in plan.task_ids if ref not in deps]
        if self._executor_checks and lane.executor is self.executor:
            self.executor.check(fn, args, kwargs)
        context = contextvars.copy_context() if self.propagate_context else None
        observers = tuple(o for o in self._observers if _observes(o)) if self._observers else ()

        effects = Effects()
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
            self._last_id += 1
            self._seq += 1
            task_id = f"{self.id_prefix}{self._last_id}"
            task = Task(
                task_id, name, fn, args, kwargs, priority, timeout, max_retries, retry_on,
                backoff or self._default_backoff, tuple(deps), meta, context, self._seq, plan, (), lane, needs,
            )
            self._tasks[task_id] = task
            if self._unfinished == 0:
                self._clock.keepalive = self  # unfinished work keeps a dropped manager alive
            self._unfinished += 1
            self._counts[PENDING] += 1
            self._log(task, "pending", "submitted", effects)
            task.observers = observers
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

    def run_coroutine(self, fn: Callable[..., Any], args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None,
                      *, timeout: float | None = None, token: CancelToken | None = None) -> Any:
        """Run the coroutine function ``fn(*args, **kwargs)`` on the manager's event loop and
        block for its result: how synchronous code (an agent's direct call of an async tool)
        uses the loop the coroutine tasks run on. Not a task (no record, no limits); cancelled
        at ``timeout`` or when ``token`` fires (default: the calling task's token)."""
        if not callable(fn) or not _is_coroutine_function(fn):
            raise InvalidArgumentError(f"run_coroutine needs an async def function (or a partial of one), "
                                       f"got {describe(fn)}")
        if self._closing:
            raise ShutdownError("cannot run coroutines after shutdown() was called")
        if type(args) is not tuple:
            if not isinstance(args, list):
                raise InvalidArgumentError(f"args must be a tuple or list, got {describe(args)}")
            args = tuple(args)
        if kwargs is not None and (not isinstance(kwargs, Mapping) or not all(type(k) is str for k in kwargs)):
            raise InvalidArgumentError(f"kwargs must be a dict with str keys, got {describe(kwargs)}")
        if token is not None and not isinstance(token, CancelToken):
            raise InvalidArgumentError(f"token must be a CancelToken or None, got {describe(token)}")
        return self._loop.run(fn, args, dict(kwargs or {}), timeout=check_seconds("timeout", timeout), token=token)

    def wait(
        self,
        task_ids: Iterable[str] | str,
        timeout: float | None = None,
        return_when: ReturnWhen = "ALL_COMPLETED",
    ) -> WaitResult:
        """Block until all (or the first) of ``task_ids`` are final, or ``timeout`` seconds pass.

        Returns ``(done, not_done)`` id sets. Wakes as soon as the deciding task ends. An id
        whose record was forgotten counts as done (forgotten means finished); an id never
        issued raises ``UnknownTaskError``.
        """
        ids = check_ids("task_ids", task_ids)
        timeout = check_seconds("timeout", timeout, allow_zero=True)
        if return_when not in _RETURN_WHEN:
            raise InvalidArgumentError(
                f"return_when must be 'ALL_COMPLETED' or 'FIRST_COMPLETED', got {describe(return_when)}"
            )
        with self._lock:
            pending = []
            for task_id in ids:
                task = self._tasks.get(task_id)
                if task is None:
                    if not self._was_issued(task_id):
                        raise UnknownTaskError(self._unknown_message(task_id, "task id"))
                elif task.status not in FINAL_STATES:
                    pending.append(task)
            if not pending or (return_when == "FIRST_COMPLETED" and len(pending) < len(ids)) or timeout == 0:
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
        """A snapshot of the task's record (status, result, error, times, events). No side effect."""
        with self._lock:
            return self._snapshot(self._require(task_id))

    def result(self, task_id: str, timeout: float | None = None) -> Any:
        """Wait for the task and return its result, or raise what happened to it.

        Raises ``WaitTimeoutError`` if it is still unfinished after ``timeout`` seconds (the
        wait expired; the task goes on), ``TaskFailedError`` (its message names the task's
        error; ``get(id).error`` has the type, message and traceback), ``TaskTimeoutError``
        (the task itself ran past its own ``timeout``) or ``TaskCancelledError``.
        """
        done, _ = self.wait([task_id], timeout)
        if not done:
            raise WaitTimeoutError(f"task {task_id} is still unfinished after waiting {timeout}s")
        info = self.get(task_id)
        if info.status is COMPLETED:
            return info.result
        if info.status is TIMEOUT:
            raise TaskTimeoutError(f"task {task_id} ({info.name}) timed out: {info.reason}")
        if info.status is CANCELLED:
            raise TaskCancelledError(f"task {task_id} ({info.name}) was cancelled: {info.reason}")
        raise TaskFailedError(f"task {task_id} ({info.name}) failed: {info.error}")

    def cancel(self, task_id: str, reason: str | None = None) -> bool:
        """Cancel a task. Idempotent: False if it had already ended (or was forgotten).

        A pending or waiting task never runs. A running one is marked cancelled at
        once and its ``CancelToken`` is cancelled; its late result is discarded.
        """
        if reason is not None:
            if not isinstance(reason, str):
                raise InvalidArgumentError(f"reason must be a str or None, got {describe(reason)}")
            reason = exact_str(reason)[:2000]
        if isinstance(task_id, str) and type(task_id) is not str:
            task_id = exact_str(task_id)
        effects = Effects()
        with self._lock:
            task = self._tasks.get(task_id) if isinstance(task_id, str) else None
            if task is None:
                if isinstance(task_id, str) and self._was_issued(task_id):
                    return False  # forgotten: it finished
                self._require(task_id)
            if task.status in FINAL_STATES:
                return False
            self._finalize(task, CANCELLED, reason or "cancelled by the caller", effects)
            self._dispatch(effects)
        self._run(effects)
        return True

    def tasks(self, status: TaskStatus | str | None = None, limit: int | None = None) -> list[TaskInfo]:
        """Snapshots of retained tasks, newest first, optionally of one status."""
        wanted = None if status is None else self._status(status)
        if limit is not None:
            check_int("limit", limit, minimum=0)
        with self._lock:
            selected = [t for t in reversed(self._tasks.values()) if wanted is None or _shown_status(t) is wanted]
            if limit is not None:
                selected = selected[:limit]
            return [self._snapshot(t) for t in selected]

    def add_done_callback(self, task_id: str, callback: Callable[[TaskInfo], object]) -> None:
        """Call ``callback(info)`` once the task is final (at once, in this thread, if it is).

        It runs outside every lock; whatever it raises is logged, never lost in a task."""
        if not callable(callback):
            raise InvalidArgumentError(f"callback must be callable, got {describe(callback)}")
        with self._lock:
            task = self._require(task_id)
            if task.status not in FINAL_STATES:
                if task.callbacks:
                    task.callbacks.append(callback)
                else:
                    task.callbacks = [callback]
                return
            info = self._snapshot(task)
        effects = Effects()
        effects.call(callback, info)
        self._run(effects)

    # ---- annotations from the layers above (live coordination: messages, questions) ----

    #: the most annotation events one task's log keeps (status events are never dropped)
    MAX_ANNOTATIONS = 1000

    def record_event(self, task_id: str, kind: str, reason: str = "") -> bool:
        """Add a non-status event (``kind``, e.g. ``"message"``) to a task's log; status never changes.

        False if the task is final, forgotten, or already has ``MAX_ANNOTATIONS`` of them."""
        if not isinstance(kind, str) or not kind or kind in TaskStatus._value2member_map_:
            raise InvalidArgumentError(f"kind must be a non-empty str other than a status, got {kind!r}")
        if not isinstance(reason, str):
            raise InvalidArgumentError(f"reason must be a str, got {describe(reason)}")
        effects = Effects()
        with self._lock:
            task = self._tasks.get(task_id) if isinstance(task_id, str) else None
            if task is None:
                if isinstance(task_id, str) and self._was_issued(task_id):
                    return False
                self._require(task_id)
            statuses = TaskStatus._value2member_map_
            if task.status in FINAL_STATES or sum(e.kind not in statuses for e in task.events) >= self.MAX_ANNOTATIONS:
                return False
            self._log(task, exact_str(kind), exact_str(reason)[:2000], effects)
        self._run(effects)
        return True

    def ask(self, task_id: str, question: str) -> bool:
        """Mark a running task as waiting for input (``question``), as its code blocks for an answer.

        Only how it is shown changes (``WAITING_FOR_INPUT``, ``TaskInfo.question``): its slot, its
        deadline and cancellation stay as for a running task. False if it is not running."""
        return self._set_question(task_id, question)

    def answered(self, task_id: str, reason: str = "input received") -> bool:
        """The task's question was answered (or given up): it shows as running again."""
        return self._set_question(task_id, None, reason)

    def _set_question(self, task_id: str, question: str | None, reason: str = "") -> bool:
        if question is not None and (not isinstance(question, str) or not question.strip()):
            raise InvalidArgumentError(f"question must be a non-empty str, got {describe(question)}")
        effects = Effects()
        with self._lock:
            task = self._tasks.get(task_id) if isinstance(task_id, str) else None
            if task is None and not (isinstance(task_id, str) and self._was_issued(task_id)):
                self._require(task_id)
            if task is None or task.status is not TaskStatus.RUNNING or (question is None) == (task.question is None):
                return False
            if question is None:
                task.question = None
                self._asking.discard(task)
                self._log(task, "input_received", exact_str(reason)[:2000], effects)
            else:
                task.question = exact_str(question)[:10_000]
                self._asking.add(task)
                self._log(task, TaskStatus.WAITING_FOR_INPUT.value, task.question[:2000], effects)
        self._run(effects)
        return True

    def _asking_count(self) -> int:
        """Under the lock: running tasks with an open question (ended ones are dropped here)."""
        asking = self._asking
        for task in [t for t in asking if t.status is not TaskStatus.RUNNING]:
            asking.discard(task)
        return len(asking)

    def get_statistics(self) -> dict[str, Any]:
        """Counts per status (they add up to ``total``), ``queued``, ``running``, records kept and
        forgotten, latency percentiles, and ``resources``: what the executor's workers offer, what
        attempts hold and how many ready tasks wait, per resource (None if it offers none)."""
        with self._lock:
            stats: dict[str, Any] = {status.value: count for status, count in self._counts.items()}
            asking = self._asking_count()  # running tasks whose code waits for an answer
            stats[RUNNING_VALUE] -= asking
            stats[TaskStatus.WAITING_FOR_INPUT.value] = asking
            stats.update(
                total=self._last_id,
                queued=self._counts[PENDING] + self._counts[WAITING],
                unfinished=self._unfinished,
                max_workers=self._max_workers_now(),
                busy_slots=self._threads.running,
                abandoned_threads=self._threads.abandoned,
                max_coroutines=self.max_coroutines,
                busy_coroutine_slots=self._coroutines.running,
                abandoned_coroutines=self._coroutines.abandoned,
                late_results_discarded=self._late_results,
                retained_records=len(self._tasks),
                forgotten_records=self._retention.forgotten,
                queue_wait_seconds=self._queue_wait.summary(),
                run_time_seconds=self._run_time.summary(),
                resources=self._resource_statistics(),
            )
            return stats

    def _resource_statistics(self) -> dict[str, Any] | None:
        """Under the lock: per resource, what the workers offer, what attempts hold, how many ready
        tasks wait for it (None if the executor does not offer resources)."""
        account = self._account
        if account is None:
            return None
        waiting: dict[str, int] = {}
        entries = [e for lane in self._lanes for e in lane.needy.entries()] + account.unplaced
        for task in {id(e[2]): e[2] for e in entries}.values():
            if task.status is PENDING and not task.inflight:
                for name in task.resources:
                    waiting[name] = waiting.get(name, 0) + 1
        return {"offered": dict(account.offered), "held": dict(account.held), "waiting": waiting,
                "workers": [dict(offer) for offer in account.offers]}

    def shutdown(self, wait: bool = True, cancel_pending: bool = False) -> None:
        """Take no new tasks; optionally cancel those not yet running (and scheduled retries);
        with ``wait``, return when every task is final (retries run to their end) and every
        worker thread has exited."""
        effects = Effects()
        with self._lock:
            if wait:
                self._refuse_waiting_for_itself()
            self._closing = True
            if cancel_pending:
                self._cancel_pending = True
                for task in list(self._tasks.values()):
                    if task.status is PENDING or task.status is WAITING:
                        self._finalize(task, CANCELLED, "the task manager was shut down", effects)
            if self._unfinished == 0:
                effects.close = True
        self._run(effects)
        if wait:
            self._closed.wait()
            for executor in self._executors():
                executor.shutdown(wait=True)
            self._clock.join()

    def _refuse_waiting_for_itself(self) -> None:
        """Under the lock: ``shutdown(wait=True)`` from inside one of this manager's own tasks would
        wait for that task, which waits for shutdown: refuse it (nothing is changed)."""
        ctx = current_task()
        task = self._tasks.get(ctx.task_id) if ctx is not None else None
        if task is not None and task.token is ctx.cancel_token and task.status not in FINAL_STATES:
            raise InvalidArgumentError(
                f"shutdown(wait=True) was called from inside task {task.id} of this manager, which would wait "
                f"for {task.id} itself forever; call shutdown(wait=False) there (the manager closes once its "
                "tasks end), or shut down from outside the task"
            )

    @property
    def is_shutdown(self) -> bool:
        return self._closing

    def __enter__(self) -> TaskManager:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown(wait=True, cancel_pending=exc_info[0] is not None)

    def __repr__(self) -> str:
        return (
            f"<TaskManager {self.executor.describe()} max_workers={self._max_workers_now()} "
            f"unfinished={self._unfinished} total={self._last_id}{' shut down' if self._closing else ''}>"
        )

    # ------------------------------------------------------------ helpers

    def _max_workers_now(self) -> int:
        """``max_workers``, or the executor's capacity now when that alone is the limit."""
        if self.max_workers == _UNCAPPED:
            capacity = self.executor.capacity
            if capacity is not None:
                return capacity
        return self.max_workers

    def _refuse_unoffered(self, needs: Mapping[str, float], what: str) -> None:
        """On an executor whose offers never change (this machine's threads), a need no worker can
        meet would wait forever: refuse it now, naming what is offered."""
        account = self._account
        if account is None or not account.fixed:
            return
        if account.missing(needs) is not None:
            raise InvalidArgumentError(
                f"{what} needs {format_resources(needs)}, more than this machine offers "
                f"({format_resources(account.offered) or 'no resources'}: {self.executor.describe()}); give "
                "TaskManager(resources=...) what the machine has, or run it where workers offer it (a DaskExecutor)"
            )

    def _require(self, task_id: Any) -> Task:
        if not isinstance(task_id, str):
            raise InvalidArgumentError(f"task id must be a str such as 't1', got {describe(task_id)}")
        if type(task_id) is not str:
            task_id = exact_str(task_id)
        task = self._tasks.get(task_id)
        if task is None:
            raise UnknownTaskError(self._unknown_message(task_id, "task id"))
        return task

    def _was_issued(self, task_id: str) -> bool:
        """Whether this manager gave out ``task_id`` (so a missing record means it was forgotten)."""
        prefix = self.id_prefix
        digits = task_id[len(prefix):] if task_id.startswith(prefix) else ""
        return (0 < len(digits) <= 18 and digits.isascii() and digits.isdigit() and digits[0] != "0"
                and int(digits) <= self._last_id)

    def _unknown_message(self, task_id: str, what: str) -> str:
        if self._was_issued(task_id):
            ttl = f"{self.result_ttl:g}s" if self.result_ttl is not None else "ever"
            return (f"{what} {task_id!r} finished and its record was forgotten (a manager keeps the last "
                    f"{self.max_finished} finished records, each for at most {ttl})")
        known = f"ids issued so far run from {self.id_prefix}1 to {self.id_prefix}{self._last_id}" \
            if self._last_id else "no task has been submitted yet"
        return f"unknown {what} {task_id[:100]!r}: no task with this id was submitted here ({known})"

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
            raise InvalidArgumentError(f"unknown status {quote(status)}; accepted: {accepted}") from None


def _observes(observer: TaskObserver) -> bool:
    """``observer.is_active()``; an observer that raises observes nothing (the task still runs)."""
    try:
        return bool(observer.is_active())
    except BaseException:  # noqa: BLE001
        _log.exception("a task observer's is_active() raised; it will not observe this task")
        return False


def _find_markers(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    try:
        return find_markers(args, kwargs)
    except InvalidArgumentError:
        raise
    except Exception as exc:  # noqa: BLE001 - a container subclass whose iteration raises
        raise InvalidArgumentError(
            f"could not look for ResultOf markers in the arguments: {type(exc).__name__} while iterating "
            "a container (pass plain lists, tuples and dicts)"
        ) from None


def _name_of(fn: Any) -> str:
    """``fn.__name__``, else its type's name (whatever its ``__getattr__`` does)."""
    try:
        name = getattr(fn, "__name__", None)
    except Exception:  # noqa: BLE001
        name = None
    return name if isinstance(name, str) and name else type(fn).__name__


def _is_coroutine_function(fn: Any) -> bool:
    """True for an ``async def`` function (or a partial / callable object of one); False for a plain
    function; raises ``InvalidArgumentError`` for (async) generator functions, which yield many
    results. An object ``inspect`` cannot read is taken as a plain function."""
    try:
        return check_runnable(fn)
    except InvalidArgumentError:
        raise
    except Exception:  # noqa: BLE001 - a broken __getattr__: let it run (and fail) as a thread task
        return False


def _dropped(clock: Clock, executor: Executor | None, loop: Executor) -> None:
    """A manager was collected without shutdown(): stop its clock, its own pool and its loop."""
    clock.stop()
    if executor is not None:
        executor.shutdown(wait=False)
    loop.shutdown(wait=False)


RUNNING_VALUE = TaskStatus.RUNNING.value


def _shown_status(task: Task) -> TaskStatus:
    """The status a snapshot of ``task`` shows (a running task with an open question waits for input)."""
    if task.question is not None and task.status is TaskStatus.RUNNING:
        return TaskStatus.WAITING_FOR_INPUT
    return task.status
