"""Resources an attempt needs (``{"GPU": 1}``) and what a worker offers, the Dask way.

A worker offers named quantities (``dask worker --resources "GPU=1,licence=2"``); an
attempt that needs some runs only on a worker that offers at least as much of each,
and holds them while it runs. Names are free-form; quantities are positive and finite.
The manager checks what ``submit(resources=)`` and ``name_resources`` say here; executors
read the checked ``TaskCall.resources``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import InvalidArgumentError
from ._validate import describe, exact_str, quote

__all__ = ["check_resources", "check_name_resources", "fits", "format_resources", "unmet"]


def check_resources(value: Any, what: str = "resources") -> dict[str, float]:
    """``value`` as ``{name: quantity}``, or ``InvalidArgumentError`` saying what is accepted."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(
            f"{what} must be a dict of resource name -> quantity such as {{'GPU': 1}}, got {describe(value)}"
        )
    try:
        items = list(value.items())
    except Exception as exc:  # noqa: BLE001 - a mapping subclass whose items() raises
        raise InvalidArgumentError(
            f"{what}: could not read the mapping ({type(exc).__name__}); pass a plain dict"
        ) from None
    out: dict[str, float] = {}
    for name, quantity in items:
        if isinstance(name, str):
            name = exact_str(name)
        if not isinstance(name, str) or not name or len(name) > 100 or not name.isprintable():
            raise InvalidArgumentError(
                f"{what}: a resource name must be a printable str of 1 to 100 characters such as 'GPU', "
                f"got {quote(name)}"
            )
        amount = _quantity(quantity)
        if amount is None:
            raise InvalidArgumentError(
                f"{what}: the quantity of {quote(name)} must be a finite number > 0, got {quote(quantity)}"
            )
        out[name] = amount
    return out


def _quantity(value: Any) -> float | None:
    """A positive finite quantity as a float (no subclass code runs), else None."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, int):
            amount = int.__float__(value)
        elif isinstance(value, float):
            amount = float.__float__(value)
        else:
            return None
    except OverflowError:  # an int too large for a float
        return None
    return amount if math.isfinite(amount) and amount > 0 else None


def check_name_resources(value: Any, what: str = "name_resources") -> dict[str, dict[str, float]]:
    """``TaskManager(name_resources=)``: task name -> the resources its tasks need by default."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(
            f"{what} must be a dict of task name -> resources such as {{'render': {{'GPU': 1}}}}, got "
            f"{describe(value)}"
        )
    out: dict[str, dict[str, float]] = {}
    for name, needs in value.items():
        if not isinstance(name, str) or not name:
            raise InvalidArgumentError(f"{what} keys must be task names (non-empty str), got {describe(name)}")
        out[exact_str(name)] = check_resources(needs, f"{what}[{quote(name[:50])}]")
    return out


def fits(needs: Mapping[str, float], offers: Mapping[str, float]) -> bool:
    """Whether a worker offering ``offers`` can ever run an attempt that needs ``needs``."""
    return all(offers.get(name, 0.0) >= quantity for name, quantity in needs.items())


def unmet(needs: Mapping[str, float], offers: Sequence[Mapping[str, float]]) -> str | None:
    """None if one of the workers' ``offers`` can run ``needs``; else why not:
    ``"no worker offers GPU=2 (the workers offer GPU=1 in all)"``."""
    if not needs or any(fits(needs, offer) for offer in offers):
        return None
    offered: dict[str, float] = {}
    for offer in offers:
        for name, quantity in offer.items():
            offered[name] = offered.get(name, 0.0) + quantity
    return f"no worker offers {format_resources(needs)}" + (
        f" (the workers offer {format_resources(offered)} in all)" if offered else " (the workers offer no resources)")


def format_resources(resources: Mapping[str, float]) -> str:
    """``{"GPU": 1.0, "mem": 0.5}`` -> ``"GPU=1, mem=0.5"``."""
    return ", ".join(f"{name}={quantity:g}" for name, quantity in sorted(resources.items()))
