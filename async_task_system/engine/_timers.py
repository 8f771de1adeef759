"""The manager's clock: deadlines and retry backoffs on one thread over a heap, and the ttl of
finished records. The thread holds the manager only weakly, so a dropped manager is collected."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
import weakref
from typing import Any

from ._retention import Retention

__all__ = ["Clock"]

_log = logging.getLogger("async_task_system")
# The longest single Condition.wait: a safety net only (every change that matters notifies).
_IDLE_WAIT = 5.0

DEADLINE, RETRY = "deadline", "retry"


class Clock:
    """Timer entries ``(due, seq, kind, task_id, attempt)``: ids, not records, so a timer never
    keeps a finished task (or its result) alive. Guarded by the manager's lock (``cv``)."""

    def __init__(self, lock: Any, retention: Retention) -> None:
        self.cv = threading.Condition(lock)
        self.retention = retention
        self.closed = False
        # The manager, while it has unfinished tasks: a dropped manager finishes its work first.
        self.keepalive: Any = None
        self._heap: list[tuple[float, int, str, str, int]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._callback_threads: set[threading.Thread] = set()  # running callbacks the clock handed off

    def add(self, due: float, kind: str, task_id: str, attempt: int) -> None:
        """Under the lock: fire ``kind`` for ``task_id``'s ``attempt`` at monotonic time ``due``."""
        entry = (due, next(self._seq), kind, task_id, attempt)
        heapq.heappush(self._heap, entry)
        if self._heap[0] is entry:
            self.cv.notify()

    def wake(self) -> None:
        """Under the lock: look again at what is due next (a new record may expire first)."""
        self.cv.notify()

    def start(self, manager: Any) -> None:
        self._thread = threading.Thread(
            target=_loop, args=(self, weakref.ref(manager)), name="task-timer", daemon=True)
        self._thread.start()

    def hand_off_calls(self, effects: Any) -> Any:
        """Take the callbacks out of what the clock's thread decided (a task timed out): they run on
        a thread of their own (``start_calls``), since one that blocks (submits a task with a timeout
        and waits for it, calls ``shutdown()``) would stop every later deadline and retry here."""
        if not effects.calls:
            return None
        calls = type(effects)()
        calls.calls, effects.calls = effects.calls, []
        return calls

    def start_calls(self, calls: Any, manager: Any) -> None:
        thread = threading.Thread(target=_run_calls, args=(self, manager, calls), name="task-callbacks", daemon=True)
        with self.cv:
            self._callback_threads.add(thread)
        try:
            thread.start()
        except BaseException:  # noqa: BLE001 - no thread to be had: run them here rather than lose them
            with self.cv:
                self._callback_threads.discard(thread)
            manager._run(calls)

    def join(self) -> None:
        current = threading.current_thread()
        if self._thread is not None and self._thread is not current:
            self._thread.join()
        while True:
            with self.cv:
                waiting = [t for t in self._callback_threads if t is not current]
            if not waiting:
                return
            for thread in waiting:
                thread.join()
                with self.cv:
                    self._callback_threads.discard(thread)

    def stop(self) -> None:
        """Stop the thread (from any thread; never blocks on the clock's own)."""
        self.closed = True
        if self._thread is threading.current_thread():
            return  # the loop sees ``closed`` before it waits again
        with self.cv:
            self.cv.notify_all()

    def next_due(self) -> list[tuple[float, int, str, str, int]] | None:
        """Under the lock: block until entries are due and return them; None once closed."""
        heap, retention = self._heap, self.retention
        while True:
            if self.closed:
                return None
            now = time.monotonic()
            if heap and heap[0][0] <= now:
                due = []
                while heap and heap[0][0] <= now:
                    due.append(heapq.heappop(heap))
                return due
            wait = heap[0][0] - now if heap else _IDLE_WAIT
            expiry = retention.next_expiry()
            if expiry is not None:
                if expiry <= now:
                    retention.prune(now)
                    continue
                wait = min(wait, expiry - now)
            self.cv.wait(min(wait, _IDLE_WAIT))


def _loop(clock: Clock, manager_ref: weakref.ref[Any]) -> None:
    while True:
        try:
            with clock.cv:
                due = clock.next_due()
                if due is None:
                    return
                manager = manager_ref()
                if manager is None:
                    return
                effects = manager._fire(due)
            later = clock.hand_off_calls(effects)
            manager._run(effects)
            if later is not None:
                clock.start_calls(later, manager)
            del manager, effects, later
        except BaseException:  # noqa: BLE001 - the clock must outlive any bug: log and carry on
            _log.exception("the task manager's clock hit an error; it carries on")
            time.sleep(0.01)


def _run_calls(clock: Clock, manager: Any, effects: Any) -> None:
    try:
        manager._run(effects)  # guarded: whatever a callback raises is logged
    finally:
        with clock.cv:
            clock._callback_threads.discard(threading.current_thread())
