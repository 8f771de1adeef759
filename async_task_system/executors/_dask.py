"""Run task attempts on a Dask distributed cluster.

The ``TaskManager`` keeps all policy (priorities, dependencies, per-name limits,
retries with backoff, timeouts); this executor only ships one attempt at a time
to the cluster and reports back. Invariants:

- The manager never hands it more attempts than ``capacity``: the cluster's worker
  threads times ``1 + window``. Up to ``window`` attempts per thread wait in Dask's queues
  (with the task's ``priority=``, so Dask runs them in the manager's order), so a worker
  that finishes one attempt starts the next at once instead of idling a round trip. The
  window adapts to how long attempts run (measured on the worker, so the load on the round
  trip does not shrink it): about ``PREFETCH_SECONDS`` of queued work per thread, at most
  ``prefetch`` attempts (many for no-op tool calls, none for sub-agents).
- An attempt *begins* (``reporter.attempt_starting``) when it starts on a worker, as the worker's
  notes say (``_dask_notes``), not when it is submitted. A start is noted with the worker's next
  note, or alone once it is 20 ms old, so an attempt whose outcome arrives first begins then, just
  before it ends.
- Outcomes come home in those notes: a value that pickles to at most 8 KB travels in the note
  that says the attempt ended (no round trip to fetch it); a busy worker gathers its ends for up
  to 20 ms into one note; a value is sealed with the executor's secret (which travels in the
  attempt), so a note another client logs on the topic is ignored. A bigger value, and an error, come Dask's way: the note says to wait
  for the future, whose done callback then fetches the value (one gather for all that are queued,
  on the client's loop) or brings the error. Every ``SWEEP_SECONDS`` the report thread also looks
  for attempts that Dask said had ended at the previous sweep without any note since (their worker
  died) and fetches those the same way.
- Each attempt is one Dask task with a unique key and ``pure=False``; the callable
  and its arguments travel as *arguments* of a wrapper, so a tool's keyword
  arguments named ``priority``, ``key``, ``retries``, ``pure``, ``workers`` reach it.
- No Dask retries: the manager retries. A worker that dies mid-task makes Dask
  re-run it elsewhere; after ``distributed.scheduler.allowed-failures`` deaths
  the attempt fails with Dask's ``KilledWorker``.
- Cancellation is cooperative: the task's ``CancelToken`` is mirrored on the worker
  (``cancel_token()`` works remotely). A cancel is broadcast to the workers; a worker
  remembers it for an attempt that has not started there yet. A coroutine function runs on
  its worker's event loop, where the token cancels the coroutine itself (``runs_coroutines``).
  What runs on the workers lives in ``_dask_remote``; this module is the client side.
- The executor keeps a view of the workers, their threads and resources (``workers()``,
  ``resources()``, ``cluster_status()``), refreshed when one joins or leaves (see
  ``_dask_cluster``); on a change it tells the manager (``capacity_changed``), so queued
  attempts start at once rather than at the next submit or end.
- An attempt that needs resources (``TaskCall.resources``, from ``submit(resources=)``)
  is submitted with ``resources=``: Dask runs it only on a worker that offers them. The
  executor tells the manager what each worker offers (``offers``); the manager accounts
  them, so it hands over such an attempt only while a worker has them free, and keeps a
  task that no worker can run pending (with the reason) until one joins.
- A callable may define ``unpack_remote(ok, value) -> (ok, value)``: called here, on the
  submitting side, with what its remote run returned or raised, before the manager sees
  it (a managed agent's run sends its token usage home this way).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import hmac
import itertools
import os
import pickle
import secrets
import threading
import time
import types
import uuid
import weakref
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..engine import AttemptReporter, Executor, TaskCall
from ..engine._cancel import TaskContext, _current
from ..engine._loop import callable_kind
from ..engine._resources import check_resources, format_resources
from ..errors import InvalidArgumentError, ShutdownError
from ..tracing._remote import capture_carrier

try:
    import cloudpickle
    import distributed
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        f"DaskExecutor needs dask.distributed ({exc}); install it with: "
        'pip install "async_task_system[dask]"'
    ) from exc

from ._dask_cluster import ClusterWatch, WorkerInfo, watch_cluster  # noqa: E402
from ._dask_messages import DaskMessages  # noqa: E402
from ._dask_notes import PREFIX_LENGTH, attempt_key, seal_of  # noqa: E402
from ._dask_remote import (  # noqa: E402
    CarriedBaseException,
    CoroutineCancelled,
    WorkerJoinedPlugin,
    WorkerTracingPlugin,
    cancel_on_worker,
    run_attempt,
    run_attempt_async,
)

__all__ = ["DaskExecutor", "WorkerTracingPlugin", "WorkerJoinedPlugin", "find_unpicklable"]

_AUTO = "auto"
#: Queued work per worker thread that the prefetch window aims at, in seconds of run time.
PREFETCH_SECONDS = 0.05
#: How often the report thread looks for attempts that ended without a note (a worker died), seconds.
SWEEP_SECONDS = 0.25


class DaskExecutor(Executor):
    """Runs each attempt as one task on a Dask cluster.

    ``client_or_address``: a ``distributed.Client``, a scheduler address such as
    ``"tcp://10.0.0.5:8786"``, a cluster object (``LocalCluster``), or None for the
    ``DASK_SCHEDULER_ADDRESS`` environment variable. A client this executor creates
    is closed by ``shutdown()``; a client it is given is left open.

    ``trace_endpoint``: OTLP/HTTP URL the workers export their spans to (e.g.
    ``http://127.0.0.1:6006/v1/traces``). ``"auto"``: where ``setup_tracing()`` sends
    this process's spans (same project and headers), else ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``,
    ``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``PHOENIX_COLLECTOR_ENDPOINT`` (project
    ``PHOENIX_PROJECT_NAME``) if one is set; None turns worker export off.
    ``instrumentors``: ``"module:Class"`` OpenTelemetry instrumentors to
    ``instrument()`` on each worker along with tracing ("auto": smolagents', if installed).
    ``prefetch``: at most this many attempts queued per worker thread beyond the one it
    runs; fewer when attempts run long (see ``window``). 0: none, so an attempt is only
    handed over when a thread is free; the manager's order is then exact, at one round
    trip of idle time per attempt.
    ``connect_timeout``: seconds to reach the scheduler (default: Dask's
    ``distributed.comm.timeouts.connect``, 30 s).
    ``note_values``: a value that pickles to at most 8 KB comes home in its worker's note, without a
    round trip (``_dask_notes``). The scheduler keeps the last 1,000 notes of their topic, where any
    client of the cluster can read them (as it can any data there while its task holds it); False:
    every value is fetched from its worker, and none outlives its task on the cluster.
    """

    #: Coroutine functions run on the workers' event loops (``run_attempt_async``), cancelled for real.
    runs_coroutines = True

    def __init__(
        self,
        client_or_address: Any = None,
        *,
        trace_endpoint: str | None = _AUTO,
        project_name: str | None = None,
        instrumentors: Iterable[str] | str = _AUTO,
        min_capacity: int = 1,
        prefetch: int = 8,
        connect_timeout: float | None = None,
        note_values: bool = True,
    ) -> None:
        if not isinstance(min_capacity, int) or isinstance(min_capacity, bool) or min_capacity < 1:
            raise InvalidArgumentError(f"min_capacity must be an int >= 1, got {min_capacity!r}")
        if not isinstance(prefetch, int) or isinstance(prefetch, bool) or not 0 <= prefetch <= 64:
            raise InvalidArgumentError(
                f"prefetch must be an int from 0 to 64 (attempts queued per worker thread), got {prefetch!r}"
            )
        if not isinstance(note_values, bool):
            raise InvalidArgumentError(f"note_values must be True or False, got {note_values!r}")
        self.prefetch = prefetch
        self.note_values = note_values
        self.trace_endpoint, auto_project, headers = _trace_target(trace_endpoint)  # checked before connecting
        self.project_name = project_name = project_name or auto_project
        self._client, self._owns_client = _connect(client_or_address, connect_timeout)
        self._min_capacity = min_capacity
        self._run_time: float | None = None  # moving average of an attempt's run time on its worker, s
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self.key_prefix = uuid.uuid4().hex[:PREFIX_LENGTH]  # keys unique across executors and clients
        self._seal = secrets.token_hex(16)  # what workers seal noted values with (``seal_of``)
        self._keys = itertools.count()
        self._inflight: dict[str, _Attempt] = {}  # key -> an attempt submitted and not yet reported
        self._closing = False
        self._closed = False
        self._reporter: AttemptReporter | None = None  # the manager, told when capacity grows
        # What the report thread has to do, in arrival order: ("started", key, worker), ("done", future),
        # ("outcomes", futures, [(ok, value, seconds)]), ("capacity",) and ("stop",). Reporting runs manager callbacks and user code,
        # so it happens on that one thread, never on the client's event loop.
        self._queue: collections.deque[tuple[Any, ...]] = collections.deque()
        self._queue_cv = threading.Condition(threading.Lock())
        self._report_waiting = False  # the report thread waits on _queue_cv: a push must wake it
        self._ended_unnoted: set[str] = set()  # keys the last sweep found ended without a note
        self._outbox: list[_Attempt] = []  # started on the report thread, shipped when its round ends
        self._reporting = threading.Thread(target=self._report_loop, name="dask-executor-report", daemon=True)
        self._reporting.start()
        # Cancel broadcasts block on a round trip: one background thread sends them in order.
        self._control = ThreadPoolExecutor(1, thread_name_prefix="dask-executor-control")
        if self.trace_endpoint:
            if instrumentors == _AUTO:
                instrumentors = _default_instrumentors()
            elif isinstance(instrumentors, str):
                instrumentors = (instrumentors,)
            self._client.register_plugin(
                WorkerTracingPlugin(self.trace_endpoint, project_name=project_name, headers=headers,
                                    instrumentors=tuple(instrumentors)),
                name="async_task_system-tracing",
            )
        self._watch: ClusterWatch = watch_cluster(self, DaskExecutor._noted, WorkerJoinedPlugin())
        self._messages = DaskMessages(self._client, self.key_prefix)
        self._travels: weakref.WeakSet[Any] = weakref.WeakSet()  # callables that pickled (``check``)

    # ------------------------------------------------------------ Executor interface

    @property
    def window(self) -> int:
        """Attempts queued per worker thread beyond the one it runs, now.

        ``PREFETCH_SECONDS`` divided by the average attempt's run time, from 0 to ``prefetch``;
        1 until an attempt has been measured (so a first burst of long tasks is not all
        handed over at once).
        """
        run_time = self._run_time
        if run_time is None:
            return min(1, self.prefetch)
        return min(self.prefetch, int(PREFETCH_SECONDS / max(run_time, 1e-6)))

    @property
    def capacity(self) -> int:  # type: ignore[override]
        """The cluster's total worker threads times ``1 + window`` (at least ``min_capacity``).

        The threads are counted from the executor's view of the workers, refreshed when a
        worker joins (queued attempts then start at once) or leaves (running attempts go on:
        Dask moves those of a lost worker; new ones wait for a free thread).
        """
        return max(self._min_capacity, self._watch.threads() * (1 + self.window))

    @property
    def offers(self) -> list[dict[str, float]]:  # type: ignore[override]
        """What each worker offers (``[{"GPU": 1.0}, {}]``), for the manager's resource accounting."""
        return self._watch.offers()

    @property
    def client(self) -> distributed.Client:
        return self._client

    def check(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Refuse, before anything is queued, a callable or argument that cannot travel to a worker.

        A callable that pickled once is not pickled again (the cost of a check is mostly the callable,
        pickled by value when defined in ``__main__``), nor are arguments of plain types: Dask pickles
        everything anyway when it ships the attempt, and an attempt that fails to ship then fails with why.
        """
        try:
            if not self._travelled(fn):
                cloudpickle.dumps(fn)
                with contextlib.suppress(Exception):  # not weakly referenceable, unhashable: checked every time
                    self._travels.add(fn)
            if (args or kwargs) and not _plain(args, kwargs):
                cloudpickle.dumps((args, kwargs))
        except InvalidArgumentError:
            raise  # the object refused to travel and said what to do instead (e.g. a managed agent instance)
        except Exception as exc:  # noqa: BLE001 - any pickling failure is the caller's to fix
            where, why = find_unpicklable({"fn": fn, "args": args, "kwargs": kwargs}, exc)
            raise InvalidArgumentError(
                f"cannot send {where} to a Dask worker: it does not pickle ({why}). Everything a task "
                "uses must pickle with cloudpickle: build locks, open files, sockets and clients inside "
                "the task, or run it on the thread executor (TaskManager without executor=)"
            ) from exc

    def _travelled(self, fn: Any) -> bool:
        try:
            return fn in self._travels
        except Exception:  # noqa: BLE001 - unhashable, or a __hash__ that raises: not known
            return False

    def attach(self, reporter: AttemptReporter) -> None:
        """The manager's hooks, before any attempt: a worker that joins reaches it (a task waiting for a GPU)."""
        self._reporter = reporter

    def start(self, call: TaskCall, reporter: AttemptReporter) -> None:
        with self._lock:
            if self._closing:
                raise ShutdownError("cannot start new attempts after DaskExecutor.shutdown() was called")
        self._reporter = reporter
        if call.token.cancelled and not reporter.attempt_starting(call):
            return  # cancelled between dispatch and here: nothing to ship
        key = attempt_key(call.name, call.task_id, call.attempt, self.key_prefix, next(self._keys))
        # The attempt's observer scopes (the library's task span) are entered here, around the
        # remote run, in a copy of the submitter's context; the carrier is taken inside them.
        ctx = call.context.copy() if call.context is not None else contextvars.Context()
        scopes = contextlib.ExitStack()
        attempt = _Attempt(key, call, reporter, ctx, scopes)
        try:
            attempt.resources = check_resources(call.resources, f"task {call.task_id} ({call.name}): resources")
            ctx.run(_enter_scopes, call, scopes)
            carrier = ctx.run(capture_carrier)
        except BaseException as exc:  # noqa: BLE001 - could not ship it: this attempt fails
            self._refused([attempt], exc)
            return
        attempt.meta = {"key": key, "task_id": call.task_id, "name": call.name, "attempt": call.attempt,
                        "carrier": carrier, "inbox": self.key_prefix, "note_values": self.note_values,
                        "seal": self._seal}
        attempt.coroutine = callable_kind(call.fn) == "coroutine"
        with self._lock:
            self._inflight[key] = attempt
        call.token.add_callback(lambda reason: self._cancel_remote(key, reason))
        if threading.current_thread() is self._reporting:
            self._outbox.append(attempt)  # shipped with the others this report starts, in one message
        else:
            self._ship([attempt])

    def post_message(self, task_id: str, text: str, limit: int) -> int | None:
        """Queue ``text`` for task ``task_id``, wherever its attempt runs (or will): its inbox on the
        worker (``current_inbox()``) takes it. How many now wait; None (not queued) if ``limit`` already do.
        One round trip to the scheduler."""
        return self._messages.post(task_id, text, limit)

    def _ship(self, attempts: list[_Attempt]) -> None:
        """Submit attempts to the cluster: one ``client.map`` (one graph update) per priority and resources."""
        groups: dict[tuple[bool, int, tuple[tuple[str, float], ...]], list[_Attempt]] = {}
        for attempt in attempts:
            group_key = (attempt.coroutine, attempt.call.priority, tuple(sorted(attempt.resources.items())))
            groups.setdefault(group_key, []).append(attempt)
        for (coroutine, priority, resources), group in groups.items():
            calls = [a.call for a in group]
            try:
                futures = self._client.map(
                    run_attempt_async if coroutine else run_attempt,
                    [c.fn for c in calls], [c.args for c in calls], [c.kwargs for c in calls],
                    [a.meta for a in group], key=[a.key for a in group], pure=False, priority=priority,
                    retries=0, resources=dict(resources) or None,
                )
            except BaseException as exc:  # noqa: BLE001 - could not ship them: these attempts fail
                self._refused(group, exc)
                continue
            for attempt, future in zip(group, futures):
                attempt.future = future  # its outcome comes in its worker's note, or the sweep finds it

    def _refused(self, attempts: list[_Attempt], exc: BaseException) -> None:
        for attempt in attempts:
            with self._lock:
                self._inflight.pop(attempt.key, None)
                self._idle.notify_all()
            with contextlib.suppress(Exception):
                attempt.ctx.run(attempt.scopes.__exit__, type(exc), exc, exc.__traceback__)
            attempt.began = False
            if attempt.reporter.attempt_starting(attempt.call):
                attempt.reporter.attempt_finished(attempt.call, False, exc)

    def shutdown(self, wait: bool = True) -> None:
        """Take no new attempts; with ``wait``, return once every started one has ended.

        Closes the client only if this executor created it (after its last attempt ends).
        """
        with self._lock:
            self._closing = True
            if wait:
                while self._inflight:
                    self._idle.wait()
            close = not self._inflight and not self._closed
            if close:
                self._closed = True
        if close:
            self._close()

    # ------------------------------------------------------------ seeing the cluster

    def workers(self) -> dict[str, WorkerInfo]:
        """The cluster's workers by address: name, threads, resources (as of the last join or leave)."""
        return self._watch.workers()

    def resources(self) -> dict[str, float]:
        """Each worker resource's total over the cluster, e.g. ``{"GPU": 1.0}``."""
        return self._watch.resources()

    def missing(self, resources: Mapping[str, float]) -> str | None:
        """None if some worker offers ``resources``; else why not: ``"no worker offers GPU=1 (...)"``."""
        return self._watch.missing(check_resources(resources))

    def waiting_for_resources(self) -> dict[str, str]:
        """Task id -> reason, for attempts handed to the cluster that no worker can run yet.

        Dask keeps such an attempt until a worker that offers its resources joins, then runs it.
        """
        with self._lock:
            attempts = [a for a in self._inflight.values() if a.resources and a.began is None]
        out = {}
        for attempt in attempts:
            reason = self._watch.missing(attempt.resources)
            if reason is not None:
                out[attempt.call.task_id] = reason
        return out

    def cluster_status(self) -> dict[str, Any]:
        """Workers with their resources and load (this executor's attempts), for statistics and tables."""
        with self._lock:
            attempts = list(self._inflight.values())
        running: dict[str, int] = {}
        for attempt in attempts:
            if attempt.began and attempt.worker is not None:
                running[attempt.worker] = running.get(attempt.worker, 0) + 1
        workers = [
            {"address": w.address, "name": w.name, "threads": w.threads, "resources": dict(w.resources),
             "running": running.get(w.address, 0)}
            for w in sorted(self._watch.workers().values(), key=lambda w: w.address)
        ]
        started = sum(running.values())
        return {
            "scheduler": getattr(self._client.scheduler, "address", None),
            "workers": workers,
            "threads": sum(w["threads"] for w in workers),
            "resources": self._watch.resources(),
            "window": self.window,
            "capacity": self.capacity,
            "running": started,
            "queued": len(attempts) - started,
            "waiting_for_resources": self.waiting_for_resources(),
        }

    def describe(self) -> str:
        """One line: scheduler, workers with their threads, resources and running attempts, queue."""
        status = self.cluster_status()
        workers = ", ".join(
            f"{w['name']}: {w['running']}/{w['threads']} threads"
            + (f", {format_resources(w['resources'])}" if w["resources"] else "")
            for w in status["workers"]
        ) or "none"
        waiting = len(status["waiting_for_resources"])
        return (
            f"DaskExecutor(scheduler={status['scheduler'] or self._client.status!r}, workers=[{workers}], "
            f"capacity={status['capacity']}, queued={status['queued']}"
            + (f", waiting for resources={waiting}" if waiting else "") + ")"
        )

    def __repr__(self) -> str:
        return f"<{self.describe()}{' shut down' if self._closing else ''}>"

    # ------------------------------------------------------------ internals

    def _push(self, item: tuple[Any, ...]) -> None:
        # Appended first, then the flag read (the report thread sets it before it looks at the queue):
        # the lock is taken only to wake a waiting report thread, not once per item of a busy one.
        self._queue.append(item)
        if self._report_waiting:
            with self._queue_cv:
                self._queue_cv.notify()

    def _on_done(self, future: distributed.Future) -> None:
        """Dask's callback thread: a future finished, erred or was cancelled."""
        self._push(("done", future))

    def _noted(self, note: dict[str, Any]) -> None:
        """On the client's event loop: a worker's note (``_dask_notes``): attempts it started, small outcomes."""
        inflight, worker = self._inflight, note.get("worker")
        for key in note.get("started", ()):
            if key in inflight:
                self._push(("started", key, worker))
        for key, data, took, *seal in note.get("done", ()):
            if key in inflight:
                if data is None:
                    self._push(("watch", key, worker))
                elif seal and hmac.compare_digest(seal[0], seal_of(self._seal, key, data)):
                    self._push(("noted", key, worker, data, took))

    def _report_loop(self) -> None:
        """The report thread: begins, outcomes (from notes, or gathered in batches), capacity changes,
        and every ``SWEEP_SECONDS`` the sweep for attempts that ended without a note."""
        next_sweep = time.monotonic() + SWEEP_SECONDS
        while True:
            queue = self._queue
            if not queue:
                with self._queue_cv:
                    self._report_waiting = True  # before looking again: a push from now on wakes us
                    while not queue and (wait := next_sweep - time.monotonic()) > 0:
                        self._queue_cv.wait(wait)
                    self._report_waiting = False
            if time.monotonic() >= next_sweep:
                self._sweep()
                next_sweep = time.monotonic() + SWEEP_SECONDS
            items = [queue.popleft() for _ in range(len(queue))]  # pops are atomic: a push meanwhile stays
            finished: list[distributed.Future] = []
            for item in items:
                kind = item[0]
                if kind == "started":
                    attempt = self._inflight.get(item[1])
                    if attempt is not None:
                        attempt.worker = item[2]
                        self._begin(attempt)
                elif kind == "noted":  # a small outcome, in its worker's note: no fetch
                    self._noted_outcome(*item[1:])
                elif kind == "watch":  # failed, or a big value: Dask's word on it comes next
                    self._watch_future(*item[1:])
                elif kind == "done":
                    future = item[1]
                    if future.key not in self._inflight:
                        pass  # reported already, from its note
                    elif future.status == "finished":
                        finished.append(future)
                    else:  # erred or cancelled: its exception is already here, no round trip
                        self._finished(future.key, *_outcome_here(self._client, future))
                elif kind == "outcomes":
                    for future, (ok, value, took) in zip(item[1], item[2]):
                        self._finished(future.key, ok, value, took)
                elif kind == "capacity":
                    notify = getattr(self._reporter, "capacity_changed", None)
                    if notify is not None:
                        _quietly(notify)
                else:  # ("stop",)
                    return
            if self._outbox:  # the attempts the manager started while this thread reported
                outbox, self._outbox = self._outbox, []
                self._ship(outbox)
            if finished:  # fetched on the client's loop, so this thread goes on reporting meanwhile
                self._client.loop.add_callback(self._fetch, finished)

    async def _fetch(self, futures: list[distributed.Future]) -> None:
        """On the client's event loop: the results of finished futures, in one round trip."""
        try:  # each is (its value, seconds it ran on the worker)
            outcomes = [(True, value, took) for value, took in
                        await self._client.gather(futures, asynchronous=True)]
        except BaseException:  # noqa: BLE001 - one bad future (its data lost with a worker): one by one
            outcomes = []
            for future in futures:
                try:
                    value, took = await self._client.gather(future, asynchronous=True)
                    outcomes.append((True, value, took))
                except BaseException as exc:  # noqa: BLE001 - the attempt's error, KilledWorker, cancelled
                    outcomes.append((False, exc, None))
        self._push(("outcomes", futures, outcomes))

    def _begin(self, attempt: _Attempt) -> bool:
        """The gate, once per attempt: whether the manager still wants it run."""
        if attempt.began is None:
            try:
                attempt.began = bool(attempt.reporter.attempt_starting(attempt.call, attempt.worker))
            except BaseException:  # noqa: BLE001 - a broken reporter must not stop the report thread
                attempt.began = False
        return attempt.began

    def _watch_future(self, key: str, worker: str | None = None) -> None:
        """Dask's word on ``key`` is wanted: its done callback (not shipped yet: the sweep finds it)."""
        attempt = self._inflight.get(key)
        if attempt is not None and attempt.worker is None:
            attempt.worker = worker  # where it ran, for the record, even if it never was noted as started
        if attempt is not None and attempt.future is not None and not attempt.watched:
            attempt.watched = True
            attempt.future.add_done_callback(self._on_done)

    def _sweep(self) -> None:
        """On the report thread: attempts that Dask said had ended already at the last sweep, and no note
        told of since (their worker died), are fetched as any other (a note may come after Dask's word)."""
        with self._lock:
            attempts = list(self._inflight.values())
        seen, self._ended_unnoted = self._ended_unnoted, set()
        for attempt in attempts:
            future = attempt.future
            if future is not None and not attempt.watched and future.status != "pending":
                if attempt.key in seen:
                    attempt.watched = True
                    self._push(("done", future))
                else:
                    self._ended_unnoted.add(attempt.key)

    def _noted_outcome(self, key: str, worker: str | None, data: bytes, took: float) -> None:
        """On the report thread: the outcome a worker's note carried, unless it does not load here
        (then it is fetched Dask's way, and fails with Dask's loading error)."""
        attempt = self._inflight.get(key)
        if attempt is None:
            return
        if attempt.worker is None:
            attempt.worker = worker
        try:
            value = pickle.loads(data)
        except Exception:  # noqa: BLE001 - a class unknown here, a failing __setstate__: Dask's way, its error
            self._watch_future(key)
            return
        except BaseException as exc:  # noqa: BLE001 - SystemExit & co. loading it: Dask's way would stop the loop
            self._finished(key, False, exc)
            return
        self._finished(key, True, value, took)

    def _finished(self, key: str, ok: bool, value: Any, took: float | None = None) -> None:
        """On the report thread: end the attempt's scopes and report its outcome to the manager.

        ``took``: the seconds it ran on its worker (the prefetch window follows their average)."""
        attempt = self._inflight.get(key)
        if attempt is None:
            return
        call, reporter, ctx, scopes = attempt.call, attempt.reporter, attempt.ctx, attempt.scopes
        began = self._begin(attempt)  # an outcome can arrive before the start event
        if took is not None:
            self._run_time = took if self._run_time is None else 0.9 * self._run_time + 0.1 * took
        if not ok and isinstance(value, CoroutineCancelled):  # as a local coroutine ends when cancelled
            value = asyncio.CancelledError(str(value))
        elif not ok and isinstance(value, CarriedBaseException):  # its own SystemExit, GeneratorExit...
            value = value.error
        unpack = getattr(call.fn, "unpack_remote", None)
        if unpack is not None:  # the callable brings home what its remote run sent back (sub-agent usage)
            try:
                ok, value = unpack(ok, value)
            except Exception as exc:  # noqa: BLE001 - a broken unpack fails the attempt, it does not hang it
                ok, value = False, exc
        try:
            if ok:
                ctx.run(scopes.close)
            else:
                ctx.run(scopes.__exit__, type(value), value, value.__traceback__)
        except Exception:  # noqa: BLE001 - a broken observer must not lose the result
            pass
        try:
            if began:  # not begun: the manager gave the slot back when it said "do not run"
                reporter.attempt_finished(call, ok, value)
        except BaseException:  # noqa: BLE001 - the manager's own failure must not stop the report thread
            pass
        finally:
            self._messages.release(call.task_id)
            with self._lock:
                self._inflight.pop(key, None)
                close = self._closing and not self._inflight and not self._closed
                if close:
                    self._closed = True
                self._idle.notify_all()
            if attempt.future is not None:
                attempt.future.release()
            if close:
                self._close()

    def _cluster_changed(self) -> None:
        """On the client's event loop, after a worker joined or left and the view was refreshed."""
        if self._reporter is None or self._closing:
            return  # nothing was ever started here: nothing can be queued for it either
        self._push(("capacity",))  # not on the loop: dispatching submits to the client

    def _cancel_remote(self, key: str, reason: str) -> None:
        with self._lock:
            if key not in self._inflight or self._closed:
                return
        with contextlib.suppress(RuntimeError):  # the control thread is already shut down
            self._control.submit(self._broadcast_cancel, key, reason)

    def _broadcast_cancel(self, key: str, reason: str) -> None:
        with contextlib.suppress(Exception):  # a worker gone meanwhile has nothing to cancel
            self._client.run(cancel_on_worker, key, reason, on_error="ignore")

    def _close(self) -> None:
        self._watch.remove(self)
        self._push(("stop",))
        self._control.shutdown(wait=False)
        if self._owns_client:
            with contextlib.suppress(Exception):
                self._client.close()


class _Attempt:
    """One submitted attempt, until it is reported."""

    __slots__ = ("key", "call", "reporter", "ctx", "scopes", "meta", "resources", "future", "began", "worker",
                 "coroutine", "watched")

    def __init__(self, key: str, call: TaskCall, reporter: AttemptReporter, ctx: contextvars.Context,
                 scopes: contextlib.ExitStack) -> None:
        self.key, self.call, self.reporter, self.ctx, self.scopes = key, call, reporter, ctx, scopes
        self.meta: dict[str, Any] = {}
        self.resources: dict[str, float] = {}
        self.future: distributed.Future | None = None
        self.began: bool | None = None  # None until the manager's gate was asked (at the remote start)
        self.worker: str | None = None  # the worker's address, once it started there
        self.coroutine = False  # a coroutine function: it runs on the worker's event loop
        self.watched = False  # a done callback is on its future (or the sweep queued it)


_PLAIN = (str, int, float, bool, type(None), bytes)



def _plain(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Whether every argument is a plain value that always pickles (no need to try)."""
    return all(type(a) in _PLAIN for a in args) and all(type(v) in _PLAIN for v in kwargs.values())


def _outcome_here(client: distributed.Client, future: distributed.Future) -> tuple[bool, Any]:
    try:
        return True, client.gather(future)
    except BaseException as exc:  # noqa: BLE001 - the attempt's error, KilledWorker, cancelled
        return False, exc


def _quietly(fn: Callable[[], Any]) -> None:
    with contextlib.suppress(Exception):  # the manager's callback failing must not stop the report thread
        fn()


def _connect(target: Any, timeout: float | None) -> tuple[distributed.Client, bool]:
    if isinstance(target, distributed.Client):
        if target.asynchronous:
            raise InvalidArgumentError(
                "DaskExecutor needs a synchronous distributed.Client (the TaskManager calls it from "
                "threads), got one made with asynchronous=True; pass its scheduler address instead"
            )
        return target, False
    if target is None:
        target = os.environ.get("DASK_SCHEDULER_ADDRESS") or None
        if target is None:
            raise InvalidArgumentError(
                "DaskExecutor needs a cluster: pass a distributed.Client, a scheduler address such as "
                "'tcp://127.0.0.1:8786' (start one with `dask scheduler` and `dask worker ADDRESS`), "
                "a cluster object, or set DASK_SCHEDULER_ADDRESS"
            )
    if isinstance(target, str):
        if "://" not in target and ":" not in target:
            raise InvalidArgumentError(
                f"DaskExecutor: {target!r} is not a scheduler address; expected e.g. 'tcp://10.0.0.5:8786'"
            )
    elif not hasattr(target, "scheduler_address"):
        raise InvalidArgumentError(
            "DaskExecutor accepts a distributed.Client, a scheduler address str or a cluster object "
            f"(LocalCluster, ...), got {type(target).__name__} {target!r}"
        )
    try:
        extra = {} if timeout is None else {"timeout": timeout}
        client = distributed.Client(target, set_as_default=False, **extra)
    except OSError as exc:
        raise InvalidArgumentError(
            f"DaskExecutor: could not reach the Dask scheduler at {target!r} ({exc}); is `dask scheduler` "
            "running there?"
        ) from exc
    return client, True


def _trace_target(value: str | None) -> tuple[str | None, str | None, dict[str, str]]:
    """(endpoint, project name, headers) for the workers' span export."""
    if value != _AUTO:
        if value is not None and not (isinstance(value, str) and value.startswith(("http://", "https://"))):
            raise InvalidArgumentError(
                f"trace_endpoint must be an OTLP/HTTP URL such as 'http://127.0.0.1:6006/v1/traces', "
                f"'auto' or None, got {value!r}"
            )
        return value, None, {}
    from ..tracing import _setup  # what setup_tracing() configured in this process, if anything

    config = getattr(_setup, "_config", None)
    if config is not None:
        return config.endpoint, config.project_name, dict(config.headers)
    env = os.environ
    project = env.get("PHOENIX_PROJECT_NAME") or None
    if env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        return env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"], project, {}
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "PHOENIX_COLLECTOR_ENDPOINT"):
        base = env.get(name, "").rstrip("/")
        if base.startswith(("http://", "https://")):
            return (base if base.endswith("/v1/traces") else f"{base}/v1/traces"), project, {}
    return None, None, {}


def _default_instrumentors() -> tuple[str, ...]:
    import importlib.util

    if importlib.util.find_spec("openinference.instrumentation.smolagents") is None:
        return ()
    return ("openinference.instrumentation.smolagents:SmolagentsInstrumentor",)


def _enter_scopes(call: TaskCall, stack: contextlib.ExitStack) -> None:
    _current.set(TaskContext(call.task_id, call.name, call.attempt, call.token))
    for scope in call.scopes:
        stack.enter_context(scope(call))


# ---------------------------------------------------------------- unpicklable objects

def find_unpicklable(root: dict[str, Any], error: BaseException, depth: int = 6) -> tuple[str, str]:
    """The path of the innermost object under ``root`` that does not pickle, and why."""
    chain: list[tuple[str, Any]] = []  # (path, object) from the outermost culprit inwards
    why = f"{type(error).__name__}: {error}"
    frontier: list[tuple[str, Any]] = [(name, value) for name, value in root.items()]
    for _ in range(depth):
        culprit = None
        for name, value in frontier:
            try:
                cloudpickle.dumps(value)
            except Exception as exc:  # noqa: BLE001
                culprit = (name, value, exc)
                break
        if culprit is None:
            break
        name, value, exc = culprit
        chain.append((name, value))
        why = f"{type(exc).__name__}: {exc}"
        frontier = list(_children(name, value))
    if not chain:
        return "the task", why
    path, value = chain[-1]
    where = f"{path} ({type(value).__name__})"
    # Name the object the user handed over (a tool, an agent) when the culprit sits inside it.
    holders = [(p, v) for p, v in chain[:-1] if not isinstance(v, (dict, list, tuple, set, frozenset))]
    if holders:
        where += f" inside {holders[0][0]} ({type(holders[0][1]).__name__})"
    return where, why


def _children(name: str, value: Any) -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [(f"{name}[{k!r}]", v) for k, v in value.items()]
    if isinstance(value, (list, tuple, set, frozenset)):
        return [(f"{name}[{i}]", v) for i, v in enumerate(value)]
    if isinstance(value, types.MethodType):
        return [(f"{name}.__self__", value.__self__), (f"{name}.__func__", value.__func__)]
    children: list[tuple[str, Any]] = []
    if isinstance(value, types.FunctionType):
        cells = value.__closure__ or ()
        children += [(f"{name}.<closure {n}>", c.cell_contents)
                     for n, c in zip(value.__code__.co_freevars, cells)]
        children += [(f"{name}.<global {n}>", value.__globals__[n])
                     for n in value.__code__.co_names if n in value.__globals__]
    attrs = getattr(value, "__dict__", None)
    if isinstance(attrs, dict):
        children += [(f"{name}.{k}", v) for k, v in attrs.items()]
    return children
