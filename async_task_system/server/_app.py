"""The FastAPI app: routes onto ``TaskService``, bearer auth, bounded bodies, JSON errors."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
from collections.abc import AsyncIterator, Iterable
from typing import Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import QueueFullError
from ._auth import TOKEN_ENV, is_loopback, token_matches
from ._models import (
    ErrorBody,
    Health,
    RunRequest,
    RunView,
    TaskPage,
    TaskRequest,
    TaskStatusName,
    TaskTypeView,
    TaskView,
)
from ._registry import ParameterError, TaskTypeError
from ._service import DEFAULT_RUN_TIMEOUT, TaskService
from ._store import FINAL

__all__ = ["ApiError", "create_app"]


class ApiError(Exception):
    """An error answer: HTTP status, short code, message, and extra fields of ``ErrorBody``."""

    def __init__(self, status: int, error: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.body = status, {"error": error, "message": message, **extra}


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {400: "Unknown task type", 401: "Missing or wrong bearer token", 404: "No such id",
            413: "Request body too large", 422: "Invalid request", 503: "Queue full"}
    return {code: {"model": ErrorBody, "description": text[code]} for code in codes}


class _BodyLimit:
    """Answers 413 to a request body over ``limit`` bytes (declared or streamed)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            return await self._refuse(send)
        received = 0

        async def counted() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps({"error": "body_too_large", "message": f"request bodies are limited to {self.limit} "
                           "bytes; send smaller parameters (large inputs belong in storage the tool reads)"})
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body.encode()})


class _TooLarge(Exception):
    pass


def create_app(
    tools: Iterable[Any] = (),
    managed_agents: Iterable[Any] = (),
    model: Any = None,
    *,
    token: str | None = None,
    db_path: str = "async_agent.db",
    max_workers: int = 4,
    max_unfinished: int = 1000,
    max_body_bytes: int = 1_000_000,
    max_result_bytes: int = 1_000_000,
    max_wait_seconds: float = 60.0,
    max_concurrent_runs: int = 1,
    agent_kwargs: dict[str, Any] | None = None,
    run_timeout_seconds: float | None = DEFAULT_RUN_TIMEOUT,
) -> FastAPI:
    """The task service as a FastAPI app (serve it with uvicorn).

    Only ``tools`` (smolagents ``Tool`` objects) and ``managed_agents`` run, by name.
    ``token`` (default: the ``ASYNC_AGENT_TOKEN`` environment variable) protects every
    route but ``/health``; without one, requests reaching a non-loopback address are refused.
    ``model`` enables ``POST /runs`` (an AsyncAgent over the same tools and agents; its code runs in a
    child process; ``run_timeout_seconds`` bounds each run).
    Records live in the SQLite file ``db_path``.
    """
    if token is None:
        token = os.environ.get(TOKEN_ENV) or None
    service = TaskService(
        tools=tools, managed_agents=managed_agents, model=model, db_path=db_path, max_workers=max_workers,
        max_unfinished=max_unfinished, max_result_bytes=max_result_bytes,
        max_concurrent_runs=max_concurrent_runs, agent_kwargs=agent_kwargs, run_timeout_seconds=run_timeout_seconds,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        service.close()

    app = FastAPI(
        title="async_task_system task service", version="0.1.0", lifespan=lifespan,
        description="Run registered smolagents tools and agents in the background; poll or long-poll "
        "for their results. Send `Authorization: Bearer <token>` when the server has a token.",
    )
    app.state.service = service
    app.add_middleware(_BodyLimit, limit=max_body_bytes)

    async def authorize(request: Request) -> None:
        if token is None:
            server = request.scope.get("server")
            if server and _is_ip(server[0]) and not is_loopback(server[0]):
                raise ApiError(401, "token_required", f"this server listens on {server[0]} without a token, "
                               f"so it answers nobody; restart it with {TOKEN_ENV} set")
            return
        if not token_matches(token, request.headers.get("authorization")):
            raise ApiError(401, "unauthorized", "send the header `Authorization: Bearer <token>` with the "
                           f"server's token (its {TOKEN_ENV})")

    guarded = [Depends(authorize)]

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse(exc.body, status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = jsonable_encoder(exc.errors(), custom_encoder={Exception: str})
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        field = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path"))
        message = f"{field or 'request'}: {first.get('msg')}"
        if len(errors) > 1:
            message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''} in details)"
        details = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in errors]
        return JSONResponse({"error": "invalid_request", "message": message, "field": field or None,
                             "details": details}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 400:  # FastAPI's "error parsing the body": the body is not JSON
            return JSONResponse({"error": "invalid_request", "field": "body", "message": "body: the request "
                                 "body is not valid JSON (send UTF-8 JSON with Content-Type: application/json)"},
                                status_code=422)
        if exc.status_code == 404:
            message = f"no route {request.method} {request.url.path}; see /docs for the API"
            if request.url.path.startswith("/runs") and model is None:
                message += " (/runs is off: this server was started without a model)"
        elif exc.status_code == 405:
            allowed = _allowed_methods(request)
            headers["Allow"] = ", ".join(allowed)
            message = f"{request.method} is not allowed on {request.url.path}; allowed: {', '.join(allowed)}"
        return JSONResponse({"error": code, "message": message}, status_code=exc.status_code,
                            headers=headers or None)

    @app.get("/health", response_model=Health, operation_id="health", responses={503: {"model": Health, "description": "Queue full"}})
    async def health() -> JSONResponse:
        """Queue and worker counts; 503 while the queue is at its bound (new tasks would be refused)."""
        body = service.health()
        return JSONResponse(body, status_code=503 if body["status"] == "overloaded" else 200)

    @app.get("/task-types", response_model=list[TaskTypeView], dependencies=guarded, operation_id="task_types",
             responses=_errors(401))
    async def task_types() -> list[dict[str, Any]]:
        """The registered tools and managed agents: the only things a task can run."""
        return service.registry.describe()

    @app.post("/tasks", response_model=TaskView, status_code=202, dependencies=guarded, operation_id="submit_task",
              responses={**_errors(400, 401, 413, 422, 503), 202: {"links": {
                  "GetTask": {"operationId": "get_task", "parameters": {"task_id": "$response.body#/id"}},
                  "CancelTask": {"operationId": "cancel_task", "parameters": {"task_id": "$response.body#/id"}}}}})
    async def submit_task(request: TaskRequest) -> dict[str, Any]:
        """Queue a registered tool or agent; answers at once with the task's id and status."""
        try:
            return service.submit(request.task_type, request.description, request.parameters,
                                  request.priority, request.timeout_seconds)
        except TaskTypeError as exc:
            raise ApiError(400, "unknown_task_type", str(exc), field="task_type", registered=exc.registered)
        except ParameterError as exc:
            raise ApiError(422, "invalid_parameters", str(exc), field=exc.field)
        except QueueFullError as exc:
            raise ApiError(503, "queue_full", f"{exc}. Retry later.")

    @app.get("/tasks", response_model=TaskPage, dependencies=guarded, operation_id="list_tasks",
             responses=_errors(401, 422))
    async def list_tasks(
        status: TaskStatusName | None = Query(None, description="only tasks in this status"),
        limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=1_000_000_000),
    ) -> dict[str, Any]:
        """Task records, newest first, a page at a time."""
        items, total = service.store.list_tasks(status, limit, offset)
        following = offset + len(items)
        return {"items": items, "total": total, "limit": limit, "offset": offset,
                "next_offset": following if following < total else None}

    @app.get("/tasks/{task_id}", response_model=TaskView, dependencies=guarded, operation_id="get_task",
             responses=_errors(401, 404, 422))
    async def get_task(task_id: str, wait: float = Query(
            0, ge=0, le=max_wait_seconds,
            description="seconds to wait for the task to end before answering (long-poll)")) -> dict[str, Any]:
        """A task record. With ``wait``, answers as soon as the task ends, or after ``wait`` seconds."""
        return await _long_poll(service, task_id, wait, service.get, "task")

    @app.delete("/tasks/{task_id}", response_model=TaskView, dependencies=guarded, operation_id="cancel_task",
                responses=_errors(401, 404))
    async def cancel_task(task_id: str) -> dict[str, Any]:
        """Cancel a task (idempotent); answers with its record. A finished task stays as it was."""
        record = service.cancel(task_id)
        if record is None:
            raise _unknown("task", task_id)
        return record

    if model is not None:  # without a model the /runs routes do not exist (404 says why)
        _add_run_routes(app, service, guarded, max_wait_seconds)
    _document_task_types(app, service)
    return app


def _add_run_routes(app: FastAPI, service: TaskService, guarded: list[Any], max_wait_seconds: float) -> None:
    @app.post("/runs", response_model=RunView, status_code=202, dependencies=guarded, operation_id="start_run",
              responses={**_errors(401, 413, 422, 503), 202: {"links": {
                  "GetRun": {"operationId": "get_run", "parameters": {"run_id": "$response.body#/id"}},
                  "CancelRun": {"operationId": "cancel_run", "parameters": {"run_id": "$response.body#/id"}}}}})
    async def start_run(request: RunRequest) -> dict[str, Any]:
        """Run an AsyncAgent on ``prompt`` in the background, with the registered tools and agents."""
        try:
            return service.start_run(request.prompt, request.max_steps)
        except QueueFullError as exc:
            raise ApiError(503, "queue_full", f"{exc}. Retry later.")

    @app.delete("/runs/{run_id}", response_model=RunView, dependencies=guarded, operation_id="cancel_run",
                responses=_errors(401, 404))
    async def cancel_run(run_id: str) -> dict[str, Any]:
        """Cancel a run (idempotent): its agent stops at its next step, its subtasks are cancelled."""
        record = service.cancel_run(run_id)
        if record is None:
            raise _unknown("run", run_id)
        return record

    @app.get("/runs/{run_id}", response_model=RunView, dependencies=guarded, operation_id="get_run",
             responses=_errors(401, 404, 422))
    async def get_run(run_id: str, wait: float = Query(
            0, ge=0, le=max_wait_seconds, description="seconds to wait for the run to end (long-poll)")) -> dict:
        """A run: status, subtasks so far, final answer and token usage once it ends."""
        return await _long_poll(service, run_id, wait, service.get_run, "run")


def _document_task_types(app: FastAPI, service: TaskService) -> None:
    """List the registered names as the enum of ``task_type`` in the OpenAPI schema (docs only:
    validation stays in the service, so an unknown name gets the 400 that lists them)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            prop = schema["components"]["schemas"]["TaskRequest"]["properties"]["task_type"]
            prop["enum"] = service.registry.names
            examples = [{"task_type": t["name"], "description": f"an example {t['kind']} task",
                         "parameters": _example_parameters(t["inputs"]) if t["kind"] == "tool" else {}}
                        for t in service.registry.describe()]
            schema["components"]["schemas"]["TaskRequest"]["examples"] = examples
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


async def _long_poll(service: TaskService, key: str, wait: float, read: Any, what: str) -> dict[str, Any]:
    record = read(key)
    if record is None:
        raise _unknown(what, key)
    if wait <= 0 or record["status"] in FINAL:
        return record
    loop = asyncio.get_running_loop()
    ended = asyncio.Event()

    def wake() -> None:  # from a worker thread
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(ended.set)

    service.watch(key, wake)
    try:
        record = read(key)  # it may have ended between the first read and watch()
        if record["status"] not in FINAL:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ended.wait(), wait)
            record = read(key)
    finally:
        service.unwatch(key, wake)
    return record


def _unknown(what: str, key: str) -> ApiError:
    listing = "GET /tasks" if what == "task" else "the id POST /runs answered"
    return ApiError(404, "not_found", f"no {what} with id {key!r}; ids look like "
                    f"{'t1_1' if what == 'task' else 'r1_1'} (see {listing})")


_EXAMPLE_VALUES = {"string": "text", "integer": 1, "number": 0.5, "boolean": True, "array": [], "object": {}}


def _example_parameters(inputs: dict[str, Any]) -> dict[str, Any]:
    """Valid parameters for a tool (its required inputs with a sample value of their type)."""
    out = {}
    for name, spec in inputs.items():
        if not spec.get("nullable"):
            kind = spec.get("type", "any")
            out[name] = _EXAMPLE_VALUES.get(kind if isinstance(kind, str) else kind[0], "text")
    return out


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route accepts on this path (Starlette's 405 names only the first route's)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches({**request.scope, "method": "\0"})
        if match is not Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False
