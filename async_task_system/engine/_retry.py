"""Retry policy as small callables over plain numbers, so backoff is tested without sleeping."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import InvalidArgumentError

__all__ = ["Backoff", "ExponentialBackoff", "RetryOn", "should_retry"]

# A backoff maps the number of the attempt that just failed (1, 2, ...) to seconds to wait.
Backoff = Callable[[int], float]
# What to retry: exception classes, or a predicate over the exception.
RetryOn = tuple[type[BaseException], ...] | Callable[[BaseException], bool]


@dataclass(frozen=True, slots=True)
class ExponentialBackoff:
    """``initial * multiplier**(attempt-1)``, capped at ``maximum``, plus up to ``jitter`` of it at random.

    The cap is applied before exponentiating, so attempt 10,000 costs what attempt 10 does.
    """

    initial: float = 0.1
    multiplier: float = 2.0
    maximum: float = 30.0
    jitter: float = 0.1  # fraction of the delay added at random: 0.1 means up to +10%
    rng: Callable[[], float] = random.random

    def __post_init__(self) -> None:
        for name in ("initial", "multiplier", "maximum", "jitter"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value < 0:
                raise InvalidArgumentError(
                    f"ExponentialBackoff {name} must be a finite number >= 0, got {value!r:.100}")

    def __call__(self, attempt: int) -> float:
        return self._capped(max(0, attempt - 1)) * (1.0 + self.jitter * self.rng())

    def _capped(self, exponent: int) -> float:
        if self.initial == 0 or self.maximum == 0:
            return 0.0
        if self.initial >= self.maximum:
            return self.maximum  # also keeps maximum / initial >= 1 below (it underflowed to 0: log raised)
        if self.multiplier > 1 and exponent >= math.log(self.maximum / self.initial, self.multiplier):
            return self.maximum  # at or past the cap: the power is never computed
        try:
            return min(self.maximum, self.initial * self.multiplier ** exponent)
        except OverflowError:  # a tiny initial (maximum / initial is inf, so the test above never holds)
            return self.maximum


def should_retry(retry_on: RetryOn, exc: BaseException) -> bool:
    """Whether ``exc`` is one the task's policy retries."""
    if isinstance(retry_on, tuple):
        return isinstance(exc, retry_on)
    return bool(retry_on(exc))
