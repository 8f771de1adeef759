"""Resource accounting: what an executor's workers offer, what running attempts hold, who waits.

An executor that offers resources (``Executor.offers``: one dict per worker, e.g.
``[{"GPU": 1.0}, {}]``) gets one ``Account`` in its manager. The manager acquires a task's
needs when it hands an attempt over and releases them when the attempt reports back (an
abandoned attempt still holds them: its thread or worker is still busy with them).
Holdings are counted per resource over all workers; whether a need can *ever* run is
asked of each worker (``fits``), so ``{"GPU": 2}`` on two workers of one GPU each waits
with a reason. Tasks that need resources queue in ``Needy`` (per lane), apart from the
plain ready heap, so dispatch stays as it was while no task needs anything.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping
from typing import Any

from ._info import TaskStatus
from ._resources import unmet

__all__ = ["Account", "Needy", "read_offers"]

_EPS = 1e-9  # float sums of quantities such as 0.1 drift: what is within this of the offer fits


def read_offers(value: Any) -> list[dict[str, float]] | None:
    """An executor's ``offers`` as plain per-worker dicts, or None (not accounted).

    Entries that are not mappings, names that are not str and quantities that are not finite
    numbers > 0 are dropped: an executor's view must not break dispatch. Raises ``TypeError``
    if it is not a list or tuple at all."""
    if value is None:
        return None
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"offers must be a list of per-worker dicts, got {type(value).__name__}")
    offers = []
    for worker in value:
        if isinstance(worker, Mapping):
            offers.append({name: amount for name, amount in
                           ((name, _amount(quantity)) for name, quantity in list(worker.items()))
                           if isinstance(name, str) and amount is not None})
    return offers


def _amount(quantity: Any) -> float | None:
    if isinstance(quantity, bool) or not isinstance(quantity, (int, float)):
        return None
    try:
        amount = float(quantity)
    except (OverflowError, ValueError, TypeError):  # an int too big for a float, a broken subclass
        return None
    return amount if 0 < amount < math.inf else None


class Account:
    """Per resource: offered (over all workers), held (by attempts in flight); and the tasks no worker can run."""

    __slots__ = ("offers", "offered", "held", "fixed", "unplaced", "_pruned_at", "_missing")

    def __init__(self, offers: list[dict[str, float]], fixed: bool) -> None:
        self.offers: list[dict[str, float]] = []
        self.offered: dict[str, float] = {}
        self.held: dict[str, float] = {}
        self.fixed = fixed  # the offers never change (a local pool): unplaceable needs are refused at submit
        self.unplaced: list[tuple[int, int, Any]] = []  # heap entries of tasks no worker offers enough for
        self._pruned_at = 64
        self._missing: dict[tuple[tuple[str, float], ...], str | None] = {}  # by needs, for these offers
        self.load(offers)

    def load(self, offers: list[dict[str, float]]) -> bool:
        """Take a new view of the workers; True if it changed."""
        if offers == self.offers:
            return False
        self.offers = offers
        self._missing = {}
        totals: dict[str, float] = {}
        for offer in offers:
            for name, quantity in offer.items():
                totals[name] = totals.get(name, 0.0) + quantity
        self.offered = totals
        return True

    def missing(self, needs: Mapping[str, float]) -> str | None:
        """None if some worker offers ``needs``; else why not: ``"no worker offers GPU=1 (...)"``."""
        key = tuple(needs.items())
        if key in self._missing:
            return self._missing[key]
        if len(self._missing) > 1000:
            self._missing.clear()
        reason = self._missing[key] = unmet(needs, self.offers)
        return reason

    def fits_now(self, needs: Mapping[str, float], reserved: Mapping[str, float]) -> bool:
        """Whether ``needs`` fit in what is offered less what is held and ``reserved``."""
        offered, held = self.offered, self.held
        for name, quantity in needs.items():
            total = offered.get(name, 0.0)
            if held.get(name, 0.0) + reserved.get(name, 0.0) + quantity > total + _EPS * max(1.0, total):
                return False
        return True

    def acquire(self, needs: Mapping[str, float]) -> None:
        held = self.held
        for name, quantity in needs.items():
            held[name] = held.get(name, 0.0) + quantity

    def release(self, needs: Mapping[str, float]) -> None:
        held = self.held
        for name, quantity in needs.items():
            left = held.get(name, 0.0) - quantity
            if left > _EPS * max(1.0, quantity):
                held[name] = left
            else:
                held.pop(name, None)

    def park(self, entry: tuple[int, int, Any]) -> None:
        """Keep a task that no worker can run until the offers change (stale entries pruned now and then)."""
        self.unplaced.append(entry)
        if len(self.unplaced) >= self._pruned_at:
            self.unplaced = [e for e in self.unplaced if _live(e[2])]
            self._pruned_at = max(64, 2 * len(self.unplaced))

    def unpark(self) -> list[tuple[int, int, Any]]:
        """The live tasks kept by ``park``, all of them (the caller re-examines each)."""
        entries, self.unplaced = [e for e in self.unplaced if _live(e[2])], []
        self._pruned_at = 64
        return entries


class Needy:
    """One lane's ready tasks that need resources: a heap per set of resource names they need.

    Dispatch looks at each heap's best task; when that one must wait, every task of its heap
    would wait too (it reserves what it needs), so the heap is passed over for that round: a
    round costs one look per heap, however many tasks wait in it."""

    __slots__ = ("heaps",)

    def __init__(self) -> None:
        self.heaps: dict[tuple[str, ...], list[tuple[int, int, Any]]] = {}

    def push(self, entry: tuple[int, int, Any]) -> None:
        key = tuple(sorted(entry[2].resources))
        heap = self.heaps.get(key)
        if heap is None:
            self.heaps[key] = [entry]
        else:
            heapq.heappush(heap, entry)

    def best(self, closed: set[tuple[str, ...]]) -> tuple[tuple[str, ...], tuple[int, int, Any]] | None:
        """The best head over the heaps not in ``closed`` (empty heaps are dropped here)."""
        found = None
        for key in [k for k, heap in self.heaps.items() if not heap]:
            del self.heaps[key]
        for key, heap in self.heaps.items():
            if key not in closed and (found is None or heap[0][:2] < found[1][:2]):
                found = (key, heap[0])
        return found

    def pop(self, key: tuple[str, ...]) -> tuple[int, int, Any]:
        return heapq.heappop(self.heaps[key])

    def entries(self) -> Iterable[tuple[int, int, Any]]:
        for heap in self.heaps.values():
            yield from heap


def _live(task: Any) -> bool:
    return task.status is TaskStatus.PENDING and not task.inflight
