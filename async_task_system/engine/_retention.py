"""How long finished records are kept: at most ``max_finished`` of them (oldest go first), none past ``result_ttl``."""

from __future__ import annotations

from collections import deque
from typing import Any

__all__ = ["Retention"]


class Retention:
    """The finished records a manager still holds, oldest first. Guarded by the manager's lock.

    Records need ``finished_mono`` (time.monotonic() at the end) and ``id``; forgetting one
    removes it from ``tasks``. Every operation is O(1) per record forgotten.
    """

    def __init__(self, max_finished: int, result_ttl: float | None, tasks: dict[str, Any]) -> None:
        self.max_finished = max_finished
        self.result_ttl = result_ttl
        self.forgotten = 0  # records forgotten so far (counted in the statistics)
        self._tasks = tasks
        self._records: deque[Any] = deque()

    def add(self, record: Any, now: float) -> bool:
        """Keep ``record``; True if it is the only one (the clock must learn of a new expiry)."""
        self._records.append(record)
        self.prune(now)
        return len(self._records) == 1

    def next_expiry(self) -> float | None:
        """The monotonic time at which the oldest record expires, if any."""
        if self.result_ttl is None or not self._records:
            return None
        return self._records[0].finished_mono + self.result_ttl

    def prune(self, now: float) -> None:
        """Forget records past the count, then expired ones, oldest first."""
        records, tasks = self._records, self._tasks
        while len(records) > self.max_finished:
            tasks.pop(records.popleft().id, None)
            self.forgotten += 1
        if self.result_ttl is not None:
            while records and now - records[0].finished_mono >= self.result_ttl:
                tasks.pop(records.popleft().id, None)
                self.forgotten += 1
