"""The app the service tests serve: real smolagents tools (and, for runs, a scripted model).

uvicorn imports it in a subprocess (``--factory service_app:build``); settings come from
the environment: SERVICE_DB, SERVICE_TOKEN, SERVICE_MAX_UNFINISHED, SERVICE_MAX_WORKERS,
SERVICE_RETAIN, SERVICE_BODY_TIMEOUT, SERVICE_RUNS, SERVICE_RUN_TIMEOUT, SERVICE_LIST_GATE.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from smolagents import Tool, tool

from async_task_system import cancel_token
from async_task_system.agent import report_progress, request_input
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


class _BrokenRepr:
    def __repr__(self) -> str:
        raise SystemExit("a __repr__ that exits")


def _nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


@tool
def odd_value(kind: str) -> object:
    """Return (or raise) a value that is hard to store, by kind.

    Args:
        kind: surrogate, deep, broken_repr, control, huge, or raise_surrogate
    """
    values = {
        "surrogate": lambda: {"file": os.fsdecode(b"caf\xe9.txt"), os.fsdecode(b"k\xff"): 1},
        "deep": lambda: _nested(5000),
        "broken_repr": _BrokenRepr,
        "control": lambda: "nul\x00 esc\x1b[31m bell\x07 \u2028 end",
        "huge": lambda: "x" * 300_000,
    }
    if kind == "raise_surrogate":
        raise ValueError("cannot open " + os.fsdecode(b"\xff.bin"))
    return values[kind]()


@tool
def stubborn(seconds: float) -> float:
    """Sleep, ignoring cancellation and timeouts (a tool that never checks its cancel token).

    Args:
        seconds: how long to sleep (at most 60)
    """
    time.sleep(min(seconds, 60))
    return seconds


@tool
def ask_user(question: str) -> str:
    """Report progress, ask a person a question (the task waits for input), return the answer.

    Args:
        question: what to ask
    """
    report_progress("about to ask")
    return "answer: " + request_input(question, timeout=60)


TOOLS = [add, slow_echo, Divide(), MakeSet(), odd_value, stubborn, ask_user]


def build():
    """The app factory uvicorn calls."""
    from service_model import build_analyst, build_model

    from service_model import build_listener

    model = build_model() if os.environ.get("SERVICE_RUNS") else None
    app = create_app(
        TOOLS, [build_analyst(), build_listener()], model=model,
        keepalive_seconds=float(os.environ.get("SERVICE_KEEPALIVE", "15")),
        max_stream_seconds=float(os.environ.get("SERVICE_MAX_STREAM", "300")), token=os.environ.get("SERVICE_TOKEN") or None,
        db_path=os.environ["SERVICE_DB"], max_workers=int(os.environ.get("SERVICE_MAX_WORKERS", "4")),
        max_unfinished=int(os.environ.get("SERVICE_MAX_UNFINISHED", "1000")), max_wait_seconds=30,
        retain_finished=int(os.environ.get("SERVICE_RETAIN", "10000")),
        body_timeout_seconds=float(os.environ.get("SERVICE_BODY_TIMEOUT", "30")),
        run_timeout_seconds=float(os.environ.get("SERVICE_RUN_TIMEOUT", "600")),
    )
    if os.environ.get("SERVICE_LIST_GATE"):  # listings wait until this file exists: a store read that takes long
        _gate_listings(app.state.service.store, Path(os.environ["SERVICE_LIST_GATE"]))
    return app


def _gate_listings(store, gate: Path) -> None:
    list_tasks = store.list_tasks

    def gated(*args, **kwargs):
        deadline = time.monotonic() + 30
        while not gate.exists() and time.monotonic() < deadline:
            time.sleep(0.02)  # test scaffolding: the test creates the file to let the read finish
        return list_tasks(*args, **kwargs)

    store.list_tasks = gated
