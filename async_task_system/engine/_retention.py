"""How long finished records are kept: past a count, those already read; past an age, all."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["Retention"]


class Retention:
    """The finished records a manager still holds, oldest first. Guarded by the manager's lock.

    Records need ``finished_mono`` (time.monotonic() at the end), ``result_read`` and ``id``.
    """

    def __init__(self, max_finished: int, result_ttl: float | None, forget: Callable[[Any], None]) -> None:
        self.max_finished = max_finished
        self.result_ttl = result_ttl
        self._forget = forget
        self._records: deque[Any] = deque()
        self._scan_at = 0  # scan for read records again only once there are more than this

    def add(self, record: Any, now: float) -> None:
        self._records.append(record)
        self.prune(now)

    def next_expiry(self) -> float | None:
        """The monotonic time at which the oldest record expires, if any."""
        if self.result_ttl is None or not self._records:
            return None
        return self._records[0].finished_mono + self.result_ttl

    def prune(self, now: float) -> None:
        """Forget expired records, then read ones beyond ``max_finished`` (in batches: amortised O(1))."""
        records = self._records
        if self.result_ttl is not None:
            while records and now - records[0].finished_mono >= self.result_ttl:
                self._forget(records.popleft())
        if len(records) <= max(self.max_finished, self._scan_at):
            return
        excess = len(records) - self.max_finished
        kept: deque[Any] = deque()
        for record in records:
            if excess > 0 and record.result_read:
                self._forget(record)
                excess -= 1
            else:
                kept.append(record)
        self._records = kept
        self._scan_at = len(kept) + max(1, self.max_finished // 10)
