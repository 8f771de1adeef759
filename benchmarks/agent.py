"""Agent benchmark: the same work done by plain smolagents and by AsyncAgent, side by side.

A scripted model takes G seconds per call; tools sleep E seconds. Workloads:
  fanout    8 independent tool calls
  pipeline  10 files through 3 dependent stages (clean -> analyze -> chart)
  subagents 4 runs of a managed agent (each: 2 model calls and one tool call)
  bigrows   8 calls returning 500 rows each, printed by the model (what reaches its context)
  ownwork   4 lookups in the background while the model does --own-steps steps of its own work;
            AsyncAgent with completion notices (it learns at its next step what finished) against
            AsyncAgent polling with check_task (notices=False)
Arms: a plain CodeAgent calling the tools one after another in one code block; a
ToolCallingAgent with max_tool_threads (all calls of one message in parallel); AsyncAgent
(submit_task / wait_for_tasks); and the ideal: the critical path of the tools plus the
model time that cannot overlap it.

    .venv/bin/python benchmarks/agent.py [--g 0.3] [--e 1.0] [--out benchmarks/results/agent.md]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from smolagents import CodeAgent, Tool, ToolCallingAgent
from smolagents.models import (
    ChatMessage,
    ChatMessageToolCall,
    ChatMessageToolCallFunction,
    MessageRole,
    Model,
)
from smolagents.monitoring import LogLevel, TokenUsage

from async_task_system import create_async_agent
from async_task_system.demo import (
    FILES,
    AnalyzeDataTool,
    CleanFileTool,
    MakeChartTool,
    analyze,
    chart,
    clean,
    scenario,
)

TOPICS = tuple(f"topic_{i}" for i in range(1, 9))
SUBTASKS = tuple(f"Research topic_{i} and report the fact." for i in range(1, 5))

Reply = str | list[tuple[str, dict[str, Any]]]  # code text, or tool calls (name, arguments)


def _encoding() -> Any:
    """tiktoken's cl100k_base from the copy litellm ships (no download), or None."""
    try:
        import importlib.util

        import tiktoken

        spec = importlib.util.find_spec("litellm")
        if spec and spec.submodule_search_locations:
            bundled = os.path.join(spec.submodule_search_locations[0], "litellm_core_utils", "tokenizers")
            os.environ.setdefault("TIKTOKEN_CACHE_DIR", bundled)
        return tiktoken.get_encoding("cl100k_base")
    except Exception:  # noqa: BLE001 - the column is then left out
        return None


ENCODING = _encoding()


class Counter:
    """Model calls and tokens of one arm, over all its models (manager and sub-agents), plus the
    largest observation any of them was shown and the real (cl100k) input tokens of each call."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls = self.input_tokens = self.output_tokens = 0
        self.largest_observation = 0
        self.real_input: list[int] = []  # cl100k tokens of each call's messages

    def add(self, usage: TokenUsage, observation: int = 0, real_input: int | None = None) -> None:
        with self.lock:
            self.calls += 1
            self.input_tokens += usage.input_tokens
            self.output_tokens += usage.output_tokens
            self.largest_observation = max(self.largest_observation, observation)
            if real_input is not None:
                self.real_input.append(real_input)


def _text(message: Any) -> str:
    content = message.get("content") if isinstance(message, dict) else message.content
    if isinstance(content, list):
        return "\n".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content or ""


def _role(message: Any) -> str:
    role = message.get("role") if isinstance(message, dict) else message.role
    return getattr(role, "value", role)


class BenchModel(Model):
    """A scripted model: ``delay`` seconds per call, the reply picked by the step number (how many
    actions are already in the messages) and the task. Keeps no per-run state, so one instance can
    serve several sub-agent runs at once. Tokens: a quarter of the characters in and out."""

    def __init__(self, reply: Callable[[int, str], Reply], counter: Counter, delay: float) -> None:
        super().__init__(model_id="bench-scripted")
        self.reply, self.counter, self.delay = reply, counter, delay

    def generate(self, messages: list[Any], stop_sequences: list[str] | None = None,
                 response_format: Any = None, tools_to_call_from: Any = None, **kwargs: Any) -> ChatMessage:
        time.sleep(self.delay)
        step = sum(1 for m in messages if _role(m) == "tool-call")
        task = next((_text(m) for m in messages if _role(m) == "user"), "")
        reply = self.reply(step, task)
        prompt = "".join(_text(m) for m in messages)
        if isinstance(reply, str):
            message = ChatMessage(role=MessageRole.ASSISTANT, content=reply)
            out = reply
        else:
            calls = [ChatMessageToolCall(id=f"call_{step}_{i}", type="function",
                                         function=ChatMessageToolCallFunction(name=name, arguments=args))
                     for i, (name, args) in enumerate(reply)]
            message = ChatMessage(role=MessageRole.ASSISTANT, content="", tool_calls=calls)
            out = json.dumps(reply)
        message.token_usage = TokenUsage(input_tokens=len(prompt) // 4, output_tokens=len(out) // 4)
        observation = max((len(_text(m)) for m in messages if _role(m) == "tool-response"), default=0)
        real = len(ENCODING.encode(prompt, disallowed_special=())) if ENCODING is not None else None
        self.counter.add(message.token_usage, observation, real)
        return message


def _code(code: str) -> str:
    return f"Thought: I do the work.\n<code>\n{code.strip()}\n</code>"


class LookupTool(Tool):
    name = "lookup"
    description = "Looks one topic up (slow). Returns a short fact string. Example: lookup('topic_1')"
    inputs = {"topic": {"type": "string", "description": "the topic"}}
    output_type = "string"

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay

    def forward(self, topic: str) -> str:
        time.sleep(self.delay)
        return f"fact about {topic}"


class RowsTool(LookupTool):
    name = "rows"
    description = "Fetches the 500 rows of one topic (slow). Returns a list of dicts. Example: rows('topic_1')"
    output_type = "array"

    def forward(self, topic: str) -> list:  # type: ignore[override]
        time.sleep(self.delay)
        return [{"topic": topic, "i": i, "value": i * 0.5} for i in range(500)]


# ----------------------------------------------------------------- scripts, per workload and arm

def fanout_expected() -> str:
    return "; ".join(f"fact about {t}" for t in TOPICS)


FANOUT_FINAL = "final_answer('; '.join(facts))"


def fanout_reply(arm: str) -> Callable[[int, str], Reply]:
    def reply(step: int, task: str) -> Reply:
        if arm == "code":
            return _code(f"facts = [lookup(t) for t in {list(TOPICS)!r}]\nprint(facts)") if step == 0 \
                else _code(FANOUT_FINAL)
        if arm == "toolcalling":
            return [("lookup", {"topic": t}) for t in TOPICS] if step == 0 \
                else [("final_answer", {"answer": fanout_expected()})]
        return _code(f"ids = [submit_task('tool', 'lookup', {{'topic': t}}) for t in {list(TOPICS)!r}]\n"
                     "print(wait_for_tasks(ids, max_wait_time=25))") if step == 0 else _code(
            "results = get_task_results(ids)\nfacts = [results[i] for i in ids]\n" + FANOUT_FINAL)
    return reply


def pipeline_expected() -> str:
    made = [chart(analyze(clean(p))) for p in FILES]
    rising = [c["path"] for c in made if c["trend"] == "up"]
    best = max(made, key=lambda c: c["mean"])
    return (f"Made {len(made)} charts ({made[0]['chart']} ... {made[-1]['chart']}). "
            f"Trending up: {len(rising)} of {len(made)} files. Highest mean: {best['path']} ({best['mean']}).")


def pipeline_reply(arm: str) -> Callable[[int, str], Reply]:
    batch = scenario("batch").steps  # the AsyncAgent arm plays the demo's batch script
    final = (  # the same summary as the demo script's last step
        "rising = [c['path'] for c in made if c['trend'] == 'up']\n"
        "best = max(made, key=lambda c: c['mean'])\n"
        "final_answer(f\"Made {len(made)} charts ({made[0]['chart']} ... {made[-1]['chart']}). \"\n"
        "             f\"Trending up: {len(rising)} of {len(made)} files. \"\n"
        "             f\"Highest mean: {best['path']} ({best['mean']}).\")"
    )
    def reply(step: int, task: str) -> Reply:
        if arm == "code":
            return _code(f"files = {list(FILES)!r}\nmade = [make_chart(analyze_data(clean_file(p))) for p in files]\n"
                         "print(made)") if step == 0 else _code(final)
        if arm == "toolcalling":
            # One stage per message: the model copies each observed dict into the next stage's calls.
            if step == 0:
                return [("clean_file", {"path": p}) for p in FILES]
            if step == 1:
                return [("analyze_data", {"data": clean(p)}) for p in FILES]
            if step == 2:
                return [("make_chart", {"analysis": analyze(clean(p))}) for p in FILES]
            return [("final_answer", {"answer": pipeline_expected()})]
        return batch[min(step, 1)]
    return reply


def bigrows_expected() -> str:
    return str(8 * 500)


BIGROWS_FINAL = "final_answer(str(sum(len(r) for r in tables)))"


def bigrows_reply(arm: str) -> Callable[[int, str], Reply]:
    def reply(step: int, task: str) -> Reply:
        if arm == "code":
            return _code(f"tables = [rows(t) for t in {list(TOPICS)!r}]\nprint(tables)") if step == 0 \
                else _code(BIGROWS_FINAL)
        if arm == "toolcalling":
            return [("rows", {"topic": t}) for t in TOPICS] if step == 0 \
                else [("final_answer", {"answer": bigrows_expected()})]
        return _code(f"ids = [submit_task('tool', 'rows', {{'topic': t}}) for t in {list(TOPICS)!r}]\n"
                     "wait_for_tasks(ids, max_wait_time=25)\nresults = get_task_results(ids)\nprint(results)") \
            if step == 0 else _code("tables = [results[i] for i in ids]\n" + BIGROWS_FINAL)
    return reply


def research_reply(step: int, task: str) -> Reply:
    """The managed agent 'researcher': looks its topic up, then answers with it."""
    topic = re.search(r"topic_\d+", task).group(0)
    return _code(f"fact = lookup({topic!r})\nprint(fact)") if step == 0 else _code("final_answer(fact)")


def subagents_expected() -> str:
    return "; ".join(f"fact about topic_{i}" for i in range(1, 5))


SUBAGENTS_FINAL = "final_answer('; '.join(str(a).splitlines()[-1] for a in answers))"


def subagents_reply(arm: str) -> Callable[[int, str], Reply]:
    def reply(step: int, task: str) -> Reply:
        if arm == "code":
            return _code(f"answers = [researcher(task=t) for t in {list(SUBTASKS)!r}]\nprint(answers)") \
                if step == 0 else _code(SUBAGENTS_FINAL)
        if arm == "toolcalling":
            return [(f"researcher_{i}", {"task": t}) for i, t in enumerate(SUBTASKS, 1)] if step == 0 \
                else [("final_answer", {"answer": subagents_expected()})]
        return _code(f"ids = [submit_task('agent', 'researcher', {{'task': t}}) for t in {list(SUBTASKS)!r}]\n"
                     "print(wait_for_tasks(ids, max_wait_time=25))") if step == 0 else _code(
            "results = get_task_results(ids)\nanswers = [results[i] for i in ids]\n" + SUBAGENTS_FINAL)
    return reply


# ----------------------------------------------------------------- ownwork: notices against polling

OWN_TOPICS = TOPICS[:4]


def ownwork_expected() -> str:
    return "; ".join(f"fact about {t}" for t in OWN_TOPICS)


class SeeingBenchModel(BenchModel):
    """A ``BenchModel`` whose reply also reads every message so far: ``reply(step, task, messages)``."""

    def generate(self, messages: list[Any], stop_sequences: list[str] | None = None,
                 response_format: Any = None, tools_to_call_from: Any = None, **kwargs: Any) -> ChatMessage:
        seen = "\n".join(_text(m) for m in messages)
        outer = self.reply
        self.reply = lambda step, task: outer(step, task, seen)  # type: ignore[assignment]
        try:
            return super().generate(messages, stop_sequences, response_format, tools_to_call_from, **kwargs)
        finally:
            self.reply = outer


OWN_FINAL = ("results = get_task_results(ids)\n"
             "final_answer('; '.join(results[i] for i in ids))")


def ownwork_reply(arm: str, own_steps: int) -> Callable[[int, str, str], Reply]:
    ids = [f"t{i}" for i in range(1, len(OWN_TOPICS) + 1)]

    def reply(step: int, task: str, seen: str) -> Reply:
        if step == 0:
            return _code(f"ids = [submit_task('tool', 'lookup', {{'topic': t}}) for t in {list(OWN_TOPICS)!r}]")
        if step <= own_steps:
            poll = "\nfor t in ids:\n    print(check_task(t))" if arm == "polling_inline" else ""
            return _code(f"draft = 'part {step} of my own work'\nprint(draft){poll}")
        if arm == "notices":
            told = set(re.findall(r"- (t\d+) \(tool lookup\) completed", seen))
            if told >= set(ids):
                return _code(OWN_FINAL)
            return _code("print(wait_for_tasks(ids))\n" + OWN_FINAL)  # nothing left to do: wait, once
        last = seen.rsplit("Observation:", 1)[-1]
        if (step > own_steps + 1 or arm == "polling_inline") and last.count("completed in") >= len(ids):
            return _code(OWN_FINAL)
        return _code("for t in ids:\n    print(check_task(t))")  # poll: one model call per look
    return reply


def run_live_arm(arm: str, g: float, e: float, workers: int, own_steps: int) -> Figures:
    counter = Counter()
    model = SeeingBenchModel(ownwork_reply(arm, own_steps), counter, g)  # type: ignore[arg-type]
    agent = create_async_agent(tools=[LookupTool(e)], model=model, max_workers=workers,
                               notices=arm == "notices", verbosity_level=LogLevel.OFF, max_steps=60)
    start = time.perf_counter()
    try:
        answer = agent.run_with_async_guidance("Look up topic_1 ... topic_4 while you draft your part.")
    finally:
        agent.shutdown()
    wall = time.perf_counter() - start
    per_call = statistics.mean(counter.real_input) if counter.real_input else None
    return Figures("ownwork", arm, wall, counter.calls, counter.input_tokens, counter.output_tokens,
                   str(answer) == ownwork_expected(), input_per_call=per_call,
                   largest_observation=counter.largest_observation)


# ----------------------------------------------------------------- arms

@dataclass
class Figures:
    workload: str
    arm: str
    wall: float
    calls: int | None
    input_tokens: int | None
    output_tokens: int | None
    correct: bool | None
    wall_min: float | None = None
    wall_max: float | None = None
    input_per_call: float | None = None  # cl100k tokens of the messages, mean per model call
    largest_observation: int = 0  # characters, the longest observation any model of the arm was shown


def _tools(workload: str, e: float) -> list[Tool]:
    if workload == "pipeline":
        return [CleanFileTool(e), AnalyzeDataTool(e), MakeChartTool(e)]
    if workload == "bigrows":
        return [RowsTool(e)]
    return [LookupTool(e)]


def _researchers(counter: Counter, g: float, e: float, names: list[str]) -> list[CodeAgent]:
    return [CodeAgent(tools=[LookupTool(e)], model=BenchModel(research_reply, counter, g), name=name,
                      description="Researches one topic; give it a task naming the topic.",
                      max_steps=4, verbosity_level=LogLevel.OFF)
            for name in names]


REPLIES = {"fanout": fanout_reply, "pipeline": pipeline_reply, "subagents": subagents_reply,
           "bigrows": bigrows_reply}
EXPECTED = {"fanout": fanout_expected, "pipeline": pipeline_expected, "subagents": subagents_expected,
            "bigrows": bigrows_expected}
TASKS = {
    "bigrows": "Fetch the rows of topic_1 ... topic_8 and say how many there are.",
    "fanout": "Look up the eight topics topic_1 ... topic_8 and list the facts.",
    "pipeline": scenario("batch").task,
    "subagents": "Have the researcher study topic_1 to topic_4 and list what it found.",
}


def run_arm(workload: str, arm: str, g: float, e: float, workers: int) -> Figures:
    counter = Counter()
    model = BenchModel(REPLIES[workload](arm), counter, g)
    tools = _tools(workload, e) if workload != "subagents" else []
    quiet = {"verbosity_level": LogLevel.OFF}
    if arm == "code":
        managed = _researchers(counter, g, e, ["researcher"]) if workload == "subagents" else []
        agent = CodeAgent(tools=tools, model=model, managed_agents=managed, **quiet)
    elif arm == "toolcalling":
        # One instance per parallel call: concurrent runs of one agent instance share its memory.
        managed = _researchers(counter, g, e, [f"researcher_{i}" for i in range(1, 5)]) \
            if workload == "subagents" else []
        agent = ToolCallingAgent(tools=tools, model=model, managed_agents=managed, max_tool_threads=workers,
                                 **quiet)
    else:
        managed = _researchers(counter, g, e, ["researcher"]) if workload == "subagents" else []
        agent = create_async_agent(tools=tools, managed_agents=managed, model=model, max_workers=workers, **quiet)
    start = time.perf_counter()
    try:
        answer = agent.run_with_async_guidance(TASKS[workload]) if arm == "async" else agent.run(TASKS[workload])
    finally:
        if arm == "async":
            agent.shutdown()
    wall = time.perf_counter() - start
    per_call = statistics.mean(counter.real_input) if counter.real_input else None
    return Figures(workload, arm, wall, counter.calls, counter.input_tokens, counter.output_tokens,
                   str(answer) == EXPECTED[workload](), input_per_call=per_call,
                   largest_observation=counter.largest_observation)


def ideal(workload: str, g: float, e: float, own_steps: int = 0) -> float:
    """Critical path of the tools plus the model calls that cannot overlap it."""
    if workload == "ownwork":  # submit, own steps, answer; or submit, then the tools (the last call overlaps them)
        return max((own_steps + 2) * g, g + e)
    return {"fanout": 2 * g + e, "pipeline": 2 * g + 3 * e, "subagents": 2 * g + (2 * g + e),
            "bigrows": 2 * g + e}[workload]


ARM_NAMES = {"code": "CodeAgent, sequential code block", "toolcalling": "ToolCallingAgent, max_tool_threads",
             "async": "AsyncAgent", "ideal": "ideal (critical path + model time)",
             "notices": "AsyncAgent, completion notices", "polling": "AsyncAgent, polling check_task (notices off)",
             "polling_inline": "AsyncAgent, check_task in every step (notices off)"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--g", type=float, default=0.3, help="seconds per model call (default 0.3)")
    parser.add_argument("--e", type=float, default=1.0, help="seconds per tool call (default 1.0)")
    parser.add_argument("--workers", type=int, default=10, help="AsyncAgent max_workers / max_tool_threads")
    parser.add_argument("--workloads", default="fanout,pipeline,subagents,bigrows")
    parser.add_argument("--repeat", type=int, default=1, help="runs per arm; the table shows the median")
    parser.add_argument("--out", default=None, help="write the markdown table here too")
    parser.add_argument("--own-steps", type=int, default=4, help="ownwork: the model's own steps (default 4)")
    args = parser.parse_args(argv)

    rows: list[Figures] = []
    for workload in args.workloads.split(","):
        arms = ("notices", "polling", "polling_inline") if workload == "ownwork" else ("code", "toolcalling", "async")
        runs: dict[str, list[Figures]] = {arm: [] for arm in arms}
        for _ in range(args.repeat):  # arms interleaved, so they share the machine's noise
            for arm, done in runs.items():
                figures = run_live_arm(arm, args.g, args.e, args.workers, args.own_steps) \
                    if workload == "ownwork" else run_arm(workload, arm, args.g, args.e, args.workers)
                done.append(figures)
                print(f"{workload:9} {arm:11} {figures.wall:6.2f}s calls={figures.calls} "
                      f"tokens={figures.input_tokens}/{figures.output_tokens} correct={figures.correct}", flush=True)
        for done in runs.values():
            walls = [f.wall for f in done]
            last = done[-1]
            rows.append(Figures(workload, last.arm, statistics.median(walls), last.calls, last.input_tokens,
                                last.output_tokens, all(f.correct for f in done), min(walls), max(walls),
                                last.input_per_call, max(f.largest_observation for f in done)))
    table = render(rows, args)
    print(table)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(table)
    return 0


def render(rows: list[Figures], args: argparse.Namespace) -> str:
    command = "LITELLM_LOCAL_MODEL_COST_MAP=True .venv/bin/python benchmarks/agent.py " + " ".join(sys.argv[1:])
    lines = [
        "# Agent benchmark",
        "",
        f"Command: `{command.strip()}`  ",
        f"G = {args.g}s per model call, E = {args.e}s per tool call, {args.workers} workers / tool threads; "
        f"{os.cpu_count()} CPUs. {args.repeat} run(s) per arm, arms interleaved in one process; wall is the "
        "median (range in brackets when repeated). Model calls and tokens "
        "count every model of the arm (manager and sub-agents); tokens are a quarter of the characters "
        "sent and received by the scripted model.",
        "",
        "| workload | arm | wall (s) | x ideal | model calls | tokens in / out | input tokens per call (cl100k) "
        "| largest observation (chars) | answer right |",
        "|---|---|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for workload in dict.fromkeys(r.workload for r in rows):
        best = ideal(workload, args.g, args.e, args.own_steps)
        for r in (r for r in rows if r.workload == workload):
            spread = f" [{r.wall_min:.2f}-{r.wall_max:.2f}]" if args.repeat > 1 else ""
            per_call = f"{r.input_per_call:.0f}" if r.input_per_call is not None else "n/a"
            lines.append(f"| {workload} | {ARM_NAMES[r.arm]} | {r.wall:.2f}{spread} | {r.wall / best:.2f} | "
                         f"{r.calls} | {r.input_tokens} / {r.output_tokens} | {per_call} | {r.largest_observation} | "
                         f"{'yes' if r.correct else 'NO'} |")
        lines.append(f"| {workload} | {ARM_NAMES['ideal']} | {best:.2f} | 1.00 | | | | | |")
    ratios = ", ".join(f"{r.workload} {r.wall / ideal(r.workload, args.g, args.e):.2f}x" for r in rows
                       if r.arm == "async")
    lines += ["", *([f"AsyncAgent / ideal: {ratios}", ""] if ratios else []),
        *_ownwork_summary(rows, args),
        "Notes:",
        "- bigrows: each arm prints all eight 500-row results; smolagents cuts a CodeAgent's print at 50,000 "
        "characters, a ToolCallingAgent reads every result whole, AsyncAgent's results dict prints a bounded "
        "preview (max_result_chars / max_report_chars) while the code keeps the whole rows.",
        "- Ideal: fanout 2G + E; bigrows 2G + E; pipeline 2G + 3E (three dependent stages, ten files at once); subagents "
        "2G for the manager + 2G + E for one sub-agent run.",
        "- ToolCallingAgent needs one model call per dependent stage (the pipeline costs it 4 calls and it "
        "copies every intermediate dict into its next calls: the output tokens). Its subagents arm is given "
        "four separate instances (researcher_1..4): parallel calls to one instance share its memory "
        "(smolagents issue #1781). AsyncAgent runs one managed agent four times, each on a fresh copy.",
        "- AsyncAgent's input tokens include its seven task tools' descriptions and the guidance, sent with "
        "every model call. Input tokens per call are counted with tiktoken's cl100k_base on the text of the "
        "messages; the tokens in / out column is the scripted model's estimate (a quarter of the characters).",
        "- Largest observation: the longest tool response (execution logs, errors) any model of the arm read.",
        "- ownwork: 4 lookups run while the model drafts for --own-steps steps. With notices it learns at the "
        "start of a step what finished and collects at once (or, with nothing left to do, waits once); polling, "
        "it spends a model call per look with check_task (or, inline, prints check_task in each of its own steps: the same calls, more tokens). Ideal: max((own steps + 2) G, G + E).",
        ""]
    return "\n".join(lines)


def _ownwork_summary(rows: list[Figures], args: argparse.Namespace) -> list[str]:
    arms = {r.arm: r for r in rows if r.workload == "ownwork"}
    if not {"notices", "polling"} <= set(arms):
        return []
    n = arms["notices"]
    parts = [f"{ARM_NAMES[p.arm]} / notices: {p.calls / n.calls:.2f}x model calls, {p.wall / n.wall:.2f}x wall, "
             f"{p.input_tokens / n.input_tokens:.2f}x input tokens" for p in arms.values() if p is not n]
    return [f"ownwork ({args.own_steps} own steps), notices: {n.calls} model calls, {n.wall:.2f}s. "
            + "; ".join(parts), ""]


if __name__ == "__main__":
    sys.exit(main())
