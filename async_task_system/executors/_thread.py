"""The default executor: a ``concurrent.futures.ThreadPoolExecutor``."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from ..engine._call import AttemptReporter, Executor, TaskCall

__all__ = ["ThreadExecutor"]


def _run(call: TaskCall, reporter: AttemptReporter) -> None:
    if not reporter.begin(call):
        return
    try:
        value = call.run()
    except BaseException as exc:  # noqa: BLE001 - every failure is the task's result
        reporter.end(call, False, exc)
    else:
        reporter.end(call, True, value)


class ThreadExecutor(Executor):
    """Runs each attempt on a thread of a pool of ``threads`` threads.

    The manager never hands it more attempts than it has threads, so the pool's
    own FIFO queue stays empty and the manager's priority order holds.
    """

    def __init__(self, threads: int, *, thread_name_prefix: str = "task-worker") -> None:
        self.capacity = threads
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=thread_name_prefix)

    def start(self, call: TaskCall, reporter: AttemptReporter) -> None:
        self._pool.submit(_run, call, reporter)

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait)

    def describe(self) -> str:
        return f"ThreadExecutor(threads={self.capacity})"
