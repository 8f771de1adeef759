"""Async tools: smolagents ``Tool`` objects whose ``forward`` is ``async def``.

* ``tool`` is smolagents' ``@tool`` that also takes ``async def`` functions (same docstring
  parsing, same ``Tool`` class shape; a plain function goes to smolagents' own decorator).
* Through ``submit_task`` an async tool is handed to the engine as a coroutine function
  (``AsyncToolCall``), so it runs on the TaskManager's event loop, not on a thread.
* Called directly by the model's code (which cannot ``await``), it runs on the same loop
  through ``BlockingAsyncTool``, the stand-in the agent gets: the code receives the result.
  The same holds for the code of managed sub-agents (``run_async_tools_on``), in-process or
  with their code in a child process (whose tool calls come back to this process).
"""

from __future__ import annotations

import ast
import functools
import inspect
import json
import textwrap
from collections.abc import Callable
from typing import Any

from smolagents.tools import Tool, get_json_schema
from smolagents.tools import tool as smolagents_tool
from smolagents._function_type_hints_utils import TypeHintParsingException

from ..engine import CancelToken, TaskManager, current_task
from ..errors import InvalidArgumentError
from ._tool_spans import tool_span

__all__ = ["tool", "is_async_tool", "AsyncToolCall", "BlockingAsyncTool", "for_direct_calls", "run_async_tools_on",
           "has_async_tools"]


def is_async_tool(obj: Any) -> bool:
    """Whether ``obj`` is a smolagents ``Tool`` whose ``forward`` is ``async def``."""
    return isinstance(obj, Tool) and inspect.iscoroutinefunction(getattr(obj, "forward", None))


def _refuse_generators(fn: Callable[..., Any]) -> None:
    """A tool has one result: an (async) generator function is refused, saying how to collect its items."""
    kind = "async generator" if inspect.isasyncgenfunction(fn) else "generator" if inspect.isgeneratorfunction(fn) \
        else None
    if kind is not None:
        loop = "async for" if kind == "async generator" else "for"
        raise InvalidArgumentError(
            f"@tool got the {kind} function {getattr(fn, '__name__', fn)!r}: a tool has one result, and a {kind} "
            f"yields many. Collect the items into a list (`{loop} item in ...: items.append(item)`) and return it")


def tool(tool_function: Callable[..., Any]) -> Tool:
    """smolagents' ``@tool``, which also accepts ``async def`` functions.

    The function needs type hints for each argument and its return, and a docstring with
    an ``Args:`` section, exactly as for smolagents' decorator. The result is an instance
    of a ``Tool`` subclass whose ``forward`` is the function (a coroutine function for an
    ``async def``): ``await my_tool(query="x")`` works in async code, and an ``AsyncAgent``
    runs it on its TaskManager's event loop.
    """
    _refuse_generators(tool_function)
    if not inspect.iscoroutinefunction(tool_function):
        return smolagents_tool(tool_function)
    schema = get_json_schema(tool_function)["function"]
    if "return" not in schema:
        if schema["parameters"]["properties"]:
            raise TypeHintParsingException("Tool return type not found: make sure your function has a return type hint!")
        schema["return"] = {"type": "null"}

    class SimpleTool(Tool):
        def __init__(self) -> None:
            self.is_initialized = True

    SimpleTool.name = schema["name"]
    SimpleTool.description = schema["description"]
    SimpleTool.inputs = schema["parameters"]["properties"]
    SimpleTool.output_type = schema["return"]["type"]
    output_schema = schema.get("output_schema") or schema["return"].get("schema")
    if output_schema is not None:
        SimpleTool.output_schema = output_schema

    @functools.wraps(tool_function)
    async def forward(*args: Any, **kwargs: Any) -> Any:
        return await tool_function(*args, **kwargs)

    SimpleTool.forward = staticmethod(forward)
    signature = inspect.signature(tool_function)
    self_param = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    new_signature = signature.replace(parameters=[self_param, *signature.parameters.values()])
    SimpleTool.forward.__signature__ = new_signature
    source = _class_source(tool_function, schema, new_signature)
    if source is not None:  # as smolagents does, for inspection and Tool.to_dict()
        SimpleTool.__source__, SimpleTool.forward.__source__ = source
    return SimpleTool()


def _class_source(fn: Callable[..., Any], schema: dict[str, Any], signature: inspect.Signature) -> tuple[str, str] | None:
    """The source smolagents would write for the tool class and its forward, or None if unavailable."""
    try:
        text = textwrap.dedent(inspect.getsource(fn))
        tree = ast.parse(text)
    except (OSError, TypeError, SyntaxError):
        return None
    node = next((n for n in ast.walk(tree) if isinstance(n, ast.AsyncFunctionDef)), None)
    if node is None:
        return None
    body = "\n".join(text.splitlines()[node.body[0].lineno - 1:])
    forward_source = f"async def forward{signature}:\n{body}"
    class_source = textwrap.dedent(f"""
        class SimpleTool(Tool):
            name: str = "{schema["name"]}"
            description: str = {json.dumps(textwrap.dedent(schema["description"]).strip())}
            inputs: dict[str, dict[str, str]] = {schema["parameters"]["properties"]}
            output_type: str = "{schema["return"]["type"]}"

            def __init__(self):
                self.is_initialized = True

        """) + textwrap.indent(forward_source, " " * 4)
    return class_source, forward_source


class AsyncToolCall:
    """An async tool as the engine runs it: a callable object whose ``__call__`` is ``async def``.

    Does what ``Tool.__call__`` does (setup on first use, one dict of arguments accepted) and
    awaits ``forward`` on the manager's loop. Not through ``Tool.__call__`` itself: instrumented
    by OpenInference, it would record a tool span that ends when the coroutine is made, with
    the coroutine object as its output. With ``traced``, the call records that TOOL span itself,
    around the whole await (``tool_span``); a ``BlockingAsyncTool``'s call does not, as its
    caller's ``Tool.__call__`` already has one.
    """

    __slots__ = ("tool", "traced", "__name__")

    def __init__(self, async_tool: Tool, *, traced: bool = True) -> None:
        self.tool = async_tool
        self.traced = traced
        self.__name__ = async_tool.name

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        tool = self.tool
        if _own_call(type(tool)):  # the tool has its own __call__: respect it
            result = tool(*args, **kwargs)
            return await result if inspect.isawaitable(result) else result
        if not tool.is_initialized:
            tool.setup()
        if len(args) == 1 and not kwargs and isinstance(args[0], dict) and all(k in tool.inputs for k in args[0]):
            args, kwargs = (), args[0]
        if not self.traced:
            return await tool.forward(*args, **kwargs)
        with tool_span(tool, args, kwargs) as finished:
            result = await tool.forward(*args, **kwargs)
            if finished is not None:
                finished(result)
        return result

    def __repr__(self) -> str:
        return f"<AsyncToolCall {self.tool.name}>"


def _own_call(cls: type) -> bool:
    """Whether a Tool subclass defines ``__call__`` itself (read from the class dicts: an
    instrumentation that wraps ``Tool.__call__`` makes identity checks fail)."""
    for klass in cls.__mro__:
        if klass is Tool:
            return False
        if "__call__" in vars(klass):
            return True
    return False


class BlockingAsyncTool(Tool):
    """What the model's code calls for an async tool: runs it on the TaskManager's loop, returns its result.

    Same name, description and inputs as the tool it stands for (``__wrapped__``, so
    ``submit_task(the_tool, ...)`` still finds the real one). A call is cancelled by
    ``cancel_calls()`` (the agent's run was cancelled) or, when the calling code runs as a
    task, by that task's cancellation.
    """

    skip_forward_signature_validation = True

    def __init__(self, async_tool: Tool, task_manager: TaskManager) -> None:
        self.name = async_tool.name
        self.description = async_tool.description
        self.inputs = async_tool.inputs
        self.output_type = async_tool.output_type
        if getattr(async_tool, "output_schema", None) is not None:
            self.output_schema = async_tool.output_schema
        self.__wrapped__ = async_tool
        self._call = AsyncToolCall(async_tool, traced=False)  # this stand-in's own Tool.__call__ has the span
        self._task_manager = task_manager
        self._calls = CancelToken()  # replaced after each cancel_calls()
        super().__init__()

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        token = self._calls if current_task() is None else None  # None: the calling task's own token
        return self._task_manager.run_coroutine(self._call, args, kwargs, token=token)

    def cancel_calls(self, reason: str = "cancelled") -> None:
        """Cancel the calls in flight (their callers get ``TaskCancelledError``); later calls run."""
        calls, self._calls = self._calls, CancelToken()
        calls.cancel(reason)


def for_direct_calls(tools: list[Any], task_manager: TaskManager) -> list[Any]:
    """``tools`` with each async tool replaced by its ``BlockingAsyncTool`` on ``task_manager``."""
    return [_stand_in(item, task_manager) for item in tools]


def run_async_tools_on(agent: Any, task_manager: TaskManager) -> Any:
    """Replace, in ``agent.tools`` (and its managed agents' tools), each async tool by its stand-in on
    ``task_manager``'s loop, so the agent's code gets results, not coroutines. A stand-in bound to
    another manager is bound to this one instead. Returns ``agent``."""
    tools = getattr(agent, "tools", None)
    if isinstance(tools, dict):
        for name, item in list(tools.items()):
            if isinstance(item, BlockingAsyncTool):
                if item._task_manager is task_manager:
                    continue
                item = item.__wrapped__
            if is_async_tool(item):
                tools[name] = _stand_in(item, task_manager)
    for sub in (getattr(agent, "managed_agents", None) or {}).values():
        run_async_tools_on(sub, task_manager)
    return agent


def has_async_tools(agent: Any) -> bool:
    """Whether ``agent`` (or one of its managed agents) has an async tool that is not yet a stand-in."""
    tools = getattr(agent, "tools", None)
    return (isinstance(tools, dict) and any(is_async_tool(item) for item in tools.values())) or any(
        has_async_tools(sub) for sub in (getattr(agent, "managed_agents", None) or {}).values())


def _stand_in(item: Any, task_manager: TaskManager) -> Any:
    """A ``BlockingAsyncTool`` for an async tool (of a class named like the tool's own, as Phoenix
    names tool spans after the class); anything else as it is."""
    if not is_async_tool(item):
        return item
    cls = type(type(item).__name__, (BlockingAsyncTool,), {"__module__": __name__})
    return cls(item, task_manager)
