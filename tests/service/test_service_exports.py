"""The service's public names, and the layering: nothing below it imports the web stack."""

from __future__ import annotations

import subprocess
import sys

from async_task_system import server


def test_public_names_resolve():
    assert sorted(server.__all__) == sorted(["create_app", "TaskService", "Store", "TaskClient", "ServiceError",
                                             "ApiError", "StoreLockedError"])
    for name in server.__all__:
        assert getattr(server, name) is not None


def test_the_engine_and_agent_layer_do_not_import_the_web_stack():
    code = ("import sys, async_task_system, async_task_system.agent, async_task_system.tracing; "
            "print(sorted(m for m in ('fastapi', 'starlette', 'uvicorn', 'async_task_system.server') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120,
                         env={"LITELLM_LOCAL_MODEL_COST_MAP": "True", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"
