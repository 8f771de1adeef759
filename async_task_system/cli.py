"""async-agent: run an AsyncAgent from the command line, watch its tasks live, read the summary.

commands:
  async-agent demo [--scenario all|batch|gather|composite]   the three demo scenarios
  async-agent run "task" [--tools MODULE:ATTR] [--agents MODULE:ATTR]
                                                             one task, on the demo tools or yours
  async-agent init                                           write a commented .env to fill in
  async-agent serve ...                                      the REST task service (extra: server)

The model comes from --model-id/--api-base/--api-key or .env (MODEL_ID, API_KEY, BASE_URL)
through LiteLLM (extra: litellm); without one, a scripted demo model plays the scenario's
script and says so on screen. --dask-scheduler (or DASK_SCHEDULER_ADDRESS) runs the tasks
on Dask (extra: dask).
"""

from __future__ import annotations

import argparse
import inspect
import os
import re
import reprlib
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._specs import NAME_RESOURCES_HELP

__all__ = ["main", "TaskTable", "QuestionDesk", "ENV_TEMPLATE"]

_STATUS_STYLE = {"pending": "yellow", "waiting": "magenta", "running": "bold cyan", "completed": "green",
                 "failed": "bold red", "timeout": "red", "cancelled": "dim", "waiting_for_input": "bold yellow"}
_BOARD_ROWS = 14
# smolagents wraps a managed agent's answer in this line; the table shows the answer itself.
_MANAGED_PREFIX = re.compile(r"^Here is the final answer from your managed agent '[^']*':\s*")

#: What ``async-agent init`` writes (and ``.env.example`` holds): every setting commented out, so
#: an unedited copy means "no model configured" and the scripted demo model runs.
ENV_TEMPLATE = """\
# Settings for async-agent and the examples. Uncomment a line and fill it in; a commented or empty
# line means "not set". Without MODEL_ID, the demo and examples run on a scripted demo model and say so.
# Keep this file out of version control: the key is read at start-up, passed to LiteLLM, never written.

# A LiteLLM model id: provider/model, e.g. openai/gpt-4o-mini, anthropic/claude-3-5-haiku-latest,
# or openai/<name> for any OpenAI-compatible server (vLLM, Ollama's /v1, LM Studio ...).
# MODEL_ID=openai/gpt-4o-mini

# The provider's API key (needed by hosted providers; a local server may not need one).
# API_KEY=

# The API's base URL; leave unset for the provider's default.
# BASE_URL=

# Run the tasks on a Dask cluster (the dask extra), e.g. tcp://127.0.0.1:8786.
# DASK_SCHEDULER_ADDRESS=
"""


def _default_max_workers() -> int:
    """The library's default (``create_async_agent``), so the CLI and the library agree."""
    from .agent import create_async_agent

    return int(inspect.signature(create_async_agent).parameters["max_workers"].default)


class TaskTable:
    """A rich renderable: the manager's tasks as a table, read afresh at every refresh.

    Compact (no vertical rules, a one-space gap) so the result column keeps most of an
    80-column terminal.
    """

    def __init__(self, task_manager: Any, title: str, rows: int = _BOARD_ROWS, *,
                 coroutine_names: frozenset[str] = frozenset()) -> None:
        self.task_manager = task_manager
        self.title = title
        self.rows = rows
        self.started = time.monotonic()
        self.coroutine_names = coroutine_names  # tools that run on the manager's event loop

    def where(self, info: Any) -> str:
        """Where the task runs (or would): a worker the executor reported in its event log, else the
        event loop (async tools), a thread, or Dask (with what a queued task waits for)."""
        for event in reversed(info.events):
            if event.kind == "worker" and event.reason:
                return event.reason
        executor = self.task_manager.executor
        waiting = getattr(executor, "waiting_for_resources", None)
        if info.status.value == "pending" and waiting is not None:
            try:
                reason = waiting().get(info.id)
            except Exception:  # noqa: BLE001 - a view of the cluster must never break the table
                reason = None
            if reason:
                return reason
        if info.name in self.coroutine_names:
            return "event loop"
        needs = ",".join(f"{k}={v:g}" for k, v in info.resources.items())
        place = "thread" if type(executor).__name__ == "ThreadExecutor" else "dask"
        return f"{place} {needs}" if needs else place

    def __rich__(self) -> Any:
        from rich import box
        from rich.table import Table
        from rich.text import Text

        tasks = sorted(self.task_manager.tasks(), key=lambda t: t.created_at)
        counts: dict[str, int] = {}
        for info in tasks:
            counts[info.status.value] = counts.get(info.status.value, 0) + 1
        order = {"waiting_for_input": 0, "running": 0, "pending": 1, "waiting": 2}
        shown = sorted(tasks, key=lambda t: (order.get(t.status.value, 3), -t.created_at))[: self.rows]
        shown.sort(key=lambda t: t.created_at)
        elapsed = time.monotonic() - self.started
        table = Table(title=f"{self.title}  ({elapsed:.1f}s)", title_justify="left", expand=False,
                      box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 0), caption_justify="left")
        places = {info.id: self.where(info) for info in shown}
        # where: only when it says more than the header's "on local threads" (a loop, Dask, resources, a worker)
        columns = [("task", "left", 4), ("type", "left", 5), ("name", "left", 12), ("status", "left", 9),
                   ("where", "left", 6), ("waited", "right", 6), ("ran", "right", 5)]
        show_where = any(place != "thread" for place in places.values())
        if not show_where:
            columns.pop(4)
        for column, justify, width in columns:
            table.add_column(column, justify=justify, no_wrap=True, min_width=width)
        table.add_column("result / error", min_width=8, ratio=1)  # the one column that shrinks to fit
        now = time.time()
        for info in shown:
            ran = info.run_time if info.run_time is not None else (
                now - info.started_at if info.started_at is not None else None)
            waited = info.queue_wait if info.queue_wait is not None else (
                None if info.done else now - info.created_at)
            if info.status.value == "completed":
                detail = _short(info.result, agent=info.metadata.get("task_type") == "agent")
            elif info.question is not None:
                detail = "asks: " + _short(info.question)
            else:
                detail = _short(info.error or info.reason) if info.done else ""
            cells = [info.id, str(info.metadata.get("task_type", "")), info.name,
                     f"[{_STATUS_STYLE.get(info.status.value, '')}]{info.status.value}[/]",
                     Text(_short(places[info.id], 24), no_wrap=True), _secs(waited), _secs(ran),
                     Text(detail, no_wrap=True, overflow="ellipsis")]
            if not show_where:
                cells.pop(4)
            table.add_row(*cells)
        hidden = len(tasks) - len(shown)
        summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no tasks yet"
        table.caption = f"{len(tasks)} tasks: {summary}" + (f"  ({hidden} finished not shown)" if hidden else "")
        return table


def _secs(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}s"


# Control characters (escape sequences among them) and lone surrogates: shown as U+FFFD, not sent to the terminal.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


_BRIEF = reprlib.Repr()
_BRIEF.maxstring = _BRIEF.maxother = 240
_BRIEF.maxlevel, _BRIEF.maxdict, _BRIEF.maxlist = 3, 8, 8


def _short(value: Any, size: int = 60, *, agent: bool = False) -> str:
    """One line of at most ``size`` printable characters; ``agent``: without smolagents' wrapper line."""
    try:  # a huge or deep result is cut while it is turned into text, not after
        if isinstance(value, str):
            text = value[: size * 4]
        elif isinstance(value, (dict, list, tuple, set, frozenset)):
            text = _BRIEF.repr(value)
        else:
            text = str(value)
    except Exception as exc:  # noqa: BLE001 - a result whose __str__ fails is still a row
        text = f"<{type(value).__name__}: str() failed: {type(exc).__name__}>"
    text = " ".join(text[: size * 4].split())
    text = _UNPRINTABLE.sub("\ufffd", _MANAGED_PREFIX.sub("", text, count=1) if agent else text)
    return text if len(text) <= size else text[: size - 3] + "..."


def _summary_table(run: Any) -> Any:
    """The run's figures (an ``AsyncAgent.last_run``) as a two-column table; the scripted model's token
    counts (about 4 characters a token) are marked as estimates."""
    from rich.table import Table

    counts = ", ".join(f"{n} {status}" for status, n in sorted(run.status_counts().items())) or "none"
    table = Table(title="Run summary", title_justify="left", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("tasks", f"{len(run.tasks)} ({counts})")
    table.add_row("wall time", f"{run.wall_time:.1f}s")
    table.add_row("the same tasks one after another", f"{run.sequential_time:.1f}s")
    table.add_row("model calls", f"{run.model_calls} ({run.sub_agent_usage.model_calls} by sub-agents)")
    if run.tokens_estimated:
        table.add_row("tokens (input / output), estimated", f"~{run.input_tokens} / ~{run.output_tokens}")
    else:
        table.add_row("tokens (input / output)", f"{run.input_tokens} / {run.output_tokens}")
    if run.unfinished_at_end:
        table.add_row(f"unfinished at the end ({run.unfinished_policy})", ", ".join(run.unfinished_at_end))
    return table


# ----------------------------------------------------------------- commands

def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {text!r}")
    return value


_SCENARIO_HELP = ("batch: 10 files through clean -> analyze -> chart (30 chained tasks); gather: four sources "
                  "fetched at once, then merged; composite: two managed agents, one run four times at once")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="async-agent", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="{demo,run,init,serve}", required=True)
    workers = _default_max_workers()

    def agent_options(sub: argparse.ArgumentParser) -> None:
        model = sub.add_argument_group("model (default: .env, else the scripted demo model)")
        model.add_argument("--model-id", help="LiteLLM model id, e.g. openai/gpt-4o-mini (env MODEL_ID)")
        model.add_argument("--api-base", help="the API's base URL (env BASE_URL)")
        model.add_argument("--api-key", help="the API key (env API_KEY; better kept in .env). Never stored.")
        model.add_argument("--env-file", help="read this file instead of looking for .env")
        sub.add_argument("--max-workers", type=_positive_int, default=workers,
                         help=f"tasks run at once (default {workers}, as in create_async_agent)")
        sub.add_argument("--dask-scheduler", default=os.environ.get("DASK_SCHEDULER_ADDRESS"), metavar="ADDRESS",
                         help="run the tasks on this Dask scheduler, e.g. tcp://127.0.0.1:8786 "
                              "(env DASK_SCHEDULER_ADDRESS; extra: dask)")
        sub.add_argument("--delay", type=_seconds, default=1.0, help="seconds each demo tool call takes (default 1)")
        sub.add_argument("--think", type=_seconds, default=0.3,
                         help="seconds per call of the scripted demo model (default 0.3)")
        sub.add_argument("--quiet", action="store_true", help="hide the agent's step log (code and observations)")

    demo = commands.add_parser("demo", help="run the demo scenarios (a real model from .env, or the scripted one)")
    demo.add_argument("--scenario", default="all", choices=["all", "batch", "gather", "composite"],
                      help=f"which scenario to run (default all). {_SCENARIO_HELP}")
    agent_options(demo)
    run = commands.add_parser("run", help="run one task on your model, with the demo tools or your own")
    run.add_argument("task", help="what the agent should do")
    run.add_argument("--tools", action="append", default=[], metavar="MODULE:ATTR",
                     help="your tools instead of the demo's: a smolagents Tool, a list of them, or a function "
                          "returning them, e.g. mypkg.tools:TOOLS (repeatable; the working folder is importable)")
    run.add_argument("--agents", action="append", default=[], metavar="MODULE:ATTR",
                     help="your managed agents: an agent, a zero-argument function making one (needed with "
                          "--dask-scheduler), or a list of them (repeatable). Default: the demo's analysts, "
                          "unless --tools is given")
    run.add_argument("--name-resources", action="append", default=[], metavar="NAME=RESOURCE:QTY",
                     help=NAME_RESOURCES_HELP)
    run.add_argument("--answer", action="append", default=[], metavar="TEXT",
                     help="an answer for a task that asks a question (request_input), used in order, one per "
                          "question (repeatable). Without it, a terminal prompts you; off a terminal the model "
                          "may answer (send_message)")
    run.add_argument("--scenario", default="gather", choices=["batch", "gather", "composite"],
                     help=f"the script the scripted model plays when no model is configured (default gather). "
                          f"{_SCENARIO_HELP}")
    agent_options(run)
    init = commands.add_parser("init", help="write a commented .env (model id, key, base URL) to fill in")
    init.add_argument("--path", default=".env", help="where to write it (default .env)")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    commands.add_parser("serve", help="the REST task service; `async-agent serve --help` for its options",
                        add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``async-agent`` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["serve"]:
        return _serve(argv[1:])
    args = _parser().parse_args(argv)
    if args.command == "init":
        return _init(args)
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    from rich.console import Console

    console = Console(highlight=False)
    try:
        return _demo(args, console) if args.command == "demo" else _run(args, console)
    except KeyboardInterrupt:
        console.print("[red]interrupted[/red]")
        return 130


def _init(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if path.exists() and not args.force:
        print(f"async-agent init: {path} exists; edit it, or pass --force to overwrite it", file=sys.stderr)
        return 1
    try:
        path.write_text(ENV_TEMPLATE, encoding="utf-8")
    except OSError as exc:
        print(f"async-agent init: cannot write {path}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"Wrote {path}: uncomment MODEL_ID (and API_KEY, BASE_URL if your provider needs them), then run "
          f"async-agent demo")
    return 0


def _serve(argv: list[str]) -> int:
    try:
        from .server.cli import main as serve_main
    except ImportError as exc:  # the message names the missing package and the install command
        print(f"async-agent serve: {exc}", file=sys.stderr)
        return 2
    return int(serve_main(argv) or 0)


def _load_model(args: argparse.Namespace) -> Any:
    """The configured model, or None; a setting that cannot work ends the program with one line."""
    from .demo import ModelConfigError, load_model

    try:
        return load_model(args.env_file, model_id=args.model_id, api_base=args.api_base, api_key=args.api_key)
    except (FileNotFoundError, ModelConfigError) as exc:
        raise SystemExit(f"async-agent: {exc}") from None


def _announce(model: Any, console: Any) -> None:
    if model is None:
        from rich.panel import Panel

        console.print(Panel(
            "No model configured (no MODEL_ID in .env or the environment, no --model-id), so a "
            "[bold]scripted demo model[/bold] plays the part: it replies with the code a model would "
            "write for this scenario. No LLM is called; the tools and tasks are real.\n"
            "To use a real model: [bold]async-agent init[/bold] writes a commented .env; uncomment and fill "
            "in its MODEL_ID line (and API_KEY, BASE_URL if your provider needs them).",
            title="scripted demo model", border_style="yellow"))
    else:
        console.print(f"Model: [bold]{model.model_id}[/bold] via LiteLLM")


def _demo(args: argparse.Namespace, console: Any) -> int:
    from .demo import SCENARIOS

    model = _load_model(args)
    _announce(model, console)
    names = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    for name in names:
        scenario = SCENARIOS[name]
        tools = scenario.tools(args.delay)
        managed = scenario.managed_agents(model, delay=args.delay, think=args.think)
        agent_model = model or scenario.demo_model(delay=args.think)
        if not _run_agent(console, args, scenario.title, scenario.task, tools, managed, agent_model):
            return 1
    return 0


def _run(args: argparse.Namespace, console: Any) -> int:
    from ._specs import agents_from, load_spec, name_resources_from, tools_from
    from .demo import SCENARIOS, all_tools

    try:
        tools = [t for spec in args.tools for t in tools_from(load_spec(spec, "--tools"), spec)]
        agents = [a for spec in args.agents for a in agents_from(load_spec(spec, "--agents"))]
        args.resources = name_resources_from(args.name_resources)
    except Exception as exc:  # noqa: BLE001 - the user's module failed to import or build: say which
        raise SystemExit(f"async-agent run: {exc}") from None
    model = _load_model(args)
    if model is None and args.tools:
        raise SystemExit("async-agent run: --tools needs a real model (the scripted demo model only plays the "
                         "demo scenarios): set MODEL_ID in .env (async-agent init writes one) or pass --model-id")
    _announce(model, console)
    if model is None:
        console.print(f"The scripted model cannot read your task: it plays the '{args.scenario}' scenario "
                      f"(--scenario) whatever the task says.")
    if not args.tools:
        tools = all_tools(args.delay)
    if not args.agents and not args.tools:
        agents = SCENARIOS["composite"].managed_agents(model, delay=args.delay, think=args.think)
    agent_model = model or SCENARIOS[args.scenario].demo_model(delay=args.think)
    return 0 if _run_agent(console, args, "async-agent run", args.task, tools, agents, agent_model) else 1


def _executor(args: argparse.Namespace) -> Any:
    if not args.dask_scheduler:
        return None
    try:
        from .executors import DaskExecutor
    except ImportError as exc:  # its message names the missing package and the install command
        raise SystemExit(f"async-agent: --dask-scheduler: {exc}") from None
    return DaskExecutor(args.dask_scheduler, connect_timeout=10)


def _where(executor: Any) -> str:
    from .executors import ThreadExecutor

    if isinstance(executor, ThreadExecutor):  # its thread count includes spares for timed-out tasks
        return "on local threads"
    return f"on {executor.describe()}"


def _run_agent(console: Any, args: argparse.Namespace, title: str, task: str, tools: list[Any],
               managed: list[Any], model: Any) -> bool:
    """Run one task with a live task table; print the answer, the summary and the run's timeline.
    True if it answered."""
    from rich.live import Live
    from rich.markup import escape
    from rich.panel import Panel
    from rich.text import Text
    from smolagents.monitoring import AgentLogger, LogLevel

    from .agent import create_async_agent, is_async_tool
    from .errors import InvalidArgumentError

    console.rule(f"[bold]{escape(title)}")
    console.print(f"[bold]Task:[/bold] {escape(task)}")
    logger = AgentLogger(level=LogLevel.OFF if args.quiet else LogLevel.INFO, console=console)
    try:
        executor = _executor(args)
    except Exception as exc:  # an unreachable scheduler is the user's setting, not a bug: say so plainly
        console.print(f"[bold red]Could not use the Dask scheduler {escape(args.dask_scheduler)}:[/bold red] "
                      f"{escape(f'{type(exc).__name__}: {exc}')}")
        return False
    try:
        agent = create_async_agent(tools=tools, managed_agents=managed, model=model, max_workers=args.max_workers,
                                   executor=executor, logger=logger, resources=getattr(args, "resources", None))
    except (InvalidArgumentError, TypeError, ValueError) as exc:  # the user's tools or agents: say what is wrong
        console.print(f"[bold red]Cannot build the agent:[/bold red] {escape(str(exc))}")
        if executor is not None:
            executor.shutdown()
        return False
    with agent:
        console.print(f"[bold]Tasks:[/bold] up to {agent.task_manager.max_workers} at a time, "
                      f"{escape(_where(agent.task_manager.executor))}")
        board = TaskTable(agent.task_manager, title,
                          coroutine_names=frozenset(t.name for t in tools if is_async_tool(t)))
        try:
            with Live(board, console=console, refresh_per_second=4) as live, \
                    QuestionDesk(agent, console, live, list(getattr(args, "answer", []))):
                answer = agent.run_with_async_guidance(task)
        except Exception as exc:  # a model or API failure ends this run, not the program
            _end_live_frame(console)
            console.print(f"[bold red]The run failed:[/bold red] {escape(f'{type(exc).__name__}: {exc}')}")
            return False
        _end_live_frame(console)
        console.print(Panel(Text(str(answer)), title="Final answer", border_style="green"))
        console.print(_summary_table(agent.last_run))
        console.print(agent.last_run.timeline())
    return True


class QuestionDesk:
    """While a run goes on: each question a task asks (``request_input``) is answered from ``answers``
    (``--answer``, in order), else, on a terminal, by the person at it (the live table pauses for the
    prompt; an empty line leaves it to the model), else announced once with how to answer."""

    def __init__(self, agent: Any, console: Any, live: Any, answers: list[str], poll_seconds: float = 0.2) -> None:
        self.agent, self.console, self.live, self.answers = agent, console, live, answers
        self.poll_seconds = poll_seconds
        self.interactive = console.is_terminal and sys.stdin is not None and sys.stdin.isatty()
        self._seen: set[tuple[str, str]] = set()
        self._stop = threading.Event()
        self._lock = threading.Lock()  # the live display is restarted only while the run goes on
        self._thread = threading.Thread(target=self._watch, daemon=True, name="async-agent-questions")

    def __enter__(self) -> QuestionDesk:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self._stop.set()
        self._thread.join(1.0)  # a prompt still open is left to the process's end (daemon)

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                asking = self.agent.task_manager.tasks(status="waiting_for_input")
            except Exception:  # noqa: BLE001 - the manager shut down: the run is over
                return
            for info in sorted(asking, key=lambda i: i.created_at):
                key = (info.id, info.question or "")
                if info.question is None or key in self._seen or self._stop.is_set():
                    continue
                self._seen.add(key)
                self._handle(info.id, info.name, info.question)

    def _handle(self, task_id: str, name: str, question: str) -> None:
        from rich.markup import escape

        shown = escape(_short(question, 300))
        if self.answers:
            text = self.answers.pop(0)
            self._answer(task_id, text, f"{task_id} ({escape(name)}) asked: {shown}; answered from --answer: "
                                        f"{escape(_short(text, 80))}")
        elif self.interactive:
            with self._lock:
                if self._stop.is_set():
                    return
                self.live.stop()
            try:
                text = self.console.input(f"[bold yellow]{task_id} ({escape(name)}) asks:[/] {shown}\n"
                                          "your answer (empty: leave it to the model)> ")
            except (EOFError, KeyboardInterrupt):
                text = ""
            with self._lock:
                if not self._stop.is_set():
                    self.live.start()
            if text.strip():
                self._answer(task_id, text, f"answered {task_id}")
        else:
            self.console.print(f"[yellow]{task_id} ({escape(name)}) asks:[/] {shown}\n  No terminal to answer "
                               "on: the model may answer it (send_message); or run again with --answer TEXT")

    def _answer(self, task_id: str, text: str, note: str) -> None:
        from rich.markup import escape

        try:
            self.agent.answer(task_id, text)
        except Exception as exc:  # noqa: BLE001 - answered meanwhile (by the model), ended, bad text
            self.console.print(f"[yellow]could not answer {task_id}:[/] {escape(str(exc))}")
            return
        self.console.print(note)


def _end_live_frame(console: Any) -> None:
    if not console.is_terminal:
        console.line()  # off a terminal, Live prints its last frame without a line end


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
