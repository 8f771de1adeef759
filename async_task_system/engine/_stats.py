"""Bounded samples of queue wait and run time, summarised as percentiles."""

from __future__ import annotations

from collections import deque

__all__ = ["Samples"]


class Samples:
    """The last ``size`` values of one measure (seconds)."""

    __slots__ = ("_values",)

    def __init__(self, size: int = 10_000) -> None:
        self._values: deque[float] = deque(maxlen=size)

    def add(self, value: float) -> None:
        self._values.append(value)

    def summary(self) -> dict[str, float | None]:
        """p50/p90/p99 and max by the nearest-rank method; None when there is no sample."""
        values = sorted(self._values)
        if not values:
            return {"p50": None, "p90": None, "p99": None, "max": None}

        def rank(q: float) -> float:
            return values[min(len(values) - 1, max(0, int(q * len(values) + 0.5) - 1))]

        return {"p50": rank(0.50), "p90": rank(0.90), "p99": rank(0.99), "max": values[-1]}
