"""What a REST caller may run: the tools and managed agents the operator registered, by name.

A caller names a registered ``task_type`` and passes JSON parameters; nothing else
(no module path, no code) can reach the server's Python. Parameters are checked
against the tool's ``inputs`` before anything is queued.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ParameterError", "Registry", "Runnable", "TaskTypeError"]

# JSON value checks per smolagents input type. Images and audio cannot arrive as JSON.
_TYPE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer()),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
    "any": lambda v: True,
    "null": lambda v: v is None,
}


class TaskTypeError(LookupError):
    """The ``task_type`` is not registered. ``registered`` lists what is."""

    def __init__(self, message: str, registered: list[str]) -> None:
        super().__init__(message)
        self.registered = registered


class ParameterError(ValueError):
    """A parameter is missing, unknown or of the wrong type. ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Runnable:
    """A checked request: what to call in a worker thread, and what kind of task it is."""

    kind: str  # "tool" or "agent"
    name: str
    call: Callable[[], Any]


class Registry:
    """The registered tools (smolagents ``Tool`` objects) and managed agents, by name.

    Built on the agent layer's ``TaskRegistry`` (the same one the model's ``submit_task``
    uses): a managed agent runs on a fresh copy per task, so several can run at once.
    On top, REST callers get a strict check that names the offending field.
    """

    def __init__(self, tools: Iterable[Any] = (), managed_agents: Iterable[Any] = ()) -> None:
        from ..agent import TaskRegistry

        self.tools, self.managed_agents = list(tools), list(managed_agents)
        self.inner = TaskRegistry(self.tools, self.managed_agents)
        self._entries = {entry.name: entry for entry in self.inner.entries()}

    @property
    def names(self) -> list[str]:
        return sorted(self._entries)

    def describe(self) -> list[dict[str, Any]]:
        """The registered task types as a caller needs them: name, kind, description, inputs."""
        return [{"name": e.name, "kind": e.kind, "description": e.description, "inputs": dict(e.inputs)}
                for e in sorted(self._entries.values(), key=lambda e: e.name)]

    def resolve(self, task_type: str, description: str, parameters: Mapping[str, Any]) -> Runnable:
        """Check a request and bind it, or raise ``TaskTypeError`` / ``ParameterError``."""
        from ..errors import InvalidArgumentError

        entry = self._entries.get(task_type)
        if entry is None:
            registered = self.names
            raise TaskTypeError(
                f"task_type {task_type!r} is not registered on this server; registered task types: "
                f"{', '.join(registered) if registered else '(none)'} (GET /task-types describes them)", registered)
        if entry.kind == "tool":
            kwargs = check_parameters(task_type, entry.inputs, parameters)
        else:
            if not description.strip():
                raise ParameterError("description", f"agent {task_type!r} needs a non-empty description: "
                                     "it is the task the agent is given")
            kwargs = {"task": description, "additional_args": dict(parameters) or None}
        try:
            _, kwargs = self.inner.validate(entry.kind, entry.name, kwargs)
        except InvalidArgumentError as exc:
            raise ParameterError("parameters", str(exc)) from None
        fn = self.inner.callable_for(entry)
        return Runnable(entry.kind, entry.name, lambda: fn(**kwargs))


def check_parameters(tool_name: str, inputs: Mapping[str, Any], parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters as keyword arguments for the tool, checked against its ``inputs``."""
    unknown = sorted(set(parameters) - set(inputs))
    if unknown:
        raise ParameterError(
            f"parameters.{unknown[0]}",
            f"tool {tool_name!r} has no input {unknown[0]!r}; its inputs are: {', '.join(inputs) or '(none)'}")
    for name, spec in inputs.items():
        types = _types(spec)
        nullable = bool(spec.get("nullable")) or "null" in types
        if name not in parameters:
            if not nullable:
                raise ParameterError(f"parameters.{name}", f"tool {tool_name!r} needs the input {name!r} "
                                     f"({'/'.join(types)}): {spec.get('description', '')}".rstrip(": "))
            continue
        value = parameters[name]
        if value is None and nullable:
            continue
        if not any(_TYPE_CHECKS.get(t, lambda v: False)(value) for t in types):
            raise ParameterError(
                f"parameters.{name}",
                f"input {name!r} of tool {tool_name!r} must be {' or '.join(types)}, "
                f"got {_json_type(value)} {value!r:.80}")
    kwargs = dict(parameters)
    for name, value in kwargs.items():  # a whole float for an integer input (5.0) reaches the tool as 5
        types = _types(inputs[name])
        if isinstance(value, float) and value.is_integer() and "integer" in types and "number" not in types:
            kwargs[name] = int(value)
    return kwargs


def _types(spec: Mapping[str, Any]) -> list[str]:
    types = spec.get("type", "any")
    return [types] if isinstance(types, str) else list(types)


def _json_type(value: Any) -> str:
    for name in ("boolean", "integer", "number", "string", "array", "object", "null"):
        if _TYPE_CHECKS[name](value):
            return name
    return type(value).__name__
