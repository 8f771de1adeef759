"""The agent layer's public surface, and what it must not pull in."""

from __future__ import annotations

import subprocess
import sys

import async_task_system
import async_task_system.agent as agent_pkg
from async_task_system import testing


def test_every_exported_name_exists() -> None:
    for module in (agent_pkg, testing):
        missing = [name for name in module.__all__ if not hasattr(module, name)]
        assert missing == [], f"{module.__name__} exports missing names: {missing}"


def test_the_top_level_package_gives_the_agent_entry_points_lazily() -> None:
    assert async_task_system.create_async_agent is agent_pkg.create_async_agent
    assert async_task_system.AsyncAgent is agent_pkg.AsyncAgent


def test_tool_classes_keep_their_names_for_tracing() -> None:
    names = {cls.__name__: cls.name for cls in (
        agent_pkg.SubmitTaskTool, agent_pkg.WaitForTasksTool, agent_pkg.SleepTool, agent_pkg.GetTaskResultsTool,
        agent_pkg.CheckTaskTool, agent_pkg.ListTasksTool, agent_pkg.CancelTaskTool)}
    assert names == {
        "SubmitTaskTool": "submit_task", "WaitForTasksTool": "wait_for_tasks", "SleepTool": "sleep",
        "GetTaskResultsTool": "get_task_results", "CheckTaskTool": "check_task", "ListTasksTool": "list_tasks",
        "CancelTaskTool": "cancel_task",
    }


def test_the_agent_layer_knows_no_http_server_and_no_tracing_sdk() -> None:
    code = (
        "import sys, async_task_system.agent, async_task_system.testing\n"
        "print(sorted(m for m in ('fastapi', 'uvicorn', 'starlette', 'httpx', 'litellm', 'opentelemetry.sdk', "
        "'dask', 'distributed') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"
