"""Agent-layer overheads, arms side by side in one process.

    LITELLM_LOCAL_MODEL_COST_MAP=True .venv/bin/python benchmarks/agent_layer.py [--tasks 2000] [--rounds 5] \
        [--out benchmarks/results/agent_layer.md]

1. Per task: ``submit_task`` + ``wait_for_tasks`` + ``get_task_results`` through the model-facing
   tools (argument checks, id normalisation, reports) against ``TaskManager.submit/wait/get``.
   And the same with a placeholder inside text in every task's args (``'note: ${first}'``: resolved
   by the agent layer into ``ResultOf`` markers and rendered by a ``ResolvedCall``).
2. A fresh managed-agent instance per task: ``fresh_copy`` of a CodeAgent against building a new one,
   and a fresh nested coordinator (``AsyncAgent.fresh()`` + ``shutdown()``).
3. What the model reads: the seven tool descriptions and the guidance, in tokens (cl100k_base).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from smolagents import CodeAgent, tool

from async_task_system import TaskManager, create_async_agent
from async_task_system.agent import (
    TaskBoard,
    TaskRegistry,
    fresh_copy,
    guidance_for,
    task_tools,
)
from async_task_system.testing import ScriptedModel


@tool
def echo(text: str) -> str:
    """Return the text.

    Args:
        text: any text
    """
    return text


def raw_manager(n: int) -> float:
    with TaskManager(max_workers=4, max_unfinished=n, max_finished=n) as tm:
        start = time.perf_counter()
        ids = [tm.submit(echo, kwargs={"text": str(i)}, name="echo") for i in range(n)]
        tm.wait(ids)
        results = {i: tm.get(i).result for i in ids}
        elapsed = time.perf_counter() - start
    assert len(results) == n
    return elapsed / n


def through_tools(n: int, placeholder: bool = False) -> float:
    with TaskManager(max_workers=4, max_unfinished=n + 1, max_finished=n + 1) as tm:
        board = TaskBoard(tm, TaskRegistry([echo]))
        tools = {t.name: t for t in task_tools(board)}
        submit, wait, results = tools["submit_task"], tools["wait_for_tasks"], tools["get_task_results"]
        first = submit("tool", "echo", {"text": "x"}) if placeholder else None
        board.bind_variables(lambda: {"first": first})
        text = "note: ${first} " if placeholder else ""
        start = time.perf_counter()
        ids = [submit("tool", "echo", {"text": f"{text}{i}"}) for i in range(n)]
        wait(ids)
        got = results(ids)
        elapsed = time.perf_counter() - start
    assert len(got) == n and got[ids[-1]] == ("note: x " if placeholder else "") + str(n - 1)
    return elapsed / n


def coordinators(n: int) -> float:
    template = create_async_agent(tools=[echo], model=ScriptedModel(["final_answer(1)"]), name="helper",
                                  description="Helps.", verbosity_level=-1)
    with template:
        start = time.perf_counter()
        for _ in range(n):
            template.fresh().shutdown()
        return (time.perf_counter() - start) / n


def agent_instances(n: int) -> tuple[float, float]:
    def build() -> CodeAgent:
        return CodeAgent(tools=[echo], model=ScriptedModel(["final_answer(1)"]), name="helper",
                         description="Helps.", verbosity_level=-1)

    template = build()
    start = time.perf_counter()
    for _ in range(n):
        build()
    new = (time.perf_counter() - start) / n
    start = time.perf_counter()
    for _ in range(n):
        fresh_copy(template)
    copied = (time.perf_counter() - start) / n
    return new, copied


def prompt_tokens() -> tuple[int, int] | None:
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return None
    os.environ.setdefault("TIKTOKEN_CACHE_DIR",
                          os.path.join(spec.submodule_search_locations[0], "litellm_core_utils", "tokenizers"))
    import tiktoken

    encoding = tiktoken.get_encoding("cl100k_base")
    with TaskManager(1) as tm:
        text = "\n\n".join(t.to_code_prompt() for t in task_tools(TaskBoard(tm, TaskRegistry())))
    return len(encoding.encode(text)), len(encoding.encode(guidance_for("cancel")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    raw, tools, placed, nested = [], [], [], []
    for _ in range(args.rounds):  # interleaved, so machine noise hits every arm alike
        raw.append(raw_manager(args.tasks))
        tools.append(through_tools(args.tasks))
        placed.append(through_tools(args.tasks, placeholder=True))
        nested.append(coordinators(max(1, args.agents // 10)))
    new, copied = zip(*(agent_instances(args.agents) for _ in range(args.rounds)))
    tokens = prompt_tokens()

    raw_us, tools_us = statistics.median(raw) * 1e6, statistics.median(tools) * 1e6
    placed_us = statistics.median(placed) * 1e6
    new_ms, copy_ms = statistics.median(new) * 1e3, statistics.median(copied) * 1e3
    nested_ms = statistics.median(nested) * 1e3
    command = " ".join(["LITELLM_LOCAL_MODEL_COST_MAP=True", ".venv/bin/python", "benchmarks/agent_layer.py",
                        *sys.argv[1:]])
    lines = [
        "# Agent-layer overheads",
        "",
        f"Command: `{command}`  ",
        f"{args.tasks} tasks x {args.rounds} rounds, {args.agents} agent instances x {args.rounds} rounds; "
        f"medians; {os.cpu_count()} CPUs.",
        "",
        "| what | arm | per item | ratio |",
        "|---|---|---:|---:|",
        f"| submit + wait + collect one task | TaskManager.submit/wait/get | {raw_us:.0f} us | 1.00 |",
        f"| submit + wait + collect one task | submit_task/wait_for_tasks/get_task_results tools | {tools_us:.0f} us | "
        f"{tools_us / raw_us:.2f} |",
        f"| submit + wait + collect one task | the tools, a placeholder inside text in the args | {placed_us:.0f} us | "
        f"{placed_us / raw_us:.2f} |",
        f"| a managed-agent instance per task | new CodeAgent(...) | {new_ms * 1e3:.0f} us | 1.00 |",
        f"| a managed-agent instance per task | fresh_copy(template) | {copy_ms * 1e3:.0f} us | "
        f"{copy_ms / new_ms:.3f} |",
        f"| a managed-agent instance per task | a nested coordinator: AsyncAgent.fresh() + shutdown() | "
        f"{nested_ms * 1e3:.0f} us | {nested_ms / new_ms:.2f} |",
    ]
    if tokens is not None:
        lines += ["", f"What the model reads (cl100k_base): the seven tool descriptions {tokens[0]} tokens, "
                      f"the guidance {tokens[1]} tokens (only with run_with_async_guidance)."]
    lines += ["", "Both overheads are small next to a model call (hundreds of ms) or a slow tool: "
                  "what the agent layer adds per task is the model-facing checks, not waiting."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()
