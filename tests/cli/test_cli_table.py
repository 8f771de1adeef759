"""The live task table, rendered with a fixed-width rich Console: readable at 80 columns, whatever the results."""

from __future__ import annotations

import io
import re

import pytest
from rich.cells import cell_len
from rich.console import Console

from async_task_system import TaskManager
from async_task_system.cli import TaskTable

LONG = "Merged 4 sources. Totals: north 3048, south 1950, east 2159, west 3489. Top region: west."


class BadRepr:
    def __str__(self) -> str:
        raise RuntimeError("no str")

    __repr__ = __str__


def nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


def fail() -> None:
    raise ValueError("disk full\x1b[2J on /dev/sda")


def render(tm: TaskManager, width: int = 80) -> list[str]:
    out = io.StringIO()
    Console(file=out, width=width, color_system=None).print(TaskTable(tm, "demo"))
    return out.getvalue().splitlines()


@pytest.fixture
def finished_tasks():
    results = {"long": LONG, "bad repr": BadRepr(), "surrogate": "x\ud800y", "deep": nested(10_000),
               "huge": "z" * 10_000_000, "agent": "Here is the final answer from your managed agent 'a':\nnorth: 620000"}
    with TaskManager(max_workers=2) as tm:
        ids = {key: tm.submit(lambda v=value: v, name=key.replace(" ", "_"),
                              metadata={"task_type": "agent" if key == "agent" else "tool"})
               for key, value in results.items()}
        ids["fail"] = tm.submit(fail, name="fetch")
        tm.wait(list(ids.values()), timeout=30)
        yield tm, ids


def test_the_table_fits_80_columns_and_keeps_most_of_the_result(finished_tasks):
    tm, ids = finished_tasks
    lines = render(tm)
    assert all(cell_len(line) <= 80 for line in lines)
    row = {m.group(1): line for line in lines if (m := re.match(r"\s*(t\d+)\s", line))}
    assert LONG[:28] in row[ids["long"]]  # about 30 characters of the result show at 80 columns
    assert "north: 620000" in row[ids["agent"]] and "Here is the final answer" not in row[ids["agent"]]
    assert "failed" in row[ids["fail"]] and "disk full" in row[ids["fail"]] and "\x1b" not in "".join(lines)
    assert "str() failed" in row[ids["bad repr"]]
    assert "x\ufffdy" in row[ids["surrogate"]]
    assert "[[[" in row[ids["deep"]] and "zzz" in row[ids["huge"]]


def test_the_table_still_renders_in_40_columns(finished_tasks):
    tm, _ids = finished_tasks
    assert all(cell_len(line) <= 40 for line in render(tm, width=40))
