"""The default executor: a ``concurrent.futures.ThreadPoolExecutor`` (beside the manager, as
CPython keeps its pool beside ``Future``)."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Mapping
from typing import Any

from ._executor import AttemptReporter, Executor, TaskCall
from ._resources import check_resources, format_resources

__all__ = ["ThreadExecutor"]

_log = logging.getLogger("async_task_system")


class ThreadExecutor(Executor):
    """Runs each attempt on a thread of a pool of ``threads`` threads.

    The manager never hands it more attempts than it has threads, so the pool's
    own FIFO queue stays empty and the manager's priority order holds.

    ``resources``: what this machine offers, e.g. ``{"GPU": 1}`` (``TaskManager(resources=)``). The
    manager then accounts them: tasks whose needs are held by running ones wait (others run past
    them), and a task needing more than offered is refused at submit. None: needs are not accounted.

    A worker that has just reported an attempt's end, and is handed the next
    attempt while it reports (the manager gives the freed slot to the best ready
    task), runs that attempt itself instead of queueing it to the pool: the same
    thread, one hand-off less per task. The manager declines the hand-off
    (``decline_handoff``) before it runs callbacks or observers on that thread, so
    a slow callback never delays another task, and a callback that submits a task
    and waits for it finds it on another thread.
    """

    def __init__(self, threads: int, *, thread_name_prefix: str = "task-worker",
                 resources: Mapping[str, float] | None = None) -> None:
        self.capacity = threads
        # This machine's capacities, e.g. {"GPU": 1}: the manager runs at once only tasks whose needs fit.
        self.resources = None if resources is None else check_resources(resources)
        if self.resources is not None:
            self.offers = [self.resources]  # one worker: this machine (else None, the class's: not accounted)
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=thread_name_prefix)
        self._local = threading.local()  # .handoff: a list while this thread reports an end, else None

    def start(self, call: TaskCall, reporter: AttemptReporter) -> None:
        handoff = getattr(self._local, "handoff", None)
        if handoff is not None and not handoff:
            handoff.append((call, reporter))
            return
        self._pool.submit(self._run, call, reporter)

    def decline_handoff(self) -> None:
        """From now until this thread's report ends, attempts started on it go to the pool."""
        self._local.handoff = None

    def _run(self, call: TaskCall, reporter: AttemptReporter) -> None:
        local = self._local
        while True:
            if not reporter.attempt_starting(call):
                return
            ok, value = _attempt(call)
            local.handoff = handoff = []
            try:
                reporter.attempt_finished(call, ok, value)
            except BaseException:  # noqa: BLE001 - the manager's hook never raises; if it did, keep the thread
                _log.exception("reporting an attempt's end raised")
            finally:
                local.handoff = None
            if not handoff:
                return
            call, reporter = handoff[0]

    def shutdown(self, wait: bool = True) -> None:
        # From one of its own threads (a callback that shuts the manager down) it cannot wait for itself.
        own = threading.current_thread() in getattr(self._pool, "_threads", ())
        self._pool.shutdown(wait=wait and not own)

    fixed_offers = True  # a machine's capacities do not grow: a need beyond them is refused at submit

    def describe(self) -> str:
        offers = "" if self.resources is None else f", resources={{{format_resources(self.resources)}}}"
        return f"ThreadExecutor(threads={self.capacity}{offers})"


def _attempt(call: TaskCall) -> tuple[bool, Any]:
    try:
        return True, call.run()
    except BaseException as exc:  # noqa: BLE001 - every failure is the task's result
        return False, exc
