"""Request and response bodies of the task service (pydantic), as the OpenAPI schema shows them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

__all__ = [
    "Delivery",
    "ErrorBody",
    "MessageRequest",
    "ErrorInfo",
    "Health",
    "RunRequest",
    "RunView",
    "SubtaskView",
    "TaskPage",
    "TaskRequest",
    "TaskStatusName",
    "TaskTypeView",
    "TaskView",
    "TokenUsage",
]

TaskStatusName = Literal["pending", "waiting", "running", "waiting_for_input", "completed", "failed", "timeout", "cancelled", "lost"]
RunStatusName = Literal["pending", "running", "completed", "failed", "timeout", "cancelled", "lost"]
ResultEncoding = Literal["json", "escaped", "repr", "truncated"]


def _integral(value: Any) -> Any:
    """``5.0`` is the integer 5 (many JSON writers send whole numbers as floats); ``5.5`` stays invalid."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# An integer field that takes whole floats but, like strict mode, neither strings nor booleans.
WholeNumber = Annotated[int, BeforeValidator(_integral)]


class TaskRequest(BaseModel):
    """Run one registered tool or managed agent in the background."""

    model_config = ConfigDict(extra="forbid", strict=True)  # strict: `true` is not a priority

    task_type: str = Field(min_length=1, max_length=200,
                           description="the name of a registered tool or managed agent (see GET /task-types)")
    description: str = Field("", max_length=20_000,
                             description="what this task is for; for an agent, the task it is given")
    parameters: dict[str, Any] = Field(default_factory=dict,
                                       description="the tool's inputs by name; for an agent, its additional_args")
    priority: WholeNumber = Field(1, ge=1, le=10, description="1 (default) to 10; higher starts first")
    timeout_seconds: float | None = Field(None, gt=0, le=86_400, description="limit on one attempt's run time")
    resources: dict[str, Any] | None = Field(
        None, description='what it needs to run, e.g. {"GPU": 1} (positive finite quantities); null: the '
        "server's default for its task type (async-agent serve --name-resources), {}: nothing")


class ErrorInfo(BaseModel):
    type: str
    message: str


class TaskView(BaseModel):
    """A task record. ``result`` is the JSON result, or its ``repr()`` if it was not JSON."""

    id: str
    task_type: str
    kind: Literal["tool", "agent"]
    description: str
    parameters: dict[str, Any]
    priority: int
    timeout_seconds: float | None
    status: TaskStatusName
    reason: str = Field(description="why it reached its final status (empty while unfinished)")
    created_at: float
    started_at: float | None
    finished_at: float | None
    attempts: int
    result: Any = Field(None, description="the result; null when it is over the inline limit (see result_url)")
    result_encoding: ResultEncoding | None = Field(
        None, description="json: the result as returned; escaped: JSON whose strings held lone surrogates, "
        "written as \\udXXX text; repr: it was not JSON (or nested too deep), this is its repr(); "
        "truncated: it was over the size limit")
    result_bytes: int | None = Field(None, description="size of the stored result (JSON text, bytes)")
    result_url: str | None = Field(None, description="where the result is served when it is too big to inline")
    error: ErrorInfo | None = None
    resources: dict[str, float] | None = Field(None, description="what each attempt needs to run")
    question: str | None = Field(None, description="what the task asks while it is waiting_for_input "
                                 "(answer with POST /tasks/{id}/input)")


class MessageRequest(BaseModel):
    """An answer to a task's question, or a message to a running agent."""

    model_config = ConfigDict(extra="forbid", strict=True)

    text: str = Field(min_length=1, max_length=20_000, description="the answer or message (valid Unicode text)")


class Delivery(BaseModel):
    """What became of an answer or message."""

    id: str
    delivered: Literal["answer", "message"] = Field(description="answer: it answered the question the task "
                                                    "waited on; message: queued for the agent's next step")
    detail: str
    status: str = Field(description="the task's or run's status after delivery")


class TaskPage(BaseModel):
    items: list[TaskView]
    total: int = Field(description="how many tasks match the filter")
    limit: int
    offset: int
    next_offset: int | None = Field(description="offset of the next page, null on the last page")


class ErrorBody(BaseModel):
    """Every error answer: a short code, a message a person can act on, and optional details."""

    error: str
    message: str
    field: str | None = None
    registered: list[str] | None = None
    details: list[dict[str, Any]] | None = None


class RunRequest(BaseModel):
    """Run an AsyncAgent on a prompt in the background."""

    model_config = ConfigDict(extra="forbid", strict=True)

    prompt: str = Field(min_length=1, max_length=50_000)
    max_steps: WholeNumber | None = Field(None, ge=1, le=100, description="model steps allowed (server default if null)")


class SubtaskView(BaseModel):
    id: str
    name: str
    status: str
    reason: str = ""
    run_time: float | None = None


class TokenUsage(BaseModel):
    input_tokens: int
    output_tokens: int
    total_tokens: int


class RunView(BaseModel):
    id: str
    prompt: str
    status: RunStatusName
    reason: str
    created_at: float
    started_at: float | None
    finished_at: float | None
    final_answer: Any = None
    answer_encoding: ResultEncoding | None = None
    subtasks: list[SubtaskView]
    token_usage: TokenUsage | None = None
    steps: int | None = None
    error: ErrorInfo | None = None


class Health(BaseModel):
    """``ok``; ``overloaded`` (queue at its bound) or ``stalled`` (no worker can start) answer 503."""

    status: Literal["ok", "overloaded", "stalled"]
    problems: list[str] = Field(description="why the status is not ok")
    unfinished: int
    max_unfinished: int
    running: int
    max_workers: int
    workers_available: int = Field(description="workers not held by abandoned threads (timed-out or "
                                   "cancelled work whose code never returned)")
    abandoned_threads: int
    runs_available: int | None = None
    counts: dict[str, int]


class TaskTypeView(BaseModel):
    name: str
    kind: Literal["tool", "agent"]
    description: str
    inputs: dict[str, Any]
