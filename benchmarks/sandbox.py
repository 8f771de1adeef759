"""What the sandbox and the child process cost per step of model code.

Run: .venv/bin/python benchmarks/sandbox.py [--steps 300] [--repeat 5]

Arms, side by side in one process, on the same code:
  smolagents  LocalPythonExecutor (no sandbox: the baseline)
  sandboxed   SandboxedPythonExecutor (in-process, the default of create_async_agent)
  subprocess  SubprocessPythonExecutor (code_in_subprocess=True)
Workloads: a trivial step, a step with one tool call, a step with ten tool calls, and a step
with 2,000 attribute lookups and str.format calls (where the sandbox's checks run). Also: the
child's start-up (spawn to first answer) and a whole AsyncAgent step (scripted model) in and
out of process. Prints a table and writes benchmarks/results/sandbox.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

WORKLOADS = {
    "trivial step (`x = 1`)": "x = 1",
    "1 tool call": "y = echo(1)",
    "10 tool calls": "for i in range(10):\n    y = echo(i)",
    "2,000 lookups + format": "for i in range(1000):\n    s = '{}-{:>3}'.format(i, 'a').upper()",
}


def echo(value):
    return value


def _executors():
    from smolagents.local_python_executor import LocalPythonExecutor

    from async_task_system.agent import SandboxedPythonExecutor, SubprocessPythonExecutor

    # timeout_seconds=None as create_async_agent builds them (smolagents' timeout adds a thread per step)
    made = {"smolagents": LocalPythonExecutor([], timeout_seconds=None),
            "sandboxed": SandboxedPythonExecutor([], timeout_seconds=None), "subprocess": SubprocessPythonExecutor([])}
    for executor in made.values():
        executor.send_tools({"echo": echo})
        executor.send_variables({})
        executor("warm = 1")  # the child has started and imported
    return made


def _per_step(executor, code: str, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        executor(code)
    return (time.perf_counter() - start) / steps


def _startup(repeat: int) -> float:
    from async_task_system.agent import SubprocessPythonExecutor

    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        executor = SubprocessPythonExecutor([])
        executor.send_tools({})
        executor.send_variables({})
        executor("1")
        times.append(time.perf_counter() - start)
        executor.cleanup()
    return statistics.median(times)


def _agent_step(code_in_subprocess: bool, steps: int) -> float:
    """Seconds per step of a whole AsyncAgent run (scripted model, no model latency), child started."""
    from async_task_system import create_async_agent
    from async_task_system.testing import ScriptedModel

    replies = ["x = 1\nprint(x)"] * (steps - 1) + ["final_answer(x)"]
    with create_async_agent(model=ScriptedModel(replies), code_in_subprocess=code_in_subprocess,
                            verbosity_level=-1, max_steps=steps + 1) as agent:
        agent.agent.python_executor("warm = 1")
        start = time.perf_counter()
        agent.run("count")
        return (time.perf_counter() - start) / steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5, help="runs per cell; the table shows the median")
    parser.add_argument("--out", default=str(HERE / "results" / "sandbox.md"))
    args = parser.parse_args(argv)
    executors = _executors()
    table: dict[str, dict[str, float]] = {}
    try:
        for label, code in WORKLOADS.items():
            table[label] = {}
            for _ in range(args.repeat):  # arms interleaved, so drift in the machine's load hits all alike
                for arm, executor in executors.items():
                    table[label].setdefault(arm, [])
                    table[label][arm].append(_per_step(executor, code, args.steps))
            table[label] = {arm: statistics.median(values) for arm, values in table[label].items()}
    finally:
        executors["subprocess"].cleanup()
    startup = _startup(args.repeat)
    agent = {arm: statistics.median(_agent_step(arm == "subprocess", 20) for _ in range(args.repeat))
             for arm in ("sandboxed", "subprocess")}

    command = f".venv/bin/python benchmarks/sandbox.py --steps {args.steps} --repeat {args.repeat}"
    lines = [
        "# Sandbox and child process: cost per step of model code", "",
        f"Command: `{command}`  ",
        f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()} (shared, noisy: "
        "compare arms within this table).", "",
        f"Each cell: median over {args.repeat} runs of {args.steps} steps; the arms run interleaved.", "",
        "| step | smolagents | sandboxed | subprocess | sandboxed / smolagents | subprocess / smolagents |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, arms in table.items():
        base = arms["smolagents"]
        lines.append(f"| {label} | {1e6 * base:.0f} µs | {1e6 * arms['sandboxed']:.0f} µs | "
                     f"{1e6 * arms['subprocess']:.0f} µs | {arms['sandboxed'] / base:.2f}x | "
                     f"{arms['subprocess'] / base:.2f}x |")
    lines += [
        "", f"Child start-up (spawn, import smolagents, first step): {startup:.2f} s (median of {args.repeat}); "
        "`SubprocessPythonExecutor` starts it when built, so it overlaps the first model call.", "",
        f"A whole AsyncAgent step (scripted model, 20 steps, child already started): "
        f"{1e3 * agent['sandboxed']:.2f} ms in-process, {1e3 * agent['subprocess']:.2f} ms in a child "
        f"({agent['subprocess'] / agent['sandboxed']:.2f}x); a real model call takes 0.5-10 s.",
    ]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(out.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
