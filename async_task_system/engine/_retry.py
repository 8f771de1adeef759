"""Retry policy as small callables over plain numbers, so backoff is tested without sleeping."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Backoff", "ExponentialBackoff", "RetryOn", "should_retry"]

# A backoff maps the number of the attempt that just failed (1, 2, ...) to seconds to wait.
Backoff = Callable[[int], float]
# What to retry: exception classes, or a predicate over the exception.
RetryOn = tuple[type[BaseException], ...] | Callable[[BaseException], bool]


@dataclass(frozen=True, slots=True)
class ExponentialBackoff:
    """``initial * multiplier**(attempt-1)``, capped at ``maximum``, plus up to ``jitter`` of it at random."""

    initial: float = 0.1
    multiplier: float = 2.0
    maximum: float = 30.0
    jitter: float = 0.1  # fraction of the delay added at random: 0.1 means up to +10%
    rng: Callable[[], float] = random.random

    def __call__(self, attempt: int) -> float:
        delay = min(self.maximum, self.initial * self.multiplier ** max(0, attempt - 1))
        return delay * (1.0 + self.jitter * self.rng())


def should_retry(retry_on: RetryOn, exc: BaseException) -> bool:
    """Whether ``exc`` is one the task's policy retries."""
    if isinstance(retry_on, tuple):
        return isinstance(exc, retry_on)
    return bool(retry_on(exc))
