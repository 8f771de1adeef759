"""What the model may run: the tools and managed agents it was given, by name.

The model is an untrusted, forgetful caller. ``TaskRegistry`` turns what it wrote
(a task type, a name or the tool object itself, arguments as a dict, a JSON string or
one bare value) into a checked call, or refuses with an error written for the model:
what was wrong, what would work, the valid names. Nothing is queued before the check.
"""

from __future__ import annotations

import ast
import difflib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..engine import ResultOf
from ..errors import InvalidArgumentError
from ._async_tools import AsyncToolCall, is_async_tool
from ._managed import AgentSource, ManagedAgentRun, UsageMeter
from ._observation import preview

__all__ = ["TaskRegistry", "TaskKind", "RegisteredTask", "InputCheck", "check_input", "normalize_task_id",
           "normalize_task_ids", "suggest"]

TaskKind = Literal["tool", "agent"]

_KIND_ALIASES = {
    "tool": "tool", "tools": "tool", "function": "tool",
    "agent": "agent", "agents": "agent", "managed_agent": "agent", "managed_agents": "agent",
    "sub_agent": "agent", "subagent": "agent", "team_member": "agent",
}
# A whole-string placeholder ("$t3", "${t3}"): its type is checked once the result is known.
_PLACEHOLDER = re.compile(r"\$[A-Za-z_]\w*|\$\{\s*[A-Za-z_]\w*\s*\}")
_TYPE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "array": lambda v: isinstance(v, (list, tuple)),
    "object": lambda v: isinstance(v, Mapping),
    "null": lambda v: v is None,
}
_AGENT_INPUTS = {
    "task": {"type": "string", "description": "Long detailed description of the task."},
    "additional_args": {
        "type": "object", "nullable": True,
        "description": "Extra inputs the managed agent gets as variables (data, context).",
    },
}


def check_input(target: str, key: str, spec: Mapping[str, Any], value: Any, *, placeholders: bool = False) -> Any:
    """``value`` for input ``key`` (``spec`` from a tool's ``inputs``), normalised, or ``InvalidArgumentError``.

    ``placeholders``: a whole-string placeholder or a ``ResultOf`` passes (checked when its result is known).
    """
    types = spec.get("type", "any")
    types = [types] if isinstance(types, str) else list(types)
    if value is None and (spec.get("nullable") or "null" in types):
        return value
    if "any" in types or placeholders and (
            isinstance(value, str) and _PLACEHOLDER.fullmatch(value.strip()) or isinstance(value, ResultOf)):
        return value
    checks = [_TYPE_CHECKS[t] for t in types if t in _TYPE_CHECKS]
    if not checks or any(check(value) for check in checks):
        return list(value) if isinstance(value, tuple) and "array" in types else value
    if "integer" in types and isinstance(value, float) and value.is_integer():
        return int(value)
    raise InvalidArgumentError(
        f"argument {key!r} of {target} must be {' or '.join(types)}, got {type(value).__name__} {preview(value, 200)}"
    )


@dataclass(frozen=True)
class InputCheck:
    """``check(key, value)`` against one tool's inputs; plain data, so it travels with a task."""

    target: str
    inputs: dict[str, dict[str, Any]]

    def __call__(self, key: str, value: Any) -> Any:
        return check_input(self.target, key, self.inputs[key], value)


def _parse_dict(text: str) -> dict[str, Any] | None:
    """A dict written as JSON or as a Python literal, else None."""
    for parse in (json.loads, ast.literal_eval):
        try:
            value = parse(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            return value
    return None


def suggest(given: str, valid: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for a close match, else ``""``."""
    close = difflib.get_close_matches(given, list(valid), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def normalize_task_id(value: Any, prefix: str = "t") -> str:
    """A task id as the model may write it: ``"t3"``, ``3``, ``"3"``, ``" T3 "`` -> ``"t3"``."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidArgumentError(
            f"a task id must be a string like '{prefix}1' (as returned by submit_task), "
            f"got {type(value).__name__} {preview(value, 100)}"
        )
    text = str(value).strip()
    if text.isdigit():
        return f"{prefix}{int(text)}"
    if text[: len(prefix)].lower() == prefix.lower() and text[len(prefix):].isdigit():
        return f"{prefix}{int(text[len(prefix):])}"
    if not text:
        raise InvalidArgumentError(f"a task id must be a string like '{prefix}1', got an empty string")
    return text


def normalize_task_ids(value: Any, prefix: str = "t", *, what: str = "task_ids") -> list[str]:
    """One id or a list of ids (ints accepted), without duplicates, in the order given."""
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        items: list[Any] = [value]
    elif isinstance(value, (list, tuple, set, frozenset)) or (
        isinstance(value, Iterable) and not isinstance(value, (bytes, Mapping))
    ):
        items = list(value)
    else:
        raise InvalidArgumentError(
            f"{what} must be a list of task ids like ['{prefix}1', '{prefix}2'] (or one id), "
            f"got {type(value).__name__} {preview(value, 100)}"
        )
    return list(dict.fromkeys(normalize_task_id(item, prefix) for item in items))


@dataclass(frozen=True)
class RegisteredTask:
    """One thing the model may run in the background."""

    kind: TaskKind
    name: str
    target: Any  # the Tool, or the AgentSource of a managed agent
    inputs: Mapping[str, Mapping[str, Any]]
    description: str

    @property
    def required(self) -> list[str]:
        return [key for key, spec in self.inputs.items() if not spec.get("nullable")]

    def signature(self) -> str:
        """``query: string, limit: integer (optional)``: how the model should call it."""
        parts = [
            f"{key}: {spec.get('type', 'any')}{' (optional)' if spec.get('nullable') else ''}"
            for key, spec in self.inputs.items()
        ]
        return ", ".join(parts) or "no arguments"


class TaskRegistry:
    """The tools and managed agents a caller (the model, a REST client) may run, by name.

    ``validate(task_type, name, args)`` returns ``(entry, args)`` with ``args`` checked
    against the tool's ``inputs`` and normalised; ``callable_for(entry)`` gives the callable
    to submit with those args as keyword arguments. Managed agents may be instances
    (each task runs a fresh shallow copy) or zero-argument factories.
    """

    def __init__(
        self,
        tools: Iterable[Any] = (),
        managed_agents: Iterable[Any] = (),
        *,
        usage: UsageMeter | None = None,
    ) -> None:
        self.usage = usage if usage is not None else UsageMeter()
        self._entries: dict[str, RegisteredTask] = {}
        for tool in tools:
            name = getattr(tool, "name", None)
            inputs = getattr(tool, "inputs", None)
            if not isinstance(name, str) or not isinstance(inputs, Mapping) or not callable(tool):
                raise InvalidArgumentError(
                    f"tools must be smolagents Tool objects (with name, inputs and forward), got {tool!r}"
                )
            self._add(RegisteredTask("tool", name, tool, dict(inputs), str(getattr(tool, "description", ""))))
        for agent in managed_agents:
            source = agent if isinstance(agent, AgentSource) else AgentSource(agent)
            self._add(RegisteredTask("agent", source.name, source, dict(_AGENT_INPUTS), source.description))

    def _add(self, entry: RegisteredTask) -> None:
        if entry.name in self._entries:
            raise InvalidArgumentError(f"two tools or managed agents are named {entry.name!r}; names must be unique")
        self._entries[entry.name] = entry

    # ------------------------------------------------------------------ lookup

    def names(self, kind: TaskKind | None = None) -> list[str]:
        return [e.name for e in self._entries.values() if kind is None or e.kind == kind]

    def entries(self) -> list[RegisteredTask]:
        return list(self._entries.values())

    @property
    def agent_sources(self) -> list[AgentSource]:
        return [e.target for e in self._entries.values() if e.kind == "agent"]

    def listing(self, kind: TaskKind | None = None) -> str:
        """``tools: a, b; managed agents: c``: the valid names, for error messages."""
        parts = []
        for k, label in (("tool", "tools"), ("agent", "managed agents")):
            names = self.names(k)  # type: ignore[arg-type]
            if names and kind in (None, k):
                parts.append(f"{label}: {', '.join(names)}")
        return "; ".join(parts) or "nothing is registered"

    def kind_of(self, task_type: Any) -> TaskKind:
        """``"tool"`` or ``"agent"`` from what the model wrote (case and plurals forgiven)."""
        key = task_type.strip().lower().replace("-", "_").replace(" ", "_") if isinstance(task_type, str) else None
        kind = _KIND_ALIASES.get(key or "")
        if kind is None:
            raise InvalidArgumentError(
                f"task_type must be 'tool' or 'agent', got {task_type!r}; {self.listing()}. "
                f"Example: submit_task('tool', '{(self.names() or ['name'])[0]}', {{...}})"
            )
        return kind  # type: ignore[return-value]

    def resolve(self, task_type: Any, name: Any) -> RegisteredTask:
        """The entry the model means: by name, by the tool object itself, or smolagents' wrapper of it."""
        kind = self.kind_of(task_type)
        target_name = self._name_of(name)
        entry = self._entries.get(target_name) if target_name is not None else None
        if entry is None and isinstance(target_name, str):
            entry = self._entries.get(target_name.strip())
        if entry is None:
            if not isinstance(target_name, str):
                raise InvalidArgumentError(
                    f"the {kind} name must be a string naming one of them, got {type(name).__name__} {preview(name, 100)}; "
                    f"{self.listing()}"
                )
            label = "managed agent" if kind == "agent" else "tool"
            raise InvalidArgumentError(
                f"unknown {label} {target_name!r}{suggest(target_name, self.names())}; {self.listing()}"
            )
        return entry  # a tool named with task_type 'agent' (or the reverse) is harmless: the name decides

    def _name_of(self, name: Any) -> str | None:
        if isinstance(name, str):
            return name
        seen = 0
        while seen < 4 and name is not None:  # smolagents hands the model's code a wrapper; the Tool is inside
            for entry in self._entries.values():
                target = entry.target.template if entry.kind == "agent" else entry.target
                if name is target or name is entry.target:
                    return entry.name
            name = getattr(name, "__wrapped__", None)
            seen += 1
        return None

    # ------------------------------------------------------------------ arguments

    def validate(self, task_type: Any, name: Any, args: Any = None, **kwargs: Any) -> tuple[RegisteredTask, dict[str, Any]]:
        """Check a request against the entry's ``inputs``; return ``(entry, normalised args)``.

        ``args``: a dict, a JSON object string, one bare value for an entry with a single
        required input (a task string for an agent), or None. ``kwargs`` are merged in.
        Raises ``InvalidArgumentError`` written for the model.
        """
        entry = self.resolve(task_type, name)
        values = self._as_dict(entry, args)
        for key, value in kwargs.items():
            if key in values and values[key] != value:
                raise InvalidArgumentError(
                    f"argument {key!r} of {entry.name} was given twice, in args and as a keyword; give it once"
                )
            values[key] = value
        unknown = [key for key in values if key not in entry.inputs]
        if unknown:
            hints = "".join(suggest(key, entry.inputs) for key in unknown[:1])
            raise InvalidArgumentError(
                f"unknown argument{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} for "
                f"{entry.kind} {entry.name!r}{hints}; it takes: {entry.signature()}"
            )
        missing = [key for key in entry.required if key not in values]
        if missing:
            raise InvalidArgumentError(
                f"{entry.kind} {entry.name!r} needs argument{'s' if len(missing) > 1 else ''} "
                f"{', '.join(map(repr, missing))}; it takes: {entry.signature()}. "
                f"Example: submit_task('{entry.kind}', '{entry.name}', {{{', '.join(repr(k) + ': ...' for k in entry.required)}}})"
            )
        for key, value in values.items():
            values[key] = self._check_type(entry, key, value)
        return entry, values

    def _as_dict(self, entry: RegisteredTask, args: Any) -> dict[str, Any]:
        if args is None:
            return {}
        if isinstance(args, Mapping):
            if not all(isinstance(k, str) for k in args):
                raise InvalidArgumentError(f"the args of {entry.name} must be a dict with string keys, got {preview(args, 200)}")
            return dict(args)
        if isinstance(args, str) and args.strip().startswith("{"):
            parsed = _parse_dict(args.strip())
            if parsed is None:
                raise InvalidArgumentError(
                    f"the args of {entry.name} look like a dict in a string but do not parse; pass a dict "
                    f"instead, e.g. {{{', '.join(repr(k) + ': ...' for k in entry.inputs)}}}"
                )
            return parsed
        required = entry.required
        scalar = isinstance(args, (str, int, float, bool))
        if scalar and (len(required) == 1 or len(entry.inputs) == 1):  # one bare value for the only input
            key = required[0] if required else next(iter(entry.inputs))
            return {key: args}
        raise InvalidArgumentError(
            f"the args of {entry.name} must be a dict of its arguments ({entry.signature()}), "
            f"got {type(args).__name__} {preview(args, 200)}"
        )

    @staticmethod
    def _check_type(entry: RegisteredTask, key: str, value: Any) -> Any:
        return check_input(entry.name, key, entry.inputs[key], value, placeholders=True)

    def checker(self, entry: RegisteredTask) -> InputCheck:
        """A picklable ``check(key, value) -> value`` for ``entry``'s inputs, for values known only later."""
        return InputCheck(entry.name, {key: dict(spec) for key, spec in entry.inputs.items()})

    # ------------------------------------------------------------------ running

    def callable_for(self, entry: RegisteredTask | str) -> Callable[..., Any]:
        """What to submit for ``entry`` (called with the validated args as keyword arguments).

        A tool is called as is; a managed agent runs on a fresh instance per call, is
        interrupted when its task is cancelled or times out, and adds its token usage to
        ``self.usage``.
        """
        if isinstance(entry, str):
            if entry not in self._entries:
                raise InvalidArgumentError(f"unknown name {entry!r}{suggest(entry, self.names())}; {self.listing()}")
            entry = self._entries[entry]
        if entry.kind == "tool":  # an async tool runs on the TaskManager's event loop, as a coroutine
            return AsyncToolCall(entry.target) if is_async_tool(entry.target) else entry.target
        return ManagedAgentRun(entry.target, self.usage)
