"""The public surface: exports, layering, and the README's engine example."""

from __future__ import annotations

import subprocess
import sys

import async_task_system
import async_task_system.engine


def test_exports_exist():
    for name in async_task_system.__all__:
        if name in {"AsyncAgent", "create_async_agent", "setup_tracing"}:
            continue  # lazy: their layers are tested on their own
        assert hasattr(async_task_system, name), name
    for name in async_task_system.engine.__all__:
        assert hasattr(async_task_system.engine, name), name


def test_engine_does_not_import_smolagents():
    code = (
        "import sys, async_task_system, async_task_system.engine, async_task_system.executors;"
        "from async_task_system import TaskManager;"
        "tm = TaskManager(); tm.result(tm.submit(int)); tm.shutdown();"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'smolagents', 'litellm', 'fastapi', 'dask'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
