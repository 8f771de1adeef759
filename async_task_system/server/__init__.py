"""The task service: a REST API (FastAPI) over registered tools and agents, with a durable store.

Needs the ``server`` extra: ``pip install "async_task_system[server]"``.
"""

from __future__ import annotations

try:
    import fastapi  # noqa: F401
    import httpx  # noqa: F401
    import uvicorn  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        f'the task service needs the server extra ({exc.name} is missing): '
        f'pip install "async_task_system[server]"'
    ) from exc

from ._app import ApiError, create_app
from ._service import TaskService
from ._store import Store, StoreLockedError
from .client import ServiceError, TaskClient

__all__ = ["ApiError", "ServiceError", "Store", "StoreLockedError", "TaskClient", "TaskService", "create_app"]
