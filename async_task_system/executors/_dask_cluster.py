"""What a Dask cluster offers, kept current from the scheduler's events: workers, threads, resources.

One ``ClusterWatch`` per client, shared by the ``DaskExecutor``\\ s on it (a topic has one
handler per client). It is filled from the scheduler once, synchronously, then refreshed
when a worker joins (``WorkerJoinedPlugin``'s event, and the scheduler's ``add-worker``)
or leaves (seen at the next poll, every ``distributed.client.scheduler-info-interval``,
killed workers included), and tells its
executors so (their capacity and their view of resources follow).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import dask
import distributed
from dask.utils import parse_timedelta

from ..engine._resources import unmet
from ._dask_notes import NOTES_TOPIC, prefix_of

if TYPE_CHECKING:
    from ._dask import DaskExecutor

__all__ = ["WorkerInfo", "ClusterWatch", "watch_cluster"]

WORKER_JOINED_TOPIC = "async_task_system-worker-joined"


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """One worker as the scheduler describes it."""

    address: str
    name: str
    threads: int
    resources: Mapping[str, float] = field(default_factory=dict)


class ClusterWatch:
    """The workers of one client's cluster, current to the scheduler's last membership event."""

    def __init__(self, client: distributed.Client) -> None:
        self.client = client
        self._lock = threading.Lock()
        self._workers: dict[str, WorkerInfo] = {}
        self._executors: weakref.WeakSet[DaskExecutor] = weakref.WeakSet()
        self._by_prefix: weakref.WeakValueDictionary[str, DaskExecutor] = weakref.WeakValueDictionary()

    # ------------------------------------------------------------ reads (cheap, no round trip)

    def workers(self) -> dict[str, WorkerInfo]:
        with self._lock:
            return dict(self._workers)

    def threads(self) -> int:
        with self._lock:
            return sum(w.threads for w in self._workers.values())

    def offers(self) -> list[dict[str, float]]:
        """Each worker's resources (``{}`` for a worker without), in address order."""
        return [dict(w.resources) for _, w in sorted(self.workers().items())]

    def resources(self) -> dict[str, float]:
        """Each resource's total over all workers."""
        totals: dict[str, float] = {}
        for worker in self.workers().values():
            for name, quantity in worker.resources.items():
                totals[name] = totals.get(name, 0.0) + quantity
        return totals

    def missing(self, needs: Mapping[str, float]) -> str | None:
        """None if some worker offers ``needs``; else why not ("no worker offers GPU=1 ...")."""
        return unmet(needs, self.offers())

    # ------------------------------------------------------------ updates

    def load(self, identity: Mapping[str, Any]) -> None:
        """Replace the view with the workers in a scheduler ``identity(n_workers=-1)``."""
        workers = {}
        for address, info in (identity.get("workers") or {}).items():
            resources = {str(k): float(v) for k, v in (info.get("resources") or {}).items()}
            workers[address] = WorkerInfo(address, str(info.get("name", address)), int(info.get("nthreads") or 0),
                                          resources)
        with self._lock:
            self._workers = workers

    async def refresh(self) -> None:
        """On the client's loop: fetch every worker's description; tell the executors if it changed."""
        before = self.workers()
        with contextlib.suppress(Exception):  # the scheduler is gone: keep the last view
            self.load(await self.client.scheduler.identity(n_workers=-1))
        if self.workers() != before:
            for executor in self.executors():
                executor._cluster_changed()

    async def poll(self) -> None:
        """On the client's loop, while the client runs: refresh every scheduler-info interval, so
        a worker that left (killed ones too) leaves the view. (The scheduler's own "all" topic
        would say so at once, but subscribing to it would replace a handler of the user's.)"""
        interval = parse_timedelta(dask.config.get("distributed.client.scheduler-info-interval"))
        while self.client.status in ("newly-created", "connecting", "running"):
            await asyncio.sleep(interval)
            if self.executors():
                await self.refresh()

    def executors(self) -> list[DaskExecutor]:
        with self._lock:
            return list(self._executors)

    def add(self, executor: DaskExecutor) -> None:
        with self._lock:
            self._executors.add(executor)
            self._by_prefix[executor.key_prefix] = executor

    def remove(self, executor: DaskExecutor) -> None:
        """``executor`` closed: no more notes or cluster changes for it."""
        with self._lock:
            self._executors.discard(executor)
            self._by_prefix.pop(executor.key_prefix, None)

    def route(self, note: Mapping[str, Any]) -> list[tuple[DaskExecutor, dict[str, Any]]]:
        """A worker's note split by the executor each record is for (the prefix in its key)."""
        parts: dict[str, dict[str, Any]] = {}
        worker = note.get("worker")
        for field_name in ("started", "done"):
            for record in note.get(field_name) or ():
                key = record if field_name == "started" else record[0]
                part = parts.get(prefix := prefix_of(key))
                if part is None:
                    part = parts[prefix] = {"worker": worker, "started": [], "done": []}
                part[field_name].append(record)
        with self._lock:
            return [(executor, part) for prefix, part in parts.items()
                    if (executor := self._by_prefix.get(prefix)) is not None]


_watches_lock = threading.Lock()
_watches: weakref.WeakKeyDictionary[distributed.Client, ClusterWatch] = weakref.WeakKeyDictionary()


def watch_cluster(executor: DaskExecutor, on_notes: Callable[[DaskExecutor, dict[str, Any]], None],
                  plugin: distributed.diagnostics.plugin.WorkerPlugin) -> ClusterWatch:
    """The client's ``ClusterWatch`` (made, filled and subscribed on first use), with ``executor`` in it."""
    client = executor.client
    with _watches_lock:
        watch = _watches.get(client)
        first = watch is None
        if first:
            watch = _watches[client] = ClusterWatch(client)
    watch.add(executor)
    if not first:
        return watch
    watch.load(client.scheduler_info(n_workers=-1))

    async def on_worker_joined(event: Any) -> None:
        await watch.refresh()

    def on_attempt_notes(event: Any) -> None:
        for executor, part in watch.route(event[1]):
            on_notes(executor, part)

    client.subscribe_topic(WORKER_JOINED_TOPIC, on_worker_joined)
    client.subscribe_topic(NOTES_TOPIC, on_attempt_notes)
    client.loop.add_callback(watch.poll)
    client.register_plugin(plugin, name="async_task_system-worker-joined")
    return watch
