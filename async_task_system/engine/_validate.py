"""Checks of what callers pass to ``TaskManager``: each error names the parameter and what it accepts.

Messages quote at most ~200 characters of a value, and never let a broken ``__repr__`` escape.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import InvalidArgumentError

__all__ = [
    "MAX_SECONDS", "describe", "quote", "check_int", "check_seconds", "check_ids", "check_retry_on", "check_limits",
    "check_metadata", "exact_str",
]

#: The longest timeout, ttl or wait accepted, in seconds (one year): the timer heap and
#: ``Condition.wait`` only ever see numbers up to this (``threading.TIMEOUT_MAX`` is far above).
MAX_SECONDS = 365 * 24 * 3600.0

_QUOTE = 200
_repr = reprlib.Repr()
_repr.maxstring = _repr.maxother = _QUOTE
_repr.maxlist = _repr.maxtuple = _repr.maxdict = _repr.maxset = 8
_repr.maxlong = 60


def describe(value: Any) -> str:
    """``type repr`` of a value for an error message: short, and safe whatever ``__repr__`` does."""
    return f"{type(value).__name__} {quote(value)}"


def quote(value: Any) -> str:
    """The repr of a value, at most ~200 characters, and safe whatever ``__repr__`` does."""
    try:
        text = _repr.repr(value)
    except Exception as exc:  # noqa: BLE001 - a caller's object: its repr is user code
        text = f"<its repr() raised {type(exc).__name__}>"
    if len(text) > _QUOTE:
        text = text[: _QUOTE - 3] + "..."
    return text


def check_int(name: str, value: Any, *, minimum: int | None = None) -> int:
    if type(value) is int and (minimum is None or value >= minimum):
        return value  # the common case, first
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentError(f"{name} must be an int, got {describe(value)}")
    value = int.__int__(value)  # an exact int: no subclass code runs later, under the lock
    if minimum is not None and value < minimum:
        raise InvalidArgumentError(f"{name} must be >= {minimum}, got {quote(value)}")
    return value


def check_seconds(name: str, value: Any, *, allow_zero: bool = False, allow_none: bool = True,
                  cap: bool = False) -> float | None:
    """The one check of "a number of seconds" (the engine's, the agent layer's, the model's tools').

    Accepts an int or float (not a bool) that is > 0 (``allow_zero``: >= 0) and at most
    ``MAX_SECONDS``, or None (``allow_none``). ``cap``: a larger number (infinity, ``10**400``)
    means "as long as possible" and becomes ``MAX_SECONDS`` instead of an error.
    """
    if value is None and allow_none:
        return None
    accepted = (f"{name} must be a number of seconds {'>= 0' if allow_zero else '> 0'}"
                + ("" if cap else f" and at most {MAX_SECONDS:.0f} (one year)") + (" or None" if allow_none else ""))
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidArgumentError(f"{accepted}, got {describe(value)}")
    try:
        seconds = float(value)
    except OverflowError:  # an int too large for a float: as long as infinity (-10**400: negative)
        seconds = math.inf if value > 0 else -math.inf
    if math.isnan(seconds) or seconds < 0 or (seconds == 0 and not allow_zero):
        raise InvalidArgumentError(f"{accepted}, got {quote(value)}")
    if seconds > MAX_SECONDS:
        if cap:
            return MAX_SECONDS
        raise InvalidArgumentError(f"{accepted}, got {quote(value)}" + ("; pass None for no limit" if allow_none else ""))
    return seconds


def check_ids(name: str, value: Any) -> list[str]:
    """A task id or an iterable of them, as a list of strings."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, (bytes, Mapping)) or not isinstance(value, Iterable):
        raise InvalidArgumentError(
            f"{name} must be a task id (str) or a list of task ids, got {describe(value)}"
        )
    ids = list(value)
    for item in ids:
        if not isinstance(item, str):
            raise InvalidArgumentError(f"{name} must contain task ids as str, got {describe(item)}")
    return [item if type(item) is str else exact_str(item) for item in ids]


def exact_str(value: str) -> str:
    """A ``str`` subclass as a plain ``str``: its ``__hash__``/``__eq__`` never run under the lock."""
    return str.__str__(value)


def check_retry_on(value: Any) -> Any:
    if callable(value) and not isinstance(value, type):
        return value
    if isinstance(value, type):
        value = (value,)
    if isinstance(value, tuple) and all(isinstance(v, type) and issubclass(v, BaseException) for v in value):
        return value
    raise InvalidArgumentError(
        "retry_on must be an exception class, a tuple of them, or a predicate exc -> bool, "
        f"got {describe(value)}"
    )


def check_limits(value: Any) -> dict[str, int]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(f"name_limits must be a dict of task name -> max running, got {describe(value)}")
    limits = {}
    for key, limit in value.items():
        if not isinstance(key, str):
            raise InvalidArgumentError(f"name_limits keys must be task names (str), got {describe(key)}")
        # exact str and int: a subclass's __eq__ or __ge__ would otherwise run under the lock, in _dispatch
        key = exact_str(key)
        limits[key] = check_int(f"name_limits[{key[:50]!r}]", limit, minimum=1)
    return limits


def check_metadata(value: Any) -> dict[str, Any]:
    """None or a mapping with str keys, as a new dict."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(f"metadata must be a dict with str keys or None, got {describe(value)}")
    metadata = dict(value)
    for key in metadata:
        if not isinstance(key, str):
            raise InvalidArgumentError(f"metadata keys must be str, got {describe(key)}")
    if any(type(key) is not str for key in metadata):
        metadata = {exact_str(key): item for key, item in metadata.items()}
    return metadata
