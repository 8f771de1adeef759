"""``MODULE:ATTR`` specs on the command line (``--tools mypkg.tools:TOOLS``): import and fetch the object.

The working folder is importable, as with ``python -m``: a console script does not put it on
``sys.path``, so ``mypkg/`` next to where the command runs would otherwise not be found.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

__all__ = ["load_spec", "tools_from", "agents_from", "name_resources_from", "NAME_RESOURCES_HELP"]


def load_spec(spec: str, flag: str) -> Any:
    """The object ``spec`` (``module:attr``, attr may be dotted) names. ``flag`` names the option in errors."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"{flag} takes MODULE:ATTR (e.g. mypkg.tools:TOOLS), got {spec!r}")
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ImportError(f"{flag} {spec}: cannot import {module_name!r} ({exc})") from exc
    except Exception as exc:  # the module itself fails: name the option, not only the error
        raise ImportError(f"{flag} {spec}: importing {module_name!r} failed: {type(exc).__name__}: {exc}") from exc
    except SystemExit as exc:  # a script's sys.exit() at import: it must not end the command quietly, rc 0
        raise ImportError(f"{flag} {spec}: importing {module_name!r} called sys.exit({exc.code!r}); point "
                          f"{flag} at a module that defines the object without running a program "
                          "(keep that under if __name__ == '__main__':)") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise AttributeError(f"{flag} {spec}: module {module_name!r} has no attribute {attr!r}") from None
    return obj


def tools_from(obj: Any, spec: str = "") -> list[Any]:
    """A tool, a list or tuple of tools, or a zero-argument function returning either: as a list.
    ``spec`` (``MODULE:ATTR``) names the function in the error if calling it fails."""
    if isinstance(obj, (list, tuple)):
        return list(obj)
    if callable(obj) and not hasattr(obj, "forward") and not hasattr(obj, "run"):
        try:
            obj = obj()
        except Exception as exc:
            raise ValueError(f"--tools {spec}: it is a function, called with no arguments to get the tools, "
                             f"and it raised {type(exc).__name__}: {exc}") from exc
        return list(obj) if isinstance(obj, (list, tuple)) else [obj]
    return [obj]


def agents_from(obj: Any) -> list[Any]:
    """An agent or agent factory, or a list or tuple of them, as a list (a factory stays a factory:
    ``create_async_agent`` calls it once per task, and only a factory travels to Dask)."""
    return list(obj) if isinstance(obj, (list, tuple)) else [obj]


NAME_RESOURCES_HELP = ("what a tool or managed agent needs to run, by name: NAME=RESOURCE:QTY[,RESOURCE:QTY], e.g. "
                       "render=GPU:1 or train=GPU:2,licence:1 (QTY defaults to 1; repeatable). On Dask, only "
                       "workers offering them run it (dask worker --resources \"GPU=1\")")


def name_resources_from(values: list[str], flag: str = "--name-resources") -> dict[str, dict[str, float]]:
    """``["render=GPU:1", "train=GPU:2,licence:1"]`` as ``{"render": {"GPU": 1.0}, ...}``; ``ValueError``
    naming the bad entry and the accepted form. Names and quantities are checked by the engine."""
    from .engine import check_name_resources
    from .errors import InvalidArgumentError

    out: dict[str, dict[str, float]] = {}
    for value in values:
        name, sep, needs = value.partition("=")
        if not sep or not name.strip() or not needs.strip():
            raise ValueError(f"{flag} takes NAME=RESOURCE:QTY[,RESOURCE:QTY] (e.g. render=GPU:1), got {value!r}")
        parsed: dict[str, float] = {}
        for part in needs.split(","):
            resource, _, qty = part.strip().partition(":")
            try:
                parsed[resource.strip()] = float(qty) if qty.strip() else 1.0
            except ValueError:
                raise ValueError(f"{flag} {value}: the quantity of {resource.strip()!r} must be a number, "
                                 f"got {qty!r}") from None
        out.setdefault(name.strip(), {}).update(parsed)
    try:
        return check_name_resources(out, flag)
    except InvalidArgumentError as exc:
        raise ValueError(str(exc)) from None
