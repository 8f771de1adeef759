"""`async-agent run` with tasks that ask questions, and with per-name resources: the console script in a
fresh folder, a fake OpenAI-compatible model on 127.0.0.1, a real terminal (pty) for the prompt."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from cli_helpers import COMMAND, FakeOpenAI, async_agent, table_rows

ASKING_TOOLS = '''
from smolagents import tool
from async_task_system.agent import request_input

@tool
def pick(topic: str) -> str:
    """Asks the person which colour to use for a topic, and returns the choice.

    Args:
        topic: what the colour is for
    """
    return "colour=" + request_input(f"Which colour for {topic}?", timeout=TIMEOUT)

TOOLS = [pick]
'''

FIRST = """<code>
t = submit_task("tool", "pick", {"topic": "the chart"})
wait_for_tasks([t], max_wait_time=5)
print("RESULT", get_task_results([t]))
</code>"""
AGAIN = """<code>
wait_for_tasks([t], max_wait_time=5)
print("RESULT", get_task_results([t]))
</code>"""


def _reply(messages: list[dict]) -> str:
    """Submit the asking tool, wait until it has a result, answer with it (or give up after 8 steps)."""
    text = json.dumps(messages)
    steps = sum(1 for m in messages if m.get("role") == "assistant")
    if "colour=" in text or steps >= 8:
        return "<code>\nfinal_answer(str(get_task_results([t])[t]))\n</code>"
    return FIRST if steps == 0 else AGAIN


def _package(folder: Path, timeout: float = 60) -> None:
    (folder / "asking").mkdir()
    (folder / "asking" / "__init__.py").write_text("")
    (folder / "asking" / "tools.py").write_text(ASKING_TOOLS.replace("TIMEOUT", str(timeout)))


def _env(folder: Path, api: FakeOpenAI) -> None:
    (folder / ".env").write_text(f"MODEL_ID=openai/house-model\nAPI_KEY=sk-local-test\nBASE_URL={api.url}\n")


@pytest.mark.slow
def test_answers_from_the_command_line_reach_the_task_that_asks(tmp_path: Path) -> None:
    _package(tmp_path)
    with FakeOpenAI(_reply).running() as api:
        _env(tmp_path, api)
        proc = async_agent(["run", "Pick a colour for the chart", "--tools", "asking.tools:TOOLS", "--quiet",
                            "--answer", "blue"], tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    assert "asked: Which colour for the chart?; answered from --answer: blue" in proc.stdout
    assert "colour=blue" in proc.stdout.split("Final answer", 1)[1]
    assert table_rows(proc.stdout)["t1"] == ("tool", "pick", "completed")


@pytest.mark.slow
def test_off_a_terminal_without_answers_the_question_is_shown_with_how_to_answer(tmp_path: Path) -> None:
    _package(tmp_path, timeout=1)  # nobody answers: the tool's own wait ends it
    with FakeOpenAI(_reply).running() as api:
        _env(tmp_path, api)
        proc = async_agent(["run", "Pick a colour for the chart", "--tools", "asking.tools:TOOLS", "--quiet"],
                           tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    assert "t1 (pick) asks: Which colour for the chart?" in proc.stdout
    assert "No terminal to answer on" in proc.stdout and "--answer TEXT" in proc.stdout
    assert table_rows(proc.stdout)["t1"][:2] == ("tool", "pick")


@pytest.mark.slow
def test_on_a_terminal_the_live_view_pauses_for_the_persons_answer(tmp_path: Path) -> None:
    pexpect = pytest.importorskip("pexpect")
    _package(tmp_path)
    with FakeOpenAI(_reply).running() as api:
        _env(tmp_path, api)
        env = {k: v for k, v in os.environ.items() if k not in ("MODEL_ID", "API_KEY", "BASE_URL", "PYTHONPATH")}
        env.update(LITELLM_LOCAL_MODEL_COST_MAP="True", COLUMNS="160", TERM="xterm")
        child = pexpect.spawn(COMMAND[0], [*COMMAND[1:], "run", "Pick a colour for the chart", "--tools",
                                           "asking.tools:TOOLS", "--quiet"], cwd=str(tmp_path), env=env,
                              encoding="utf-8", timeout=90, dimensions=(50, 160))
        try:
            child.expect(r"t1 \(pick\) asks:.*Which colour for the chart\?")
            child.expect(r"your answer \(empty: leave it to the model\)> ")
            child.sendline("green")
            child.expect("Final answer")
            child.expect("colour=green")
            child.expect(pexpect.EOF)
        finally:
            child.close(force=True)
    assert child.exitstatus == 0, child.before


def test_bad_name_resources_are_refused_with_the_reason(tmp_path: Path) -> None:
    proc = async_agent(["run", "hi", "--name-resources", "render"], tmp_path, timeout=60)
    assert proc.returncode == 1 and "--name-resources takes NAME=RESOURCE:QTY" in proc.stderr
    proc = async_agent(["run", "hi", "--name-resources", "nosuch=GPU:1", "--quiet", "--think", "0"], tmp_path,
                       timeout=60)
    assert proc.returncode == 1 and "nosuch" in proc.stdout + proc.stderr


def test_the_live_table_says_where_each_task_runs_when_it_is_more_than_a_local_thread(tmp_path: Path) -> None:
    plain = async_agent(["run", "Study the regions", "--scenario", "gather", "--delay", "0.05", "--think", "0",
                         "--quiet"], tmp_path, timeout=120)
    assert plain.returncode == 0, plain.stderr[-3000:]
    assert "on local threads" in plain.stdout and not re.search(r"status\s+where", plain.stdout)
    needs = async_agent(["run", "Study the regions", "--scenario", "gather", "--delay", "0.05", "--think", "0",
                         "--quiet", "--name-resources", "fetch_source=GPU:1"], tmp_path, timeout=120)
    assert needs.returncode == 0, needs.stderr[-3000:]
    assert re.search(r"status\s+where", needs.stdout)
    places = dict(re.findall(r"^\s*t\d+\s+tool\s+(\w+)\s+completed\s+(thread(?: GPU=1)?)\s", needs.stdout,
                             re.MULTILINE))
    assert places == {"fetch_source": "thread GPU=1", "merge_datasets": "thread"}, needs.stdout[-3000:]
