"""Notes from the workers to the ``DaskExecutor``: which attempts started, and small outcomes.

One topic of the scheduler's event broker carries them. A worker batches its notes (``WorkerNotes``):
an attempt that ends is noted at the worker loop's next turn, together with whatever else is
pending, and with its value if that pickles to at most ``VALUE_LIMIT`` bytes (at most
``NOTE_LIMIT`` for all values of one note). The client then reports the attempt without
fetching its result (a round trip through the scheduler to the worker and back). The note
leaves the worker before Dask's own "task finished" message on the same stream, so it reaches
the client first. A start goes with the worker's next note, or alone once ``START_DELAY`` old.

A note is ``{"worker": address, "started": [key, ...], "done": [[key, pickled value, seconds], ...]}``;
an attempt that failed, or whose value did not fit, is listed with ``None`` for both: the client
waits for Dask's word on it (the value fetched, or the error).
The scheduler keeps the topic's last ``distributed.admin.low-level-log-length`` notes (1,000 by
default), so ``NOTE_LIMIT`` bounds what they hold there (32 MB).
"""

from __future__ import annotations

import asyncio
import contextlib
import pickle
import threading
import time
import weakref
from typing import Any

import distributed
from dask.sizeof import sizeof

__all__ = ["NOTES_TOPIC", "NOTE_LIMIT", "START_DELAY", "VALUE_LIMIT", "WorkerNotes", "notes_of", "pickled_small"]

NOTES_TOPIC = "async_task_system-attempt-notes"
#: Seconds a start note waits on its worker for others (or for its attempt's end) before it goes alone.
START_DELAY = 0.005
#: Largest pickled value that travels in a note, in bytes; a bigger one is fetched from its worker.
VALUE_LIMIT = 8_000
#: Most pickled bytes of values in one note.
NOTE_LIMIT = 32_000


_SCALARS = (type(None), bool, int, float)
_SIZED = (str, bytes)


def pickled_small(value: Any) -> bytes | None:
    """``value`` pickled if it is at most ``VALUE_LIMIT`` bytes and plain ``pickle`` takes it, else None.

    Raises what measuring or pickling it raised if that is no ``Exception`` (``SystemExit``...): such a
    value would stop the worker when Dask measured or sent it, so its attempt fails instead."""
    try:
        kind = type(value)
        if kind in _SCALARS:
            pass
        elif kind in _SIZED:
            if len(value) > VALUE_LIMIT:
                return None
        elif sizeof(value) > 4 * VALUE_LIMIT:
            return None  # surely too big: not worth pickling to find out
        data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 - a value that refuses (or a broken __reduce__/__sizeof__): Dask's way
        return None
    return data if len(data) <= VALUE_LIMIT else None


class WorkerNotes:
    """One worker process's pending notes, sent from its event loop (callable from any thread).

    An ended attempt's note is sent at the loop's next turn, with every note pending then, and
    before Dask's own message that the attempt ended (queued after it on the same loop); on the
    loop itself, at once. A start goes with the next note sent, or alone once it is
    ``START_DELAY`` old (so a short attempt's start costs no message of its own).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._starts: dict[str, float] = {}  # keys whose start is not sent yet -> when, oldest first
        self._ends: list[list[Any]] = []  # [key, pickled value or None (fetch it), seconds or None]
        self._bytes = 0  # of the values in _ends
        self._soon = False  # a send of everything pending is queued on the worker's loop
        self._timer = False  # the loop's timer for old starts is armed

    def started(self, worker: distributed.Worker, key: str) -> None:
        with self._lock:
            self._starts[key] = time.monotonic()
            arm, self._timer = not self._timer, True
        if arm:
            worker.loop.add_callback(self._arm, worker, START_DELAY)

    def ended(self, worker: distributed.Worker, key: str, data: bytes | None = None, took: float | None = None,
              *, ok: bool = True) -> None:
        """``key`` ended: with its value pickled as ``data`` (None: too big, the client fetches it) if
        ``ok``, else with an error (Dask brings it)."""
        data = data if ok else None
        on_loop = worker.thread_id == threading.get_ident()
        with self._lock:
            if data is not None:
                if self._bytes + len(data) > NOTE_LIMIT:
                    data = None  # this note is full: the client fetches it
                else:
                    self._bytes += len(data)
            self._starts.pop(key, None)  # its end says it started
            self._ends.append([key, data, took if ok else None])
            queue = not self._soon and not on_loop
            self._soon = self._soon or queue
        if on_loop:
            self._send(worker)  # before the loop goes on to Dask's own message about it
        elif queue:
            worker.loop.add_callback(self._send, worker)

    def _arm(self, worker: distributed.Worker, delay: float) -> None:
        asyncio.get_running_loop().call_later(delay, self._tick, worker)

    def _tick(self, worker: distributed.Worker) -> None:
        """On the worker's loop: send the starts if the oldest is due, else look again when it is."""
        with self._lock:
            if not self._starts:
                self._timer = False
                return
            age = time.monotonic() - next(iter(self._starts.values()))
        if age < START_DELAY:
            self._arm(worker, START_DELAY - age)
            return
        with self._lock:
            self._timer = False
        self._send(worker, soon=False)

    def _send(self, worker: distributed.Worker, soon: bool = True) -> None:
        """On the worker's loop: one note with everything pending."""
        with self._lock:
            starts, ends = list(self._starts), self._ends
            self._starts.clear()
            self._ends, self._bytes = [], 0
            if soon:
                self._soon = False
        if starts or ends:  # the scheduler adds "worker": the address of the worker whose stream carried it
            with contextlib.suppress(Exception):  # the worker closes: Dask re-runs its attempts, the client sweeps
                worker.log_event(NOTES_TOPIC, {"worker": worker.address, "started": starts, "done": ends})


_lock = threading.Lock()
_by_worker: weakref.WeakKeyDictionary[distributed.Worker, WorkerNotes] = weakref.WeakKeyDictionary()


def notes_of(worker: distributed.Worker) -> WorkerNotes:
    """The ``WorkerNotes`` of ``worker`` (one per worker: an in-process cluster has several in one process)."""
    notes = _by_worker.get(worker)
    if notes is None:
        with _lock:
            notes = _by_worker.setdefault(worker, WorkerNotes())
    return notes
