"""Notes from the workers to the ``DaskExecutor``: which attempts started, and small outcomes.

One topic of the scheduler's event broker carries them. A worker batches its notes (``WorkerNotes``):
an attempt's end is noted at once if the worker has nothing else to run, else within ``NOTE_DELAY``
together with the others' ends; its value goes in the note if it pickles to at most ``VALUE_LIMIT``
bytes (at most ``NOTE_LIMIT`` for all values of one note). The client then reports the attempt
without fetching its result (a round trip through the scheduler to the worker and back). A start
goes with the worker's next note, or alone once ``NOTE_DELAY`` old.

A note is ``{"started": [key, ...], "done": [[key, pickled value, seconds, seal], ...]}``, to which the
scheduler adds ``"worker"``, the address of the worker whose stream carried it;
an attempt that failed, or whose value did not fit, is listed with ``None`` for both: the client
waits for Dask's word on it (the value fetched, or the error). A note may reach the client before
or after Dask's own word that the attempt ended; the client waits for the note (see ``_sweep``).
The scheduler keeps the topic's last ``distributed.admin.low-level-log-length`` notes (1,000 by
default), so ``NOTE_LIMIT`` bounds what they hold there (32 MB).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import pickle
import threading
import time
import weakref
from typing import Any

import distributed
from dask.sizeof import sizeof

__all__ = ["NOTES_TOPIC", "NOTE_DELAY", "NOTE_LIMIT", "PREFIX_LENGTH", "attempt_key", "prefix_of", "seal_of", "VALUE_LIMIT", "WorkerNotes", "notes_of", "pickled_small"]

NOTES_TOPIC = "async_task_system-attempt-notes"
#: Seconds a note waits on a busy worker for others to go with it (one message for many: each
#: costs the worker, the scheduler and the client a fixed time).
NOTE_DELAY = 0.02
#: Largest pickled value that travels in a note, in bytes; a bigger one is fetched from its worker.
VALUE_LIMIT = 8_000
#: Most pickled bytes of values in one note.
NOTE_LIMIT = 32_000


_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.")
PREFIX_LENGTH = 8


def attempt_key(name: str, task_id: str, attempt: int, prefix: str, number: int) -> str:
    """The Dask key of an attempt: ``{name}-{task id}-a{attempt}-{executor prefix}{number}``.

    The name is cut to 60 characters, each outside ``[A-Za-z0-9_.]`` made ``_`` (a lone surrogate in
    a key breaks the client's connection; ``-`` would split Dask's key groups)."""
    safe = "".join(c if c in _KEY_CHARS else "_" for c in name[:60]) or "task"
    return f"{safe}-{task_id}-a{attempt}-{prefix}{number}"


def seal_of(secret: str, key: str, data: bytes) -> bytes:
    """The tag that shows a noted value came from the attempt its executor shipped (the secret travels in
    the attempt, not in notes): another client logging a note on the topic cannot set a task's result."""
    return hmac.new(secret.encode(), key.encode() + data, hashlib.sha256).digest()[:16]


def prefix_of(key: str) -> str:
    """The executor prefix in an ``attempt_key`` (notes are routed to their executor by it)."""
    return key[key.rfind("-") + 1:][:PREFIX_LENGTH]


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
    """One worker's pending notes, sent from its event loop (callable from any thread).

    An attempt's end is sent at once if nothing else runs or waits on the worker (so a chain of
    dependent tasks waits for no timer); while others do, it waits up to ``NOTE_DELAY`` for their
    ends to go with it. A start goes with the next note, or alone once ``NOTE_DELAY`` old (a short
    attempt's start is never sent: its end says it).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._starts: dict[str, float] = {}  # keys whose start is not sent yet -> when, oldest first
        self._ends: list[list[Any]] = []  # [key, pickled value or None (fetch it), seconds or None]
        self._first_end = 0.0  # when the oldest of _ends ended
        self._bytes = 0  # of the values in _ends
        self._armed = False  # the loop's timer is set (or being set)

    def started(self, worker: distributed.Worker, key: str) -> None:
        with self._lock:
            self._starts[key] = time.monotonic()
            arm, self._armed = not self._armed, True
        if arm:
            worker.loop.add_callback(self._arm, worker, NOTE_DELAY)

    def ended(self, worker: distributed.Worker, key: str, data: bytes | None = None, took: float | None = None,
              *, ok: bool = True, seal: str = "") -> None:
        """``key`` ended: with its value pickled as ``data`` (None: too big, the client fetches it) if
        ``ok``, else with an error (Dask brings it). ``seal``: the executor's secret the value is sealed with."""
        data = data if ok else None
        with self._lock:
            if data is not None:
                if self._bytes + len(data) > NOTE_LIMIT:
                    data = None  # this note is full: the client fetches it
                else:
                    self._bytes += len(data)
            self._starts.pop(key, None)  # its end says it started
            if not self._ends:
                self._first_end = time.monotonic()
            self._ends.append([key, data, took if ok else None] + ([seal_of(seal, key, data)] if data is not None else []))
            now = not _others_busy(worker)
            arm = not now and not self._armed
            self._armed = self._armed or arm
        if now:
            if worker.thread_id == threading.get_ident():
                self._send(worker)
            else:
                worker.loop.add_callback(self._send, worker)
        elif arm:
            worker.loop.add_callback(self._arm, worker, NOTE_DELAY)

    def _arm(self, worker: distributed.Worker, delay: float) -> None:
        asyncio.get_running_loop().call_later(delay, self._tick, worker)

    def _tick(self, worker: distributed.Worker) -> None:
        """On the worker's loop: send what is pending if its oldest is due, else look again when it is."""
        with self._lock:
            times = [next(iter(self._starts.values()))] if self._starts else []  # the oldest start
            if self._ends:
                times.append(self._first_end)
            if not times:
                self._armed = False
                return
            wait = min(times) + NOTE_DELAY - time.monotonic()
            if wait <= 0:
                self._armed = False
        if wait > 0:
            self._arm(worker, wait)
        else:
            self._send(worker)

    def _send(self, worker: distributed.Worker) -> None:
        """On the worker's loop: one note with everything pending, if anything is."""
        with self._lock:
            starts, ends = list(self._starts), self._ends
            self._starts.clear()
            self._ends, self._bytes = [], 0
        if starts or ends:  # the scheduler adds "worker": the address of the worker whose stream carried it
            with contextlib.suppress(Exception):  # the worker closes: Dask re-runs its attempts, the client sweeps
                worker.log_event(NOTES_TOPIC, {"started": starts, "done": ends})


def _others_busy(worker: distributed.Worker) -> bool:
    """Whether the worker runs another task than the one ending now, or has one ready to run."""
    try:
        state = worker.state
        return state.executing_count > 1 or bool(state.ready)
    except Exception:  # noqa: BLE001 - a Dask without these: send at once, as if idle
        return False


_lock = threading.Lock()
_by_worker: weakref.WeakKeyDictionary[distributed.Worker, WorkerNotes] = weakref.WeakKeyDictionary()


def notes_of(worker: distributed.Worker) -> WorkerNotes:
    """The ``WorkerNotes`` of ``worker`` (one per worker: an in-process cluster has several in one process)."""
    notes = _by_worker.get(worker)
    if notes is None:
        with _lock:
            notes = _by_worker.setdefault(worker, WorkerNotes())
    return notes
