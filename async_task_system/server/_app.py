"""The FastAPI app: routes onto ``TaskService``, bearer auth, bounded bodies, JSON errors."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
from collections.abc import AsyncIterator, Iterable
from typing import Any

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import InvalidArgumentError, QueueFullError
from ._auth import TOKEN_ENV, check_token, is_loopback, token_matches
from ._events import sse_frame
from ._models import (
    Delivery,
    ErrorBody,
    MessageRequest,
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
from ._service import DEFAULT_RUN_TIMEOUT, NotDeliverableError, TaskService
from ._store import FINAL

__all__ = ["ApiError", "create_app"]


class ApiError(Exception):
    """An error answer: HTTP status, short code, message, and extra fields of ``ErrorBody``."""

    def __init__(self, status: int, error: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.body = status, {"error": error, "message": message, **extra}


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {400: "Unknown task type", 401: "Missing or wrong bearer token", 404: "No such id",
            408: "The request body did not arrive in time", 409: "The task has no result (yet), or the answer "
            "or message reaches nobody (it ended, waits for no answer, or is a tool task)",
            413: "Request body too large", 422: "Invalid request",
            503: "Queue full or no worker free (see Retry-After)"}
    return {code: {"model": ErrorBody, "description": text[code]} for code in codes}


def _event_stream_responses(events: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI responses of an events route: a ``text/event-stream`` of ``events``, or an error."""
    return {**_errors(401, 404, 422),
            200: {"description": f"Server-Sent Events: {events}", "content": {"text/event-stream": {}}}}


class _Json(JSONResponse):
    """JSON as UTF-8; a text the store could not clean is sent with ``\\u`` escapes, never a 500."""

    def render(self, content: Any) -> bytes:
        try:
            return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
        except (UnicodeEncodeError, ValueError):
            return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode()


async def _reply(content: Any, status_code: int = 200) -> _Json:
    """A JSON response encoded in a worker thread: big records never stall the event loop."""
    return await run_in_threadpool(_Json, content, status_code)


async def _fetch(read: Any, *args: Any, status_code: int = 200) -> tuple[Any, _Json | None]:
    """``read(*args)`` (store work) and its JSON encoding, in one trip to a worker thread;
    ``(value, response)``, the response None when the value is None (an unknown id)."""
    def work() -> tuple[Any, _Json | None]:
        value = read(*args)
        return value, None if value is None else _Json(value, status_code)

    return await run_in_threadpool(work)


RETRY_AFTER_SECONDS = 2


class _BodyLimit:
    """Reads each request body before the app sees it: 413 over ``limit`` bytes (declared or
    chunked), 408 if it does not arrive within ``timeout`` seconds (a stalled client)."""

    def __init__(self, app: ASGIApp, limit: int, timeout: float) -> None:
        self.app, self.limit, self.timeout = app, limit, timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or ())
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            return await self._refuse(send, 413, "body_too_large", self._too_large())
        chunks: list[bytes] = []
        received = 0
        try:
            async with asyncio.timeout(self.timeout):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return None
                    chunks.append(message.get("body", b""))
                    received += len(chunks[-1])
                    if received > self.limit:
                        return await self._refuse(send, 413, "body_too_large", self._too_large())
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            return await self._refuse(send, 408, "request_timeout", f"the request body did not arrive within "
                                      f"{self.timeout:g} seconds; send the whole body at once")
        body = b"".join(chunks)
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: only http.disconnect

        await self.app(scope, replay, send)

    def _too_large(self) -> str:
        return (f"request bodies are limited to {self.limit} bytes; send smaller parameters (large inputs "
                "belong in storage the tool reads)")

    async def _refuse(self, send: Send, status: int, error: str, message: str) -> None:
        body = json.dumps({"error": error, "message": message}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"connection", b"close"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


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
    inline_result_bytes: int = 64_000,
    max_page_bytes: int = 1_000_000,
    retain_finished: int | None = 10_000,
    retain_seconds: float | None = 7 * 86_400,
    max_wait_seconds: float = 60.0,
    body_timeout_seconds: float = 30.0,
    max_concurrent_runs: int = 1,
    agent_kwargs: dict[str, Any] | None = None,
    run_timeout_seconds: float | None = DEFAULT_RUN_TIMEOUT,
    keepalive_seconds: float = 15.0,
    max_stream_seconds: float = 300.0,
    name_resources: dict[str, dict[str, float]] | None = None,
) -> FastAPI:
    """The task service as a FastAPI app (serve it with uvicorn, one worker process).

    Only ``tools`` (smolagents ``Tool`` objects) and ``managed_agents`` run, by name.
    ``token`` (default: the ``ASYNC_AGENT_TOKEN`` environment variable; at least 16
    characters) protects every route but ``/health``; without one, requests reaching a
    non-loopback address are refused. ``model`` enables ``POST /runs`` (an AsyncAgent over
    the same tools and agents; its code runs in a child process; ``run_timeout_seconds``
    bounds each run).
    Records live in the SQLite file ``db_path`` (one server per file); finished ones are
    kept up to ``retain_finished`` records and ``retain_seconds``. Results over
    ``inline_result_bytes`` are served by ``GET /tasks/{id}/result``; list pages hold about
    ``max_page_bytes``. A request body must arrive within ``body_timeout_seconds``.
    Event streams (``GET /tasks/{id}/events``) send a keep-alive comment every ``keepalive_seconds``
    and end after ``max_stream_seconds`` (a client resumes with ``Last-Event-ID``).
    ``name_resources`` (``{"render": {"GPU": 1}}``): what tasks of a task type need by default.
    """
    if token is None:
        token = os.environ.get(TOKEN_ENV) or None
    if token is not None:
        token = check_token(token)
    _check_limits(retain_finished=retain_finished, retain_seconds=retain_seconds, max_page_bytes=max_page_bytes,
                  inline_result_bytes=inline_result_bytes, body_timeout_seconds=body_timeout_seconds,
                  max_body_bytes=max_body_bytes, max_result_bytes=max_result_bytes,
                  keepalive_seconds=keepalive_seconds, max_stream_seconds=max_stream_seconds)
    service = TaskService(
        tools=tools, managed_agents=managed_agents, model=model, db_path=db_path, max_workers=max_workers,
        max_unfinished=max_unfinished, max_result_bytes=max_result_bytes,
        max_concurrent_runs=max_concurrent_runs, agent_kwargs=agent_kwargs, run_timeout_seconds=run_timeout_seconds,
        inline_result_bytes=inline_result_bytes, retain_finished=retain_finished, retain_seconds=retain_seconds,
        name_resources=name_resources,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        service.close()

    app = FastAPI(
        title="async_task_system task service", version="0.1.0", lifespan=lifespan,
        description="Run registered smolagents tools and agents in the background; poll or long-poll "
        "for their results. Send `Authorization: Bearer <token>` when the server has a token.",
        docs_url=None, redoc_url=None, openapi_url=None, default_response_class=_Json,
    )
    app.state.service = service
    app.add_middleware(_BodyLimit, limit=max_body_bytes, timeout=body_timeout_seconds)

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

    async def authorize_docs(request: Request) -> None:
        """The API description lists every task type: open on loopback, behind the token beyond it."""
        server = request.scope.get("server")
        if not (server and is_loopback(str(server[0]))):
            if token is None:
                raise ApiError(401, "token_required", "the API description is only served on loopback "
                               f"without a token; restart the server with {TOKEN_ENV} set")
            await authorize(request)

    guarded = [Depends(authorize)]

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        if exc.status == 503:
            headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        return _Json(exc.body, status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = jsonable_encoder(exc.errors(), custom_encoder={Exception: str})
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        field = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path"))
        message = f"{field or 'request'}: {first.get('msg')}"
        if len(errors) > 1:
            message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''} in details)"
        details = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in errors]
        return _Json({"error": "invalid_request", "message": message, "field": field or None,
                      "details": details}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 400:  # FastAPI's "error parsing the body": not JSON, or nested too deep to parse
            return _Json({"error": "invalid_request", "field": "body", "message": "body: the request "
                          "body is not valid JSON, or is nested too deeply (send UTF-8 JSON with "
                          "Content-Type: application/json)"}, status_code=422)
        if exc.status_code == 404:
            message = f"no route {request.method} {request.url.path}; see /docs for the API"
            if request.url.path.startswith("/runs") and model is None:
                message += " (/runs is off: this server was started without a model)"
        elif exc.status_code == 405:
            allowed = _allowed_methods(request)
            headers["Allow"] = ", ".join(allowed)
            message = f"{request.method} is not allowed on {request.url.path}; allowed: {', '.join(allowed)}"
        return _Json({"error": code, "message": message}, status_code=exc.status_code, headers=headers or None)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:  # still logged by the server
        return _Json({"error": "internal_error", "message": f"the server failed on this request "
                      f"({type(exc).__name__}); it is logged. Nothing already recorded was lost."}, status_code=500)

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(authorize_docs)])
    async def openapi_json() -> JSONResponse:
        return await _reply(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=[Depends(authorize_docs)])
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} - docs")

    @app.get("/redoc", include_in_schema=False, dependencies=[Depends(authorize_docs)])
    async def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url="/openapi.json", title=f"{app.title} - ReDoc")

    @app.get("/health", response_model=Health, operation_id="health",
             responses={503: {"model": Health, "description": "Queue full, or no worker can start a task "
                              "(see problems and Retry-After)"}})
    async def health() -> JSONResponse:
        """Queue and worker counts; 503 (with ``Retry-After``) while new work would be refused or
        could not start: the queue is at its bound, or every worker is held by abandoned threads."""
        body = await run_in_threadpool(service.health)
        if body["status"] == "ok":
            return _Json(body)
        return _Json(body, status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})

    @app.get("/task-types", response_model=list[TaskTypeView], dependencies=guarded, operation_id="task_types",
             responses=_errors(401))
    async def task_types() -> JSONResponse:
        """The registered tools and managed agents: the only things a task can run."""
        return await _reply(service.registry.describe())

    @app.post("/tasks", response_model=TaskView, status_code=202, dependencies=guarded, operation_id="submit_task",
              responses={**_errors(400, 401, 408, 413, 422, 503), 202: {"links": {
                  "GetTask": {"operationId": "get_task", "parameters": {"task_id": "$response.body#/id"}},
                  "CancelTask": {"operationId": "cancel_task", "parameters": {"task_id": "$response.body#/id"}}}}})
    async def submit_task(request: TaskRequest) -> JSONResponse:
        """Queue a registered tool or agent; answers at once with the task's id and status."""
        try:
            _, response = await _fetch(service.submit, request.task_type, request.description,
                                       request.parameters, request.priority, request.timeout_seconds,
                                       request.resources, status_code=202)
        except TaskTypeError as exc:
            raise ApiError(400, "unknown_task_type", str(exc), field="task_type", registered=exc.registered)
        except ParameterError as exc:
            raise ApiError(422, "invalid_parameters", str(exc), field=exc.field)
        except QueueFullError as exc:
            raise ApiError(503, "queue_full", f"{exc}. Retry later.")
        return response

    @app.get("/tasks", response_model=TaskPage, dependencies=guarded, operation_id="list_tasks",
             responses=_errors(401, 422))
    async def list_tasks(
        status: TaskStatusName | None = Query(None, description="only tasks in this status"),
        limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=1_000_000_000),
    ) -> JSONResponse:
        """Task records, newest first, a page at a time: at most ``limit`` records and about
        ``max_page_bytes`` of them; follow ``next_offset``. Big results are left out (``result_url``)."""
        _, response = await _fetch(service.list, status, limit, offset, max_page_bytes)
        return response

    @app.get("/tasks/{task_id}", response_model=TaskView, dependencies=guarded, operation_id="get_task",
             responses=_errors(401, 404, 422))
    async def get_task(task_id: str, wait: float = Query(
            0, ge=0, le=max_wait_seconds,
            description="seconds to wait for the task to end before answering (long-poll)")) -> JSONResponse:
        """A task record. With ``wait``, answers as soon as the task ends, or after ``wait`` seconds.
        A result over the inline limit is left out: ``result_url`` serves it."""
        return await _long_poll(service, task_id, wait, service.get, "task")

    @app.get("/tasks/{task_id}/result", dependencies=guarded, operation_id="get_task_result",
             responses={**_errors(401, 404, 409), 200: {
                 "description": "The task's result as JSON; the header X-Result-Encoding says how it was "
                 "stored (json, escaped, repr, truncated)", "content": {"application/json": {"schema": {}}}}})
    async def get_task_result(task_id: str) -> Response:
        """A completed task's result alone, however big (up to ``max_result_bytes``)."""
        found = await run_in_threadpool(service.store.get_result, task_id)
        if found is None:
            raise _unknown("task", task_id)
        status, text, encoding = found
        if status != "completed" or text is None:
            raise ApiError(409, "no_result", f"task {task_id!r} is {status}: only a completed task has a result "
                           "(GET /tasks/{id} shows its error or reason)")
        return Response(text.encode(), media_type="application/json",
                        headers={"X-Result-Encoding": encoding or "json"})

    @app.delete("/tasks/{task_id}", response_model=TaskView, dependencies=guarded, operation_id="cancel_task",
                responses=_errors(401, 404))
    async def cancel_task(task_id: str) -> JSONResponse:
        """Cancel a task (idempotent); answers with its record. A finished task stays as it was."""
        _, response = await _fetch(service.cancel, task_id)
        if response is None:
            raise _unknown("task", task_id)
        return response

    @app.post("/tasks/{task_id}/input", response_model=Delivery, dependencies=guarded, operation_id="answer_task",
              responses=_errors(401, 404, 409, 413, 422))
    async def answer_task(task_id: str, request: MessageRequest) -> JSONResponse:
        """Answer the question a task asked with ``request_input`` (its status is ``waiting_for_input``,
        its ``question`` says what it asks); it goes on with ``text``. 409 if it waits for no answer."""
        return await _deliver(service.answer, task_id, request.text, "task")

    @app.post("/tasks/{task_id}/messages", response_model=Delivery, dependencies=guarded,
              operation_id="message_task", responses=_errors(401, 404, 409, 413, 422))
    async def message_task(task_id: str, request: MessageRequest) -> JSONResponse:
        """Send a running managed-agent task a message: its agent reads it as a user message at its next
        step. A task waiting for input takes it as its answer. 409 for a tool task or a finished one."""
        return await _deliver(service.send_message, task_id, request.text, "task")

    @app.get("/tasks/{task_id}/events", dependencies=guarded, operation_id="task_events",
             response_class=StreamingResponse,
             responses=_event_stream_responses("status, question, answer, message, progress, then end"))
    async def task_events(task_id: str,
                          last_event_id: str | None = Header(None, description="resume after this event id"),
                          after: int | None = Query(None, ge=0, description="resume after this event id "
                                                    "(for clients that cannot send Last-Event-ID)")) -> Response:
        """The task's events as Server-Sent Events, from the first (or after ``Last-Event-ID``); the
        stream ends after the ``end`` event."""
        return await _event_stream(service, task_id, "task", _resume_point(last_event_id, after),
                                   keepalive_seconds, max_stream_seconds)

    if model is not None:  # without a model the /runs routes do not exist (404 says why)
        _add_run_routes(app, service, guarded, max_wait_seconds, keepalive_seconds, max_stream_seconds)
    _document_task_types(app, service)
    return app


def _check_limits(**limits: float | None) -> None:
    """Each limit is a positive number (retention limits may also be None: keep forever)."""
    for name, value in limits.items():
        if value is None and name.startswith("retain"):
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0 or \
                (value == 0 and not name.startswith("retain")):
            raise ValueError(f"{name} must be a positive number{' or None' if name.startswith('retain') else ''}, "
                             f"got {value!r}")


def _add_run_routes(app: FastAPI, service: TaskService, guarded: list[Any], max_wait_seconds: float,
                    keepalive_seconds: float, max_stream_seconds: float) -> None:
    @app.post("/runs", response_model=RunView, status_code=202, dependencies=guarded, operation_id="start_run",
              responses={**_errors(401, 413, 422, 503), 202: {"links": {
                  "GetRun": {"operationId": "get_run", "parameters": {"run_id": "$response.body#/id"}},
                  "CancelRun": {"operationId": "cancel_run", "parameters": {"run_id": "$response.body#/id"}}}}})
    async def start_run(request: RunRequest) -> JSONResponse:
        """Run an AsyncAgent on ``prompt`` in the background, with the registered tools and agents."""
        try:
            _, response = await _fetch(service.start_run, request.prompt, request.max_steps, status_code=202)
        except QueueFullError as exc:
            raise ApiError(503, "queue_full", f"{exc}. Retry later.")
        return response

    @app.delete("/runs/{run_id}", response_model=RunView, dependencies=guarded, operation_id="cancel_run",
                responses=_errors(401, 404))
    async def cancel_run(run_id: str) -> JSONResponse:
        """Cancel a run (idempotent): its agent stops at its next step, its subtasks are cancelled."""
        _, response = await _fetch(service.cancel_run, run_id)
        if response is None:
            raise _unknown("run", run_id)
        return response

    @app.get("/runs/{run_id}", response_model=RunView, dependencies=guarded, operation_id="get_run",
             responses=_errors(401, 404, 422))
    async def get_run(run_id: str, wait: float = Query(
            0, ge=0, le=max_wait_seconds, description="seconds to wait for the run to end (long-poll)")) -> JSONResponse:
        """A run: status, subtasks so far, final answer and token usage once it ends."""
        return await _long_poll(service, run_id, wait, service.get_run, "run")

    @app.post("/runs/{run_id}/messages", response_model=Delivery, dependencies=guarded, operation_id="message_run",
              responses=_errors(401, 404, 409, 413, 422))
    async def message_run(run_id: str, request: MessageRequest) -> JSONResponse:
        """Send a run's coordinating model a message: it reads it as a user message at its next step.
        409 once the run has ended."""
        return await _deliver(service.send_run_message, run_id, request.text, "run")

    @app.get("/runs/{run_id}/events", dependencies=guarded, operation_id="run_events",
             response_class=StreamingResponse,
             responses=_event_stream_responses("status, message, progress (its steps), then end"))
    async def run_events(run_id: str,
                         last_event_id: str | None = Header(None, description="resume after this event id"),
                         after: int | None = Query(None, ge=0, description="resume after this event id")) -> Response:
        """The run's events as Server-Sent Events; the stream ends after the ``end`` event."""
        return await _event_stream(service, run_id, "run", _resume_point(last_event_id, after),
                                   keepalive_seconds, max_stream_seconds)


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


async def _long_poll(service: TaskService, key: str, wait: float, read: Any, what: str) -> _Json:
    """The record of ``key``; with ``wait``, as soon as it is final or at the deadline. Reads and
    encoding run in worker threads."""
    record, response = await _fetch(read, key)
    if response is None:
        raise _unknown(what, key)
    if wait <= 0 or record["status"] in FINAL:
        return response
    loop = asyncio.get_running_loop()
    ended = asyncio.Event()

    def wake() -> None:  # from a worker thread
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(ended.set)

    service.watch(key, wake)
    try:
        record, response = await _fetch(read, key)  # it may have ended between the first read and watch()
        if record["status"] not in FINAL:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ended.wait(), wait)
            record, response = await _fetch(read, key)
    finally:
        service.unwatch(key, wake)
    return response


async def _deliver(deliver: Any, key: str, text: str, what: str) -> _Json:
    """An answer or message through ``deliver``: 404 unknown, 422 bad text, 409 it reaches nobody."""
    try:
        _, response = await _fetch(deliver, key, text)
    except InvalidArgumentError as exc:
        raise ApiError(422, "invalid_text", f"text: {exc}", field="text")
    except NotDeliverableError as exc:
        raise ApiError(409, "not_deliverable", str(exc))
    if response is None:
        raise _unknown(what, key)
    return response


#: events read from the store per trip: what one stream holds in memory at a time
_EVENT_BATCH = 100


def _resume_point(last_event_id: str | None, after: int | None) -> int:
    """Where a stream starts: after ``Last-Event-ID`` (an event id this service sent), else ``after``."""
    if last_event_id is not None and last_event_id.strip():
        text = last_event_id.strip()
        if not text.isdigit() or len(text) > 18:
            raise ApiError(422, "invalid_request", f"Last-Event-ID must be an event id this service sent (a "
                           f"non-negative integer), got {text[:40]!r}", field="last-event-id")
        return int(text)
    return after or 0


async def _event_stream(service: TaskService, key: str, what: str, after: int,
                        keepalive_seconds: float, max_stream_seconds: float) -> StreamingResponse:
    """``text/event-stream`` of ``key``'s events after ``after``: store reads in worker threads, a
    batch at a time; between them the stream waits on a wake-up (no thread held), sending a comment
    every ``keepalive_seconds``. Ends after the end event, or after ``max_stream_seconds``."""
    exists = service.store.get_task if what == "task" else service.store.get_run
    if await run_in_threadpool(exists, key) is None:
        raise _unknown(what, key)
    loop = asyncio.get_running_loop()
    news = asyncio.Event()

    def wake() -> None:  # from any thread
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(news.set)

    async def frames() -> AsyncIterator[bytes]:
        nonlocal after
        service.watch_events(key, wake)
        try:
            yield b"retry: 1000\n\n"
            deadline = loop.time() + max_stream_seconds
            while loop.time() < deadline:
                news.clear()  # before the read: an event stored after it wakes the wait below
                batch, ended = await run_in_threadpool(service.events_after, key, after, _EVENT_BATCH)
                for seq, kind, data in batch:
                    yield sse_frame(seq, kind, data)
                    after = seq
                if ended:
                    return
                if len(batch) == _EVENT_BATCH:
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(news.wait(), min(keepalive_seconds, max(0.0, deadline - loop.time())))
                    continue
                yield b": keep-alive\n\n"
        finally:
            service.unwatch_events(key, wake)

    return StreamingResponse(frames(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


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
