"""The smolagents tools the model calls to run work in the background.

Each is a thin ``Tool`` over a ``TaskBoard``. Class names matter: Phoenix names tool
spans after the class. Descriptions are written for a model and carry an example.
"""

from __future__ import annotations

from typing import Any

from smolagents.tools import Tool

from ..errors import InvalidArgumentError, TaskSystemError
from ._board import TaskBoard
from ._observation import clip
from ._registry import suggest

__all__ = [
    "SubmitTaskTool", "WaitForTasksTool", "SleepTool", "GetTaskResultsTool", "CheckTaskTool",
    "ListTasksTool", "CancelTaskTool", "task_tools",
]


class _BoardTool(Tool):
    def __init__(self, board: TaskBoard) -> None:
        self.board = board
        limits = board.limits
        values = {"{wait}": f"{limits.max_wait_seconds:g}", "{listed}": str(limits.max_listed_tasks)}

        def fill(text: str) -> str:
            for key, value in values.items():
                text = text.replace(key, value)
            return text

        self.description = fill(type(self).description)
        self.inputs = {key: {**spec, "description": fill(spec["description"])} for key, spec in type(self).inputs.items()}
        super().__init__()

    #: argument names a model may guess, and the real ones they mean
    aliases: dict[str, str] = {}

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except TaskSystemError as exc:  # what we raise reaches the model's context: bound it
            limit = self.board.limits.max_report_chars
            if len(str(exc)) > limit:
                exc.args = (clip(str(exc), limit),)
            raise

    def _named(self, given: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        """Map guessed argument names to the real ones; refuse the rest, naming what it takes."""
        for key, value in extra.items():
            real = self.aliases.get(key)
            if real is None:
                raise InvalidArgumentError(
                    f"{self.name}() has no argument {key!r}{suggest(key, self.inputs)}; "
                    f"it takes: {', '.join(self.inputs)}"
                )
            if given.get(real) is not None:
                raise InvalidArgumentError(f"{self.name}() got {real!r} twice (also as {key!r}); give it once")
            given[real] = value
        return given


class SubmitTaskTool(_BoardTool):
    name = "submit_task"
    description = (
        "Start a tool or managed agent in the background; returns its task id at once. In args, "
        "'$' + paris stands for the result of the task whose id is in variable paris (the new task waits "
        "for it). Example: paris = submit_task('tool', 'search', {'query': 'Paris'})"
    )
    inputs = {
        "task_type": {"type": "string", "description": "'tool' or 'agent'"},
        "name": {"type": "string", "description": "the tool or managed agent to run"},
        "args": {"type": "object", "nullable": True,
                 "description": "its arguments as a dict (an agent takes {'task': '...'})"},
        "priority": {"type": "integer", "nullable": True, "description": "higher starts first (default 0)"},
        "timeout": {"type": "number", "nullable": True, "description": "seconds before it is stopped"},
        "depends_on": {"type": "array", "nullable": True, "description": "ids that must complete first"},
    }
    output_type = "string"
    skip_forward_signature_validation = True  # the task's own arguments may also come as keywords

    def forward(self, task_type: str | None = None, name: Any = None, args: Any = None, priority: int | None = None,
                timeout: float | None = None, depends_on: list | None = None, **task_kwargs: Any) -> str:
        return self.board.submit(task_type, name, args, priority=priority, timeout=timeout,
                                 depends_on=depends_on, **task_kwargs)


class WaitForTasksTool(_BoardTool):
    name = "wait_for_tasks"
    description = (
        "Block until the tasks finish (or the first does, return_when='any'), at most {wait}s per call. "
        "Returns a short report: what finished, failed (and why) or still runs. "
        "Example: print(wait_for_tasks([paris, rome]))"
    )
    inputs = {
        "task_ids": {"type": "array", "nullable": True, "description": "default: this run's unfinished tasks"},
        "max_wait_time": {"type": "number", "nullable": True, "description": "seconds, at most {wait}"},
        "return_when": {"type": "string", "nullable": True, "description": "'all' (default) or 'any'"},
    }
    output_type = "string"
    skip_forward_signature_validation = True  # for **guessed
    aliases = {"ids": "task_ids", "tasks": "task_ids", "task_id": "task_ids", "timeout": "max_wait_time",
               "max_wait": "max_wait_time", "wait_time": "max_wait_time", "seconds": "max_wait_time",
               "mode": "return_when"}

    def forward(self, task_ids: list | None = None, max_wait_time: float | None = None,
                return_when: str | None = None, **guessed: Any) -> str:
        a = self._named({"task_ids": task_ids, "max_wait_time": max_wait_time, "return_when": return_when}, guessed)
        return self.board.wait(a["task_ids"], a["max_wait_time"], a["return_when"] or "all")


class SleepTool(_BoardTool):
    name = "sleep"
    description = "Pause (at most {wait}s). Prefer wait_for_tasks, which returns as soon as tasks finish."
    inputs = {
        "seconds": {"type": "number", "description": "how long to pause"},
        "reason": {"type": "string", "nullable": True, "description": "why, for the log"},
    }
    output_type = "string"

    def forward(self, seconds: float, reason: str | None = None) -> str:
        return self.board.sleep(seconds, reason)


class GetTaskResultsTool(_BoardTool):
    name = "get_task_results"
    description = (
        "Return a dict {task_id: result} at once, without waiting; values are whole, printing the dict shows "
        "a preview. A task without a result maps to a NoResult (r.error says why): test isinstance(r, NoResult). "
        "Example: results = get_task_results([paris, rome])"
    )
    inputs = {
        "task_ids": {"type": "array", "nullable": True, "description": "default: every task of this run"},
        "offset": {"type": "integer", "nullable": True, "description": "text results from this character on"},
    }
    output_type = "object"
    skip_forward_signature_validation = True  # for **guessed
    aliases = {"ids": "task_ids", "tasks": "task_ids", "task_id": "task_ids"}

    def forward(self, task_ids: list | None = None, offset: int | None = None, **guessed: Any) -> dict:
        a = self._named({"task_ids": task_ids, "offset": offset}, guessed)
        return self.board.results(a["task_ids"], a["offset"])


class CheckTaskTool(_BoardTool):
    name = "check_task"
    description = "One line on one task: status, times, its error or a preview of its result, progress."
    inputs = {"task_id": {"type": "string", "description": "the id submit_task returned"}}
    output_type = "string"
    skip_forward_signature_validation = True  # for **guessed
    aliases = {"id": "task_id", "task": "task_id"}

    def forward(self, task_id: str | None = None, **guessed: Any) -> str:
        return self.board.check(self._named({"task_id": task_id}, guessed)["task_id"])


class ListTasksTool(_BoardTool):
    name = "list_tasks"
    description = (
        "Text listing tasks newest first, one line each (at most {listed}). Example: print(list_tasks('failed'))"
    )
    inputs = {
        "status": {"type": "string", "nullable": True,
                   "description": "pending, waiting, running, completed, failed, timeout, cancelled, finished or "
                                  "unfinished"},
        "limit": {"type": "integer", "nullable": True, "description": "how many lines, at most {listed}"},
    }
    output_type = "string"

    def forward(self, status: str | None = None, limit: int | None = None) -> str:
        return self.board.list(status, limit)


class CancelTaskTool(_BoardTool):
    name = "cancel_task"
    description = "Cancel a queued or running task (a running agent stops at its next step); says what happened."
    inputs = {"task_id": {"type": "string", "description": "the id submit_task returned"}}
    output_type = "string"
    skip_forward_signature_validation = True  # for **guessed
    aliases = {"id": "task_id", "task": "task_id", "task_ids": "task_id", "ids": "task_id"}

    def forward(self, task_id: str | None = None, **guessed: Any) -> str:
        return self.board.cancel(self._named({"task_id": task_id}, guessed)["task_id"])


def task_tools(board: TaskBoard) -> list[Tool]:
    """The seven model-facing tools, bound to ``board``."""
    classes = (SubmitTaskTool, WaitForTasksTool, SleepTool, GetTaskResultsTool, CheckTaskTool, ListTasksTool,
               CancelTaskTool)
    return [cls(board) for cls in classes]
