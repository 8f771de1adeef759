"""``AsyncAgent``: a smolagents ``CodeAgent`` whose model can run work in the background.

Decisions, in one place:

* **The executor's timeout.** smolagents' ``LocalPythonExecutor`` checks its 30 s limit
  only after a code block returns, and runs the code on a helper thread that does not
  see the caller's context (so tracing would lose its parent). The agent is built with
  ``executor_kwargs={"timeout_seconds": None}`` and every blocking tool call is bounded
  by ``max_wait_seconds`` (30 s) instead; the wait report says when that bound cut a
  wait short. If you set ``timeout_seconds`` yourself, waits are capped at 80 % of it.
* **The model's code** runs in a ``SandboxedPythonExecutor`` (``_sandbox``: no lookups through
  ``str.format`` and kin), or with ``code_in_subprocess=True`` in a child process
  (``_subprocess_executor``), which a run's timeout or ``shutdown()`` kills.
* **Unfinished tasks at the end of a run** (``unfinished_tasks``): ``"cancel"`` (default)
  cancels what the run submitted and never collected (a running sub-agent stops at its
  next step); ``"wait"`` waits for it; ``"keep"`` leaves it for the next run. The run
  summary lists them either way. ``shutdown()`` cancels everything and returns once no
  worker thread is left.
* **A run's own timeout** (``run(task, timeout=...)``): waits and sleeps stop at the deadline,
  a step callback interrupts the agent after the step in which it passes (a child process
  running the code is killed at the deadline), and ``TaskTimeoutError`` is raised; then the
  unfinished-task policy applies as usual.
* **Nested coordinators.** An ``AsyncAgent`` (or a factory of them) may be a managed agent of
  another. Each task it runs is a fresh coordinator built from the same arguments (its own
  TaskManager, board and tasks), shut down when the task ends; cancelling or timing out
  that task interrupts it and cancels its tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from smolagents.agents import CodeAgent, RunResult, populate_template
from smolagents.memory import ActionStep, AgentMemory, FinalAnswerStep, MemoryStep, PlanningStep
from smolagents.models import Model

from ..engine import Executor, TaskManager, check_name_resources, check_seconds
from ..errors import InvalidArgumentError, ShutdownError, TaskTimeoutError
from ._async_tools import BlockingAsyncTool, for_direct_calls, is_async_tool
from ._board import Limits, TaskBoard
from ._guidance import LIVE_GUIDANCE, guidance_for
from ._inbox import hook_inbox
from ._input import InputRequests, reset_requests, set_requests
from ._managed import Coordinator, Usage, usage_of
from ._message_tool import SendMessageTool, send_message
from ._messages import Mailboxes, inbox_text, message_text, reset_mailboxes, set_mailboxes
from ._notices import CompletionNotices
from ._observation import NoResult
from ._progress import reset_sink, set_sink
from ._registry import TaskRegistry
from ._run_summary import RunSummary, model_steps_of
from ._sandbox import SandboxedPythonExecutor
from ._subprocess_executor import SubprocessPythonExecutor
from ._tools import task_tools

__all__ = ["AsyncAgent", "create_async_agent", "UNFINISHED_POLICIES"]

# Set by arun() for the run it starts: run() sets the event once it holds the run lock (a refused run never does).
_arun_holds: contextvars.ContextVar[threading.Event | None] = contextvars.ContextVar(
    "async_task_system_arun_holds", default=None)

UNFINISHED_POLICIES = ("cancel", "wait", "keep")
_OWN_BOX = "(coordinator)"  # the mailbox of tell(): no task id looks like it


class AsyncAgent(Coordinator):
    """A ``CodeAgent`` with background tasks. Build it with ``create_async_agent``.

    ``agent`` is the CodeAgent, ``task_manager`` the TaskManager its tasks run on,
    ``registry`` what the model may run, ``last_run`` the ``RunSummary`` of the last run.
    One run at a time; usable as a context manager (``shutdown()`` on exit). Given a name
    and a description, it can be a managed agent of another ``AsyncAgent``.
    """

    def __init__(self, agent: CodeAgent, board: TaskBoard, *, unfinished_tasks: str = "cancel",
                 recipe: Mapping[str, Any] | None = None, notices: bool = True, max_notices: int = 5,
                 mailboxes: Mailboxes | None = None, questions: InputRequests | None = None) -> None:
        if unfinished_tasks not in UNFINISHED_POLICIES:
            raise InvalidArgumentError(
                f"unfinished_tasks must be one of {', '.join(UNFINISHED_POLICIES)}, got {unfinished_tasks!r}"
            )
        self.agent = agent
        self.board = board
        self.unfinished_tasks = unfinished_tasks
        self.last_run: RunSummary | None = None
        self._run_lock = threading.Lock()
        self._closed = False
        self._recipe = dict(recipe) if recipe is not None else None  # create_async_agent's arguments
        agent.step_callbacks.register(ActionStep, self._after_step)
        agent.state["NoResult"] = NoResult  # the model's code tests isinstance(r, NoResult)
        board.bind_variables(lambda: getattr(agent.python_executor, "state", None) or {})
        # live coordination: completion notices into each step's prompt; mailboxes for send_message
        self.mailboxes = mailboxes if mailboxes is not None else Mailboxes()
        self.questions = questions if questions is not None else InputRequests(board.tm)
        board.watch_questions(self.questions)  # a wait_for_tasks returns when a task asks a question
        self.notices: CompletionNotices | None = None
        if notices:
            self.notices = CompletionNotices(board.tm, lambda: board.run_ids, max_notices=max_notices,
                                             seen=board.seen_done, extra=self.questions.new_question_lines)
            hook_inbox(agent, "notices", lambda: self.notices.drain())
        hook_inbox(agent, "message", self._drain_told)  # tell(): messages to this coordinator itself

    def _after_step(self, step: Any, agent: Any = None) -> None:
        if self.board.past_deadline():
            self.agent.interrupt()  # checked before the next step: run() raises, _run says why

    @property
    def task_manager(self) -> TaskManager:
        return self.board.tm

    @property
    def name(self) -> str | None:
        return self.agent.name

    @property
    def description(self) -> str | None:
        return self.agent.description

    def __call__(self, task: str, **kwargs: Any) -> str:
        """Run as a managed agent: the task wrapped and the answer reported as smolagents does, with guidance."""
        prompts = self.agent.prompt_templates["managed_agent"]
        answer = self.run(populate_template(prompts["task"], variables={"name": self.name, "task": task}),
                          guidance=True, **kwargs)
        report = answer.output if isinstance(answer, RunResult) else answer
        return populate_template(prompts["report"], variables={"name": self.name, "final_answer": report})

    def fresh(self) -> AsyncAgent:
        """A new AsyncAgent built from the same arguments: its own TaskManager, board and tasks."""
        if self._recipe is None:
            raise InvalidArgumentError("this AsyncAgent was not built by create_async_agent; pass a factory instead")
        if self._recipe.get("python_executor") is not None:
            raise InvalidArgumentError(
                f"AsyncAgent {self.name!r} was built with its own python_executor, which two coordinators "
                "cannot share; pass a factory that builds the AsyncAgent (and its executor) instead"
            )
        return create_async_agent(**self._recipe)

    def interrupt(self, reason: str = "interrupted") -> None:
        """Stop the agent at its next step (a child process running its code now: at once) and
        cancel every unfinished task it submitted."""
        self.agent.interrupt()
        stop_code = getattr(self.agent.python_executor, "stop", None)
        if stop_code is not None:
            stop_code(f"the run was stopped: {reason}")
        tm = self.task_manager
        for info in tm.tasks():
            if not info.done:
                tm.cancel(info.id, reason=reason)

    @property
    def registry(self) -> TaskRegistry:
        return self.board.registry

    def run(self, task: str, *, guidance: bool = False, timeout: float | None = None, **run_kwargs: Any) -> Any:
        """Run the agent on ``task`` and return its final answer (``CodeAgent.run``'s return).

        ``guidance=True`` adds the background-task guidance to the system prompt for this run.
        ``timeout``: seconds for the whole run; past it, waits stop short, the agent is
        interrupted at the end of its current step and ``TaskTimeoutError`` is raised.
        ``run_kwargs`` go to ``CodeAgent.run``: ``return_full_result=True`` returns smolagents'
        ``RunResult``; ``stream=True`` returns a generator of the steps (see ``_stream``).
        """
        timeout = check_seconds("timeout", timeout)
        if not isinstance(task, str) or not task.strip():
            raise InvalidArgumentError(f"task must be a non-empty string, got {task!r}")
        try:
            task.encode("utf-8")
        except UnicodeEncodeError as exc:  # a model API (and smolagents' console log) cannot take it
            raise InvalidArgumentError(
                f"task must be valid Unicode text; it has an unpaired surrogate {task[exc.start]!r} at "
                f"position {exc.start}"
            ) from None
        if self._closed:
            raise ShutdownError("this AsyncAgent was shut down; create a new one")
        if run_kwargs.pop("stream", False):
            return self._stream(task, guidance, timeout, run_kwargs)
        if not self._run_lock.acquire(blocking=False):
            raise RuntimeError("this AsyncAgent is already running a task; one run at a time (create another agent)")
        holds = _arun_holds.get()
        if holds is not None:  # this run is the one an arun() call started (not a nested run)
            _arun_holds.set(None)
            holds.set()
        try:
            return self._run(task, guidance, timeout, run_kwargs)
        finally:
            self._run_lock.release()

    def run_with_async_guidance(self, task: str, **run_kwargs: Any) -> Any:
        """``run`` with guidance on submitting independent work first and collecting it later."""
        return self.run(task, guidance=True, **run_kwargs)

    # ----------------------------------------------------------- as a CodeAgent (smolagents' own surface)

    @property
    def model(self) -> Model:
        """The CodeAgent's model."""
        return self.agent.model

    @property
    def memory(self) -> AgentMemory:
        """The CodeAgent's memory (``memory.steps``, ``memory.get_full_steps()``, ``memory.replay``)."""
        return self.agent.memory

    @property
    def logs(self) -> list[MemoryStep]:
        """The steps of the last run (task, model steps, final answer), as ``memory.steps``."""
        return self.agent.memory.steps

    def replay(self, detailed: bool = False) -> None:
        """Print the last run step by step, as ``CodeAgent.replay`` does."""
        self.agent.replay(detailed=detailed)

    def _stream(self, task: str, guidance: bool, timeout: float | None,
                run_kwargs: dict[str, Any]) -> Iterator[MemoryStep]:
        """``run(..., stream=True)``: yields each ``PlanningStep`` and ``ActionStep`` as it ends, then a
        ``FinalAnswerStep``, as smolagents does (model output deltas are not streamed).

        The run is ``run()`` on a helper thread in the caller's context (tracing and sessions follow
        it), so timeouts, the unfinished-task policy and ``last_run`` are the same. As with a
        smolagents stream, the agent waits for the consumer: its next step starts when the next item
        is asked for (background tasks keep running). Closing the generator early interrupts the
        run; the run's exception is raised from the generator.
        """
        steps: queue.SimpleQueue[Any] = queue.SimpleQueue()
        go = threading.Semaphore(0)  # released by the consumer for each step it has taken
        outcome: dict[str, Any] = {}
        end = object()

        def hand_over(step: MemoryStep) -> None:
            steps.put(step)
            go.acquire()

        def work() -> None:
            try:
                outcome["answer"] = self.run(task, guidance=guidance, timeout=timeout, **run_kwargs)
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer below
                outcome["error"] = exc
            finally:
                steps.put(end)

        if not self._stream_hooked:
            self.agent.step_callbacks.register(ActionStep, self._to_stream)
            self.agent.step_callbacks.register(PlanningStep, self._to_stream)
            self._stream_hooked = True
        self._stream_sink = hand_over
        worker = threading.Thread(target=contextvars.copy_context().run, args=(work,), daemon=True,
                                  name="AsyncAgent.run(stream=True)")
        worker.start()
        finished = False
        try:
            while (step := steps.get()) is not end:
                yield step
                go.release()
            finished = True
        finally:
            self._stream_sink = None
            if not finished:
                self.agent.interrupt()  # the consumer stopped early: the run ends before its next step
                go.release()
            worker.join()
        if "error" in outcome:
            raise outcome["error"]
        answer = outcome["answer"]
        yield FinalAnswerStep(output=answer.output if isinstance(answer, RunResult) else answer)

    _stream_hooked = False
    _stream_sink: Any = None

    def _to_stream(self, step: MemoryStep, agent: Any = None) -> None:
        sink = self._stream_sink
        if sink is not None:
            sink(step)

    def _run(self, task: str, guidance: bool, timeout: float | None, run_kwargs: dict[str, Any]) -> Any:
        agent = self.agent
        board = self.board
        board.begin_run(None if timeout is None else time.monotonic() + timeout)
        sub_before = board.registry.usage.total
        agent_before = usage_of(agent) if run_kwargs.get("reset") is False else Usage()
        instructions = agent.instructions
        if guidance:
            extra = guidance_for(self.unfinished_tasks)
            if self.notices is not None:
                extra = f"{extra}\n{LIVE_GUIDANCE}"
            agent.instructions = f"{instructions}\n\n{extra}" if instructions else extra
        sink = set_sink(board.note_progress)
        stop_code = getattr(agent.python_executor, "stop", None)  # a child process: end it at the deadline
        timer = None if timeout is None or stop_code is None else threading.Timer(
            timeout, stop_code, args=(f"the run took longer than its timeout of {timeout:g}s",))
        if timer is not None:
            timer.daemon = True
            timer.start()
        boxes = set_mailboxes(self.mailboxes)
        asks = set_requests(self.questions)
        if self.notices is not None:
            self.notices.reset()
        start = time.monotonic()
        started_at = time.time()
        answer: Any = None
        error: str | None = None
        try:
            answer = agent.run(task, **run_kwargs)
            return answer
        except BaseException as exc:
            if board.past_deadline():
                late = TaskTimeoutError(f"the run took longer than its timeout of {timeout:g}s and was "
                                        f"interrupted after step {agent.step_number - 1}")
                error = f"TaskTimeoutError: {late}"
                raise late from exc
            error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            if timer is not None:
                timer.cancel()
            board.begin_run(None, keep_ids=True)  # no deadline outside the run
            reset_sink(sink)
            reset_mailboxes(boxes)
            reset_requests(asks)
            agent.instructions = instructions
            unfinished = self._settle()
            if self.unfinished_tasks == "keep":
                board.keep_ids(board.run_ids)  # the next run's placeholders may name them
            wall = time.monotonic() - start
            infos = []
            for task_id in board.run_ids:
                try:
                    infos.append(self.task_manager.get(task_id))
                except KeyError:
                    pass
            self.last_run = RunSummary(
                task=task,
                final_answer=answer.output if isinstance(answer, RunResult) else answer,
                error=error,
                wall_time=wall,
                tasks=tuple(infos),
                agent_usage=usage_of(agent) - agent_before,
                sub_agent_usage=board.registry.usage.total - sub_before,
                steps=sum(1 for step in agent.memory.steps if isinstance(step, ActionStep)),
                unfinished_at_end=tuple(unfinished),
                unfinished_policy=self.unfinished_tasks,
                started_at=started_at,
                model_steps=model_steps_of(agent, started_at),
                tokens_estimated=bool(getattr(agent.model, "estimates_tokens", False)),
            )

    def _settle(self) -> list[str]:
        """Apply the unfinished-tasks policy to what this run submitted; return the unfinished ids."""
        tm = self.task_manager
        unfinished = []
        for task_id in self.board.run_ids:
            try:
                if not tm.get(task_id).done:
                    unfinished.append(task_id)
            except KeyError:
                continue
        if self.unfinished_tasks == "cancel":
            for task_id in unfinished:
                tm.cancel(task_id, reason="the agent's run ended before the task was collected")
        elif self.unfinished_tasks == "wait" and unfinished:
            tm.wait(unfinished)
        return unfinished

    def send_message(self, task_id: Any, text: Any) -> str:
        """Send ``text`` to a running (or not yet started) managed-agent task: its agent reads it as a
        user message at the start of its next step; the task's event log records it. Returns what
        happens next; raises ``InvalidArgumentError`` (a tool task, a finished task, an agent in another
        process, bad text) or ``UnknownTaskError`` saying why."""
        return send_message(self.board, self.mailboxes, task_id, text, self.questions)

    def answer(self, task_id: Any, text: Any) -> str:
        """Answer the question task ``task_id`` asked with ``request_input`` (as a human, from Python);
        ``InvalidArgumentError`` if it waits for none."""
        tid = self.board._one_id(task_id)
        self.board._check_known([tid])
        if not self.questions.is_open(tid):
            status = self.task_manager.get(tid).status.value
            raise InvalidArgumentError(f"task {tid} is not waiting for input (it is {status}); nothing to answer")
        return send_message(self.board, self.mailboxes, tid, text, self.questions)

    def tell(self, text: Any) -> str:
        """Send the coordinating model itself a message (as its user): it reads it as a user message at
        the start of its next step (of this run, or of the next one if none runs). Returns what happens
        next; raises ``InvalidArgumentError`` for bad text or a full box."""
        if self._closed:
            raise ShutdownError("this AsyncAgent was shut down; a message would reach nobody")
        queued = self.mailboxes.post(_OWN_BOX, message_text(text))
        return ("Message queued for the coordinator; it reads it at the start of its next step"
                + (f" ({queued} unread)." if queued > 1 else "."))

    def _drain_told(self) -> str | None:
        return inbox_text(self.mailboxes.take(_OWN_BOX), "your user", "act on it")

    def shutdown(self, wait: bool = True) -> None:
        """Cancel every unfinished task, take no more, and (with ``wait``) return once no
        worker thread is left. Idempotent."""
        self._closed = True
        self.board.close()
        tm = self.task_manager
        for info in tm.tasks():
            if not info.done:
                tm.cancel(info.id, reason="the agent was shut down")
        tm.shutdown(wait=wait, cancel_pending=True)
        cleanup = getattr(self.agent, "cleanup", None)
        if cleanup is not None:
            cleanup()

    def __enter__(self) -> AsyncAgent:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    # ------------------------------------------------------------------ asyncio: await agent.arun(...)

    async def arun(self, task: str, *, guidance: bool = False, timeout: float | None = None,
                   **run_kwargs: Any) -> Any:
        """``run`` for async code: the run goes on a thread of its own, so the caller's event
        loop (a FastAPI handler, a notebook cell) keeps running, and the run sees the caller's
        context (contextvars, OpenTelemetry).

        Cancelling the awaiting task interrupts the agent (after its current step), cancels the
        tasks the run submitted and its direct async tool calls, waits for the run to stop, and
        re-raises ``CancelledError``. A second cancellation stops the waiting, not the cleanup.
        Only the run this call started is stopped: cancelling a call that was refused (one run at
        a time) leaves the running one alone.
        """
        run = functools.partial(self.run, task, guidance=guidance, timeout=timeout, **run_kwargs)
        started = time.time()
        holds = threading.Event()  # set once this call's run holds the run lock
        reset = _arun_holds.set(holds)
        try:
            future = _on_a_thread(run, "agent-run")
        finally:
            _arun_holds.reset(reset)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                raise
            while not holds.is_set() and not future.done():  # its thread is slow to start: refused, or about to run
                await asyncio.wait([future], timeout=0.02)
            if not holds.is_set() or future.done():  # refused (one run at a time) or over: nothing of ours to stop
                raise
            reason = "the run was cancelled by its caller (asyncio)"
            self._stop_run(reason, started)
            with contextlib.suppress(Exception):  # the interrupted run's own error: we raise CancelledError
                await future
            self._stop_run(reason, started)  # and what its last step submitted after the first stop
            raise

    async def arun_with_async_guidance(self, task: str, **run_kwargs: Any) -> Any:
        """``arun`` with the background-task guidance (``run_with_async_guidance`` for async code)."""
        return await self.arun(task, guidance=True, **run_kwargs)

    def _stop_run(self, reason: str, since: float) -> None:
        """Interrupt the agent at its next step; cancel the run's tasks and direct async tool calls.

        The run's tasks: those it listed, and any created since it started (a submit that is
        still returning is not listed yet)."""
        self.agent.interrupt()
        for agent_tool in self.agent.tools.values():
            if isinstance(agent_tool, BlockingAsyncTool):
                agent_tool.cancel_calls(reason)
        tm = self.task_manager
        recent = [info.id for info in tm.tasks() if not info.done and info.created_at >= since]
        for task_id in dict.fromkeys([*self.board.run_ids, *recent]):
            with contextlib.suppress(KeyError):  # its record was already forgotten
                tm.cancel(task_id, reason=reason)

    async def __aenter__(self) -> AsyncAgent:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """``shutdown()`` without blocking the event loop while worker threads finish."""
        await asyncio.shield(_on_a_thread(self.shutdown, "agent-shutdown"))

    def __repr__(self) -> str:
        names = ", ".join(self.registry.names()) or "no tools"
        return f"<AsyncAgent [{names}] on {self.task_manager!r}>"


def _on_a_thread(fn: Callable[[], Any], name: str) -> asyncio.Future[Any]:
    """Run ``fn()`` on a new daemon thread in a copy of the caller's context; a future of the running loop."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    ctx = contextvars.copy_context()

    def settle(result: Any, error: BaseException | None) -> None:
        if future.done():  # the caller stopped waiting
            return
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)

    def target() -> None:
        try:
            result, error = ctx.run(fn), None
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
            result, error = None, exc
        with contextlib.suppress(RuntimeError):  # the caller's loop is closed: nobody waits
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=target, name=name, daemon=True).start()
    return future


_TASK_TOOL_NAMES = {"submit_task", "wait_for_tasks", "sleep", "get_task_results", "check_task", "list_tasks",
                    "cancel_task", "send_message"}


class _Default(int):
    """``max_workers`` not given (an int, so the CLI's default reads as 4)."""


_DEFAULT_WORKERS = _Default(4)


def create_async_agent(
    tools: Iterable[Any] = (),
    managed_agents: Iterable[Any] = (),
    model: Model | None = None,
    max_workers: int = _DEFAULT_WORKERS,  # not given: 4 threads, or with an executor its capacity
    instructions: str | None = None,
    executor: Executor | None = None,
    name_limits: Mapping[str, int] | None = None,
    *,
    max_wait_seconds: float = 30.0,
    max_result_chars: int = 4000,
    max_listed_tasks: int = 20,
    max_report_chars: int = 8000,
    unfinished_tasks: str = "cancel",
    python_executor: Any = None,
    code_in_subprocess: bool = False,
    propagate_context: bool = True,
    max_coroutines: int = 1000,
    notices: bool = True,
    max_notices: int = 5,
    resources: Mapping[str, Mapping[str, float]] | None = None,
    **codeagent_kwargs: Any,
) -> AsyncAgent:
    """Build an ``AsyncAgent``: a CodeAgent with ``tools``, ``managed_agents`` and the eight
    background-task tools (the seven of ``task_tools`` and ``send_message``), on a TaskManager of
    ``max_workers`` thread slots and ``max_coroutines`` coroutine slots (async tools run on its event
    loop, whether submitted or called directly).

    ``notices``: at the start of each model step, tell the model which of its tasks finished (and
    which ask a question) since its last step, at most ``max_notices`` lines; costs no model step.

    ``managed_agents``: agents (each task runs a fresh copy) or zero-argument factories (only a
    factory travels to another process: give factories with a ``DaskExecutor``).
    ``executor`` and ``name_limits`` go to the TaskManager (e.g. a ``DaskExecutor``), and so does
    ``resources``, what each tool or managed agent needs by name (``{"render": {"GPU": 1}}``);
    ``python_executor`` is the CodeAgent's own ``executor`` (default: a ``SandboxedPythonExecutor``);
    ``code_in_subprocess=True`` runs the model's code in a child process instead
    (``SubprocessPythonExecutor``: it cannot stall this process, and a run's timeout or
    ``shutdown()`` ends it at once). ``propagate_context=False`` runs
    tasks without the caller's OpenTelemetry context (each starts a trace of its own). ``max_wait_seconds``,
    ``max_result_chars``, ``max_listed_tasks`` and ``max_report_chars`` bound what one call may block and put
    into the model's context (see ``Limits``); code always gets results whole. Give ``name`` and
    ``description`` to use the agent as a managed agent of another. Other keyword arguments go
    to ``CodeAgent``. See the module docstring for the timeout and unfinished-task policies.
    """
    recipe = dict(locals())  # what fresh() rebuilds a nested coordinator from
    recipe.update(recipe.pop("codeagent_kwargs"))
    if model is None:
        raise InvalidArgumentError(
            "model is required: e.g. smolagents.LiteLLMModel(model_id=...) or, offline, "
            "async_task_system.testing.ScriptedModel([...])"
        )
    if unfinished_tasks not in UNFINISHED_POLICIES:
        raise InvalidArgumentError(
            f"unfinished_tasks must be one of {', '.join(UNFINISHED_POLICIES)}, got {unfinished_tasks!r}"
        )
    if code_in_subprocess and python_executor is not None:
        raise InvalidArgumentError("give python_executor or code_in_subprocess=True, not both")
    code_executor = SubprocessPythonExecutor if code_in_subprocess else SandboxedPythonExecutor
    if not isinstance(notices, bool):
        raise InvalidArgumentError(f"notices must be True or False, got {notices!r}")
    if isinstance(max_notices, bool) or not isinstance(max_notices, int) or max_notices < 1:
        raise InvalidArgumentError(f"max_notices must be an int >= 1 (lines per step), got {max_notices!r}")
    tools = list(tools)
    managed = list(managed_agents)
    recipe.update(tools=tools, managed_agents=managed)
    clashes = sorted(_TASK_TOOL_NAMES & {getattr(t, "name", None) for t in tools})
    if clashes:
        raise InvalidArgumentError(f"tool names {clashes} are taken by the background-task tools; rename your tools")
    executor_kwargs = dict(codeagent_kwargs.pop("executor_kwargs", None) or {})
    executor_kwargs.setdefault("timeout_seconds", None)
    step_limit = check_seconds("executor_kwargs['timeout_seconds']", executor_kwargs["timeout_seconds"], cap=True)
    if step_limit is not None:
        max_wait_seconds = min(check_seconds("max_wait_seconds", max_wait_seconds, allow_none=False), 0.8 * step_limit)
    limits = Limits(max_wait_seconds=max_wait_seconds, max_result_chars=max_result_chars,
                    max_listed_tasks=max_listed_tasks, max_report_chars=max_report_chars)
    registry = TaskRegistry(tools, managed)
    resources = check_name_resources(resources, "resources")
    unknown = sorted(set(resources) - set(registry.names()))
    if unknown:
        raise InvalidArgumentError(
            f"resources names {unknown}, which are not tools or managed agents here ({registry.listing()})"
        )
    if executor is not None:
        _check_travel(registry, executor)
    workers = None if max_workers is _DEFAULT_WORKERS and executor is not None else max_workers  # its capacity
    task_manager = TaskManager(workers, executor=executor, name_limits=name_limits,
                               name_resources=resources, propagate_context=propagate_context,
                               max_coroutines=max_coroutines)
    try:
        board = TaskBoard(task_manager, registry, limits)
        mailboxes, questions = Mailboxes(), InputRequests(task_manager)
        agent = CodeAgent(
            tools=[*for_direct_calls(tools, task_manager), *task_tools(board),  # async tools: on the loop
                   SendMessageTool(board, mailboxes, questions)],
            model=model,
            managed_agents=[source.callable_agent(registry.usage, task_manager)  # their async tools: on the loop
                            for source in registry.agent_sources] or None,
            instructions=instructions,
            executor=python_executor or code_executor(
                codeagent_kwargs.get("additional_authorized_imports"),
                max_print_outputs_length=codeagent_kwargs.get("max_print_outputs_length"), **executor_kwargs),
            executor_kwargs=executor_kwargs,
            **codeagent_kwargs,
        )
        return AsyncAgent(agent, board, unfinished_tasks=unfinished_tasks, recipe=recipe, notices=notices,
                          max_notices=max_notices, mailboxes=mailboxes, questions=questions)
    except BaseException:
        task_manager.shutdown(wait=False, cancel_pending=True)
        raise


def _check_travel(registry: TaskRegistry, executor: Executor) -> None:
    """Refuse at build time what the executor cannot run (e.g. an agent that does not pickle for Dask),
    rather than let the model find out at its first submit_task."""
    for entry in registry.entries():
        if is_async_tool(entry.target) and not getattr(executor, "runs_coroutines", False):
            continue  # it runs on the TaskManager's own event loop, in this process
        try:
            executor.check(registry.callable_for(entry), (), {})
        except InvalidArgumentError as exc:
            raise InvalidArgumentError(
                f"{entry.kind} {entry.name!r} cannot run on {executor.describe()}: {exc}"
            ) from exc
