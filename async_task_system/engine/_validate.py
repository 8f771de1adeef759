"""Checks of what callers pass to ``TaskManager``: each error names the parameter and what it accepts."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from ..errors import InvalidArgumentError

__all__ = ["check_int", "check_seconds", "check_ids", "check_retry_on", "check_limits"]


def check_int(name: str, value: Any, *, minimum: int | None = None) -> int:
    if type(value) is int and (minimum is None or value >= minimum):
        return value  # the common case, first
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if minimum is not None and value < minimum:
        raise InvalidArgumentError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_seconds(name: str, value: Any, *, allow_zero: bool = False) -> float | None:
    """None, or a finite positive number of seconds."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidArgumentError(
            f"{name} must be a number of seconds or None, got {type(value).__name__} {value!r}"
        )
    if math.isnan(value) or value < 0 or (value == 0 and not allow_zero):
        accepted = ">= 0" if allow_zero else "> 0"
        raise InvalidArgumentError(f"{name} must be {accepted} seconds or None, got {value!r}")
    return float(value)


def check_ids(name: str, value: Any) -> list[str]:
    """A task id or an iterable of them, as a list of strings."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, (bytes, dict)) or not isinstance(value, Iterable):
        raise InvalidArgumentError(
            f"{name} must be a task id (str) or a list of task ids, got {type(value).__name__} {value!r}"
        )
    ids = list(value)
    for item in ids:
        if not isinstance(item, str):
            raise InvalidArgumentError(
                f"{name} must contain task ids as str, got {type(item).__name__} {item!r}"
            )
    return ids


def check_retry_on(value: Any) -> Any:
    if callable(value) and not isinstance(value, type):
        return value
    if isinstance(value, type):
        value = (value,)
    if isinstance(value, tuple) and all(isinstance(v, type) and issubclass(v, BaseException) for v in value):
        return value
    raise InvalidArgumentError(
        "retry_on must be an exception class, a tuple of them, or a predicate exc -> bool, "
        f"got {value!r}"
    )


def check_limits(value: Any) -> dict[str, int]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidArgumentError(
            f"name_limits must be a dict of task name -> max running, got {type(value).__name__}"
        )
    for key, limit in value.items():
        if not isinstance(key, str):
            raise InvalidArgumentError(f"name_limits keys must be task names (str), got {key!r}")
        check_int(f"name_limits[{key!r}]", limit, minimum=1)
    return dict(value)
