"""The app the service tests serve: real smolagents tools (and, for runs, a scripted model).

uvicorn imports it in a subprocess (``--factory service_app:build``); settings come from
the environment: SERVICE_DB, SERVICE_TOKEN, SERVICE_MAX_UNFINISHED, SERVICE_MAX_WORKERS,
SERVICE_RUN_TIMEOUT, SERVICE_STUBBORN_TOOL.
"""

from __future__ import annotations

import os
import time

from smolagents import Tool, tool

from async_task_system import cancel_token
from async_task_system.server import create_app


@tool
def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: the first addend
        b: the second addend
    """
    return a + b


@tool
def slow_echo(text: str, seconds: float) -> str:
    """Wait, then return the text. Stops early when the task is cancelled.

    Args:
        text: what to return
        seconds: how long to wait first
    """
    token = cancel_token()
    if token is not None:
        token.wait(min(seconds, 600))
    else:
        time.sleep(min(seconds, 600))
    return text


class Divide(Tool):
    name = "divide"
    description = "Divide x by y; fails when y is 0."
    inputs = {"x": {"type": "number", "description": "dividend"},
              "y": {"type": "number", "description": "divisor"}}
    output_type = "number"

    def forward(self, x: float, y: float) -> float:
        if y == 0:
            raise ZeroDivisionError("y must not be 0")
        return x / y


class MakeSet(Tool):
    name = "make_set"
    description = "Return the letters of a word as a Python set (not JSON)."
    inputs = {"word": {"type": "string", "description": "a word"},
              "upper": {"type": "boolean", "description": "uppercase first", "nullable": True}}
    output_type = "any"

    def forward(self, word: str, upper: bool | None = None):
        return set(word.upper() if upper else word)


@tool
def stubborn_sleep(seconds: float) -> float:
    """Sleep, ignoring cancellation (served only with SERVICE_STUBBORN_TOOL=1).

    Args:
        seconds: how long to sleep
    """
    time.sleep(min(seconds, 600))
    return seconds


TOOLS = [add, slow_echo, Divide(), MakeSet()]


def build():
    """The app factory uvicorn calls."""
    from service_model import build_analyst, build_model

    model = build_model() if os.environ.get("SERVICE_RUNS") else None
    tools = TOOLS + ([stubborn_sleep] if os.environ.get("SERVICE_STUBBORN_TOOL") else [])
    return create_app(
        tools, [build_analyst()], model=model, token=os.environ.get("SERVICE_TOKEN") or None,
        db_path=os.environ["SERVICE_DB"], max_workers=int(os.environ.get("SERVICE_MAX_WORKERS", "4")),
        max_unfinished=int(os.environ.get("SERVICE_MAX_UNFINISHED", "1000")), max_wait_seconds=30,
        run_timeout_seconds=float(os.environ.get("SERVICE_RUN_TIMEOUT", "600")),
    )
