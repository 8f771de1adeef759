"""Executors: where task attempts run. The thread pool (part of the engine) is the default; Dask is optional."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..engine import AttemptReporter, Executor, TaskCall, ThreadExecutor

if TYPE_CHECKING:
    from ._dask import DaskExecutor

__all__ = ["Executor", "TaskCall", "AttemptReporter", "ThreadExecutor", "DaskExecutor"]


def __getattr__(name: str) -> Any:
    if name == "DaskExecutor":  # imported lazily: dask is an optional extra
        from ._dask import DaskExecutor

        return DaskExecutor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
