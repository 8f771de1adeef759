"""Messages to tasks running on Dask workers: one ``distributed.Queue`` per task, on the scheduler.

The client side (``DaskMessages.post``) puts into the queue named after the executor and the
task id; the worker side (``DaskInbox.take``, current during each attempt) takes everything
waiting, with the worker's client. A queue is made on first use from either side, so a message
to a task that has not started yet waits for it; ``release`` drops it when the task ends.
"""

from __future__ import annotations

import contextlib
import threading

import distributed

__all__ = ["DaskMessages", "DaskInbox", "queue_name"]


def queue_name(prefix: str, task_id: str) -> str:
    return f"async_task_system-inbox-{prefix}-{task_id}"


class DaskMessages:
    """The submitting side, for one executor (``prefix``) on one client: one queue handle per task."""

    def __init__(self, client: distributed.Client, prefix: str) -> None:
        self._client = client
        self._prefix = prefix
        self._lock = threading.Lock()
        self._queues: dict[str, distributed.Queue] = {}  # task id -> the handle made by the first post

    def post(self, task_id: str, text: str, limit: int) -> int | None:
        """Queue ``text``; return how many now wait, or None (not queued) if ``limit`` already do."""
        with self._lock:
            queue = self._queues.get(task_id)
        if queue is None:
            queue = distributed.Queue(queue_name(self._prefix, task_id), client=self._client)
            with self._lock:
                queue = self._queues.setdefault(task_id, queue)
        waiting = queue.qsize()
        if waiting >= limit:
            return None
        queue.put(text)
        return waiting + 1

    def release(self, task_id: str) -> None:
        """The task's attempt ended: drop this side's handle (the queue goes with the last handle)."""
        with self._lock:
            queue = self._queues.pop(task_id, None)
        if queue is not None:
            with contextlib.suppress(Exception):  # the scheduler is gone: nothing to drop
                queue.close()


class DaskInbox:
    """The worker side, for one attempt: the queue is looked up when first read, dropped at its end."""

    __slots__ = ("_name", "_queue")

    def __init__(self, prefix: str, task_id: str) -> None:
        self._name = queue_name(prefix, task_id)
        self._queue: distributed.Queue | None = None

    def take(self) -> list[str]:
        if self._queue is None:
            self._queue = distributed.Queue(self._name, client=distributed.get_client())
        if not self._queue.qsize():
            return []
        return list(self._queue.get(batch=True))

    def close(self) -> None:
        queue, self._queue = self._queue, None
        if queue is not None:
            with contextlib.suppress(Exception):
                queue.close()
