"""The agent layer: smolagents tools that run work in the background, and ``AsyncAgent``.

>>> from async_task_system.agent import create_async_agent           # doctest: +SKIP
>>> with create_async_agent(tools=[search], model=model) as agent:     # doctest: +SKIP
...     agent.run_with_async_guidance("Compare what three searches say")
...     print(agent.last_run.format())
"""

from ._async_agent import (
    UNFINISHED_POLICIES,
    AsyncAgent,
    create_async_agent,
)
from ._async_tools import AsyncToolCall, BlockingAsyncTool, is_async_tool, tool
from ._board import Limits, TaskBoard, TaskListing
from ._guidance import GUIDANCE, guidance_for
from ._managed import (
    AgentSource,
    Coordinator,
    ManagedAgentRun,
    SubAgentError,
    Usage,
    UsageMeter,
    fresh_copy,
    usage_of,
)
from ._observation import NoResult, TaskResults
from ._placeholders import ResolvedCall
from ._progress import report_progress
from ._sandbox import DEFAULT_MAX_INT_DIGITS, SandboxedPythonExecutor, safe_format
from ._subprocess_executor import SubprocessPythonExecutor
from ._input import InputRequests, request_input
from ._message_tool import SendMessageTool
from ._live import live_scope
from ._messages import Mailboxes, deliver_message, message_text
from ._notices import CompletionNotices
from ._registry import (
    RegisteredTask,
    TaskRegistry,
    normalize_task_id,
    normalize_task_ids,
)
from ._run_summary import RunSummary
from ._timeline import ModelStep, Timeline, TimelineRow
from ._tools import (
    CancelTaskTool,
    CheckTaskTool,
    GetTaskResultsTool,
    ListTasksTool,
    SleepTool,
    SubmitTaskTool,
    WaitForTasksTool,
    task_tools,
)

__all__ = [
    "AsyncAgent", "RunSummary", "create_async_agent", "UNFINISHED_POLICIES", "Timeline", "TimelineRow", "ModelStep",
    "TaskRegistry", "RegisteredTask", "normalize_task_id", "normalize_task_ids",
    "TaskBoard", "Limits", "NoResult", "TaskResults", "TaskListing", "ResolvedCall", "Coordinator",
    "SubmitTaskTool", "WaitForTasksTool", "SleepTool", "GetTaskResultsTool", "CheckTaskTool", "ListTasksTool",
    "CancelTaskTool", "task_tools",
    "AgentSource", "ManagedAgentRun", "SubAgentError", "Usage", "UsageMeter", "fresh_copy", "usage_of",
    "GUIDANCE", "guidance_for", "report_progress",
    "tool", "is_async_tool", "AsyncToolCall", "BlockingAsyncTool",
    "SandboxedPythonExecutor", "DEFAULT_MAX_INT_DIGITS", "safe_format", "SubprocessPythonExecutor",
    "request_input", "InputRequests", "SendMessageTool", "Mailboxes", "CompletionNotices",
    "live_scope", "deliver_message", "message_text",
]
