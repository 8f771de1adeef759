"""Resources an attempt needs (``{"GPU": 1}``) and what a worker offers, the Dask way.

A worker offers named quantities (``dask worker --resources "GPU=1,licence=2"``); an
attempt that needs some runs only on a worker that offers at least as much of each,
and holds them while it runs. Names are free-form; quantities are positive and finite.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..errors import InvalidArgumentError

__all__ = ["check_resources", "call_resources", "fits", "format_resources"]


def check_resources(value: Any, what: str = "resources") -> dict[str, float]:
    """``value`` as ``{name: quantity}``, or ``InvalidArgumentError`` saying what is accepted."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(
            f"{what} must be a dict of resource name -> quantity such as {{'GPU': 1}}, got "
            f"{type(value).__name__} {value!r}"
        )
    out: dict[str, float] = {}
    for name, quantity in value.items():
        if not isinstance(name, str) or not name or not name.isprintable() or len(name) > 100:
            raise InvalidArgumentError(
                f"{what}: a resource name must be a printable str of 1 to 100 characters such as 'GPU', got {name!r}"
            )
        if isinstance(quantity, bool) or not isinstance(quantity, (int, float)) or not (
            math.isfinite(quantity) and quantity > 0
        ):
            raise InvalidArgumentError(
                f"{what}: the quantity of {name!r} must be a finite number > 0, got {quantity!r}"
            )
        out[name] = float(quantity)
    return out


def call_resources(call: Any) -> dict[str, float]:
    """What a ``TaskCall`` needs: its ``resources`` field if it has one, else ``metadata["resources"]``."""
    value = getattr(call, "resources", None)
    if value is None:
        value = (getattr(call, "metadata", None) or {}).get("resources")
    return check_resources(value, f"task {call.task_id} ({call.name}): resources")


def fits(needs: Mapping[str, float], offers: Mapping[str, float]) -> bool:
    """Whether a worker offering ``offers`` can ever run an attempt that needs ``needs``."""
    return all(offers.get(name, 0.0) >= quantity for name, quantity in needs.items())


def format_resources(resources: Mapping[str, float]) -> str:
    """``{"GPU": 1.0, "mem": 0.5}`` -> ``"GPU=1, mem=0.5"``."""
    return ", ".join(f"{name}={quantity:g}" for name, quantity in sorted(resources.items()))
