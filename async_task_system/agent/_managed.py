"""Managed agents as background tasks: one fresh instance per task, interruptible, metered.

One smolagents agent instance must not run twice at once: concurrent ``run()`` calls
share its memory and swap answers (smolagents issue #1781). ``copy.deepcopy`` fails on
the logger's locks and on LiteLLM models; ``to_dict`` loses instructions and callbacks.
So each agent task runs on a shallow copy with its own state, memory, ``Monitor``,
step-callback registry and Python executor (tools and model are shared, as smolagents
shares them), or on a new instance from a factory the user gives.

A coordinator (an ``AsyncAgent``, or a factory of them) is a managed agent too: each task
runs a fresh coordinator with its own board and tasks, interrupted (its tasks cancelled)
when the task is cancelled, and shut down when the task ends, so no thread outlives it.

Async tools in a managed agent's own tools run on the TaskManager's event loop, as the
coordinator's do: the agent's code gets their results (``run_async_tools_on``); cancelling its
task cancels the coroutine. Away from its AsyncAgent (on a Dask worker), a run whose agent has
async tools gets a loop of its own, shut down when the run ends.

On an executor that pickles (Dask), only a factory travels: an agent instance holds locks
(model, logger console) and is refused with the fix in the message. The worker-side run
returns an ``AgentReply`` (the answer and its usage) that ``ManagedAgentRun.unpack_remote``
turns back into the answer on the submitting side, adding the usage to the meter there.
"""

from __future__ import annotations

import abc
import copy
import pickle
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smolagents.agents import MultiStepAgent
from smolagents.memory import ActionStep, AgentMemory, CallbackRegistry, PlanningStep
from smolagents.monitoring import Monitor

from ..engine import TaskManager, cancel_token, current_task
from ..errors import InvalidArgumentError
from ._async_tools import has_async_tools, run_async_tools_on
from ._live import SubAgentLink
from ._messages import current_mailboxes
from ._progress import _sink
from ._sandbox import sandbox_agent

__all__ = ["Coordinator", "Usage", "UsageMeter", "AgentSource", "AgentReply", "ManagedAgentRun", "SubAgentError", "fresh_copy",
           "usage_of", "step_usage"]


@dataclass(frozen=True)
class Usage:
    """Model calls and tokens of one or more agent runs."""

    model_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.model_calls + other.model_calls, self.input_tokens + other.input_tokens,
                     self.output_tokens + other.output_tokens)

    def __sub__(self, other: Usage) -> Usage:
        return Usage(self.model_calls - other.model_calls, self.input_tokens - other.input_tokens,
                     self.output_tokens - other.output_tokens)

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class UsageMeter:
    """A thread-safe running total of ``Usage``, fed by every managed-agent run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._total = Usage()

    def add(self, usage: Usage) -> None:
        with self._lock:
            self._total = self._total + usage

    @property
    def total(self) -> Usage:
        with self._lock:
            return self._total

    def __reduce__(self) -> tuple[Any, ...]:
        return (UsageMeter, ())  # a lock does not pickle: another process starts from zero


def step_usage(step: Any) -> Usage:
    """The model call and tokens of one memory step (none for a step whose model call failed)."""
    if isinstance(step, PlanningStep) or (
        isinstance(step, ActionStep) and (step.model_output_message is not None or step.token_usage is not None)
    ):
        usage = step.token_usage
        return Usage(1, usage.input_tokens if usage else 0, usage.output_tokens if usage else 0)
    return Usage()


def usage_of(agent: MultiStepAgent) -> Usage:
    """Model calls and tokens recorded in the agent's memory (of its current or last run)."""
    total = Usage()
    for step in agent.memory.steps:
        total = total + step_usage(step)
    return total


class Coordinator(abc.ABC):
    """An agent that runs background tasks of its own (``AsyncAgent``): what a nested managed agent is.

    ``agent`` is its smolagents agent; calling it runs one managed-agent task and returns
    smolagents' report text; ``fresh()`` makes a new one with its own tasks; ``interrupt()``
    stops it and cancels its tasks; ``shutdown()`` frees its threads.
    """

    agent: MultiStepAgent
    last_run: Any

    @property
    @abc.abstractmethod
    def name(self) -> str | None: ...

    @property
    @abc.abstractmethod
    def description(self) -> str | None: ...

    @abc.abstractmethod
    def __call__(self, task: str, **kwargs: Any) -> str: ...

    @abc.abstractmethod
    def fresh(self) -> Coordinator: ...

    @abc.abstractmethod
    def interrupt(self, reason: str = "interrupted") -> None: ...

    @abc.abstractmethod
    def shutdown(self, wait: bool = True) -> None: ...


class _ManagedProxy:
    """What the parent CodeAgent lists and calls for a coordinator (or a factory): every call a fresh one.

    smolagents needs a name, a description and a callable; a direct call (not through
    submit_task) runs a fresh coordinator too, so no two calls share a board.
    """

    def __init__(self, source: AgentSource, usage: UsageMeter) -> None:
        self._run = ManagedAgentRun(source, usage)
        self.name = source.name
        self.description = source.description

    def __call__(self, task: str, additional_args: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        return self._run(task, additional_args)

    def __repr__(self) -> str:
        return f"<managed coordinator {self.name!r}>"


def fresh_copy(agent: MultiStepAgent) -> MultiStepAgent:
    """A shallow copy of ``agent`` that can run at the same time as the original and other copies."""
    clone = copy.copy(agent)
    clone.state = {}
    clone.task = None
    clone.step_number = 0
    clone.interrupt_switch = False
    clone.tools = dict(agent.tools)  # its own: run_async_tools_on may rebind the stand-ins in it
    clone.memory = AgentMemory("")  # run() renders the system prompt into it; rendering here costs ~5 ms
    clone.monitor = Monitor(clone.model, clone.logger)
    callbacks = CallbackRegistry()
    for step_cls, registered in agent.step_callbacks._callbacks.items():
        for callback in registered:
            if getattr(callback, "__self__", None) is not agent.monitor:
                callbacks.register(step_cls, callback)
    callbacks.register(ActionStep, clone.monitor.update_metrics)
    clone.step_callbacks = callbacks
    if agent.managed_agents:  # a coordinator's proxy makes a fresh one per call: shared as is
        clone.managed_agents = {name: fresh_copy(sub) if isinstance(sub, MultiStepAgent) else sub
                                for name, sub in agent.managed_agents.items()}
    if getattr(agent, "python_executor", None) is not None and hasattr(agent, "create_python_executor"):
        clone.python_executor = clone.create_python_executor()
    return sandbox_agent(clone)


class AgentSource:
    """Where new instances of one managed agent come from: copies of a template, or a factory.

    Pickled (to run on another process), only the factory travels; an instance cannot.
    """

    def __init__(self, agent_or_factory: MultiStepAgent | Coordinator | Callable[[], Any]) -> None:
        self.factory: Callable[[], Any] | None = None
        self.template: Any = None  # a MultiStepAgent to copy, or a Coordinator to take fresh() ones of
        self.nested = False  # the instances are coordinators
        self.task_manager: TaskManager | None = None  # whose loop runs the instances' async tools (in-process)
        if isinstance(agent_or_factory, (MultiStepAgent, Coordinator)):
            self.template = agent_or_factory
            self.nested = isinstance(agent_or_factory, Coordinator)
            name, description = agent_or_factory.name, agent_or_factory.description
        elif callable(agent_or_factory):
            self.factory = agent_or_factory
            sample = agent_or_factory()
            if isinstance(sample, Coordinator):
                self.nested = True
                name, description = sample.name, sample.description
                sample.shutdown()  # read for its name only: its threads must not outlive this line
            elif isinstance(sample, MultiStepAgent):
                self.template = sample
                name, description = sample.name, sample.description
            else:
                raise InvalidArgumentError(
                    f"a managed agent factory must return a smolagents agent or an AsyncAgent, {agent_or_factory!r} "
                    f"returned {type(sample).__name__}"
                )
        else:
            raise InvalidArgumentError(
                "managed_agents must be smolagents agents (CodeAgent, ToolCallingAgent), AsyncAgents, or "
                f"zero-argument functions that make one, got {type(agent_or_factory).__name__} {agent_or_factory!r}"
            )
        self.name: str = name
        self.description: str = description
        if not self.name or not self.description:
            raise InvalidArgumentError(
                f"a managed agent needs a name and a description (the model picks it by them), got "
                f"name={self.name!r} description={self.description!r}"
            )
        sandbox_agent(self.template)  # the model may also call the template directly, as a tool

    def callable_agent(self, usage: UsageMeter, task_manager: TaskManager | None = None) -> Any:
        """What the parent CodeAgent lists under ``managed_agents`` (and calls, for a direct call);
        a coordinator's direct calls add their usage to ``usage``. With ``task_manager``, the async
        tools of this agent's instances (the template's too, for direct calls) run on its loop."""
        if task_manager is not None and not self.nested:
            self.task_manager = task_manager
            if self.template is not None:
                run_async_tools_on(self.template, task_manager)
        return _ManagedProxy(self, usage) if self.nested else self.template

    def new_instance(self) -> Any:
        """A new agent (or coordinator) for one task, sharing no run state with any other."""
        if self.factory is None:
            return self.template.fresh() if self.nested else fresh_copy(self.template)
        instance = self.factory()
        kind = Coordinator if self.nested else MultiStepAgent
        if instance is self.template or not isinstance(instance, kind):
            raise InvalidArgumentError(
                f"the factory of managed agent {self.name!r} must return a new {kind.__name__} on every call"
            )
        if self.task_manager is not None:
            run_async_tools_on(instance, self.task_manager)
        return sandbox_agent(instance)

    def __reduce__(self) -> tuple[Any, ...]:
        if self.factory is None:
            raise InvalidArgumentError(
                f"managed agent {self.name!r} was given as an agent instance, which cannot travel to another "
                "process (its model and logger hold locks: it does not pickle); pass a zero-argument factory "
                f"that builds the agent, e.g. managed_agents=[make_{self.name}]"
            )
        return (_remote_source, (self.factory, self.name, self.description, self.nested))

    def __repr__(self) -> str:
        return f"<AgentSource {self.name!r} {'factory' if self.factory else 'copies'}>"


def _remote_source(factory: Callable[[], Any], name: str, description: str, nested: bool = False) -> AgentSource:
    """An ``AgentSource`` rebuilt in another process: the factory only (no template is built there)."""
    source = AgentSource.__new__(AgentSource)
    source.factory, source.template, source.name, source.description = factory, None, name, description
    source.nested, source.task_manager = nested, None
    return source


@dataclass(frozen=True)
class AgentReply:
    """What a managed-agent run in another process sends back: its answer and its usage."""

    answer: Any
    usage: Usage


class ManagedAgentRun:
    """The callable an agent task runs: ``run(task, additional_args=None) -> the agent's report``.

    A fresh instance per call. If the task is cancelled or times out, the instance is
    interrupted (it stops at the start of its next step). Its model calls and tokens
    are added to ``usage`` after every step, so an interrupted run is counted too.

    Pickled, it becomes a *remote* run: its steps are counted there and the call returns
    an ``AgentReply`` (an exception carries ``agent_usage``); ``unpack_remote`` on the
    submitting side adds that usage to ``usage`` and gives the manager the plain answer.
    """

    def __init__(self, source: AgentSource, usage: UsageMeter, *, remote: bool = False) -> None:
        self.source = source
        self.usage = usage
        self.remote = remote
        self.__name__ = source.name

    def __call__(self, task: str, additional_args: dict[str, Any] | None = None) -> Any:
        token = cancel_token()
        if token is not None:
            token.raise_if_cancelled()
        instance = self.source.new_instance()
        if isinstance(instance, Coordinator):
            return self._run_coordinator(instance, task, additional_args, token)
        this_task = current_task()
        sink = _sink.get()
        spent = UsageMeter()  # this call's usage: what a remote run sends back

        def on_step(step: Any, agent: Any = None) -> None:
            usage = step_usage(step)
            spent.add(usage)
            if not self.remote:
                self.usage.add(usage)  # step by step: an interrupted run is counted too
            if token is not None and token.cancelled:
                instance.interrupt()  # covers a cancel that landed before run() reset the flag
            if link is not None and isinstance(step, ActionStep):
                link.on_step(step, instance.max_steps)

        # live coordination: messages down (send_message), progress up (step, thought, report_progress)
        link = None
        if this_task is not None:  # on a Dask worker, messages come through the executor's inbox
            link = SubAgentLink(this_task.task_id, sink, current_mailboxes(), self.source.name, token)
            link.attach(instance)
        instance.step_callbacks.register(ActionStep, on_step)
        instance.step_callbacks.register(PlanningStep, on_step)
        running = [instance]  # emptied at the end: the token (kept with the task's record) must not keep it alive
        if token is not None:
            token.add_callback(lambda reason: [agent.interrupt() for agent in running])
        loop = None  # away from its AsyncAgent (a Dask worker): a loop of this run's own for its async tools
        if self.source.task_manager is None and has_async_tools(instance):
            loop = TaskManager(max_workers=1, observers=())
            run_async_tools_on(instance, loop)
        try:
            if additional_args:
                answer = instance(task, additional_args=dict(additional_args))
            else:
                answer = instance(task)
        except Exception as exc:
            if not self.remote:
                raise
            exc.agent_usage = spent.total  # travels back in the exception's state
            if _round_trips(exc):
                raise
            # smolagents' AgentError needs a logger to be rebuilt: send its type and message instead.
            error = SubAgentError(f"{type(exc).__name__}: {exc}")
            error.agent_usage = spent.total
            raise error from exc
        finally:
            running.clear()
            if link is not None:
                link.close()
            if loop is not None:
                loop.shutdown(wait=False)
        return AgentReply(answer, spent.total) if self.remote else answer

    def _run_coordinator(self, coordinator: Coordinator, task: str, additional_args: dict[str, Any] | None,
                         token: Any) -> Any:
        """One task of a nested coordinator: its own board; cancelled with the task; always shut down."""
        running = [coordinator]  # emptied at the end: the token (kept with the task's record) must not keep it

        def stop(reason: str) -> None:
            for each in list(running):
                each.interrupt(f"the parent task was cancelled: {reason}")

        if token is not None:
            token.add_callback(stop)
            # a cancel that lands before its run() resets the interrupt flag is caught at the next step
            coordinator.agent.step_callbacks.register(
                ActionStep, lambda step, agent=None: stop(token.reason or "cancelled") if token.cancelled else None)
        this_task = current_task()
        link = None  # live coordination: a message to this task reaches the nested coordinator's model
        if this_task is not None and not self.remote:
            link = SubAgentLink(this_task.task_id, _sink.get(), current_mailboxes(), self.source.name)
            link.attach(coordinator.agent, own_tools=False)
        try:
            kwargs = {"additional_args": dict(additional_args)} if additional_args else {}
            answer = coordinator(task, **kwargs)
        finally:
            running.clear()
            if link is not None:
                link.close()
            coordinator.shutdown()
            summary = coordinator.last_run
            if summary is not None:
                self.usage.add(summary.usage)
        return AgentReply(answer, summary.usage if summary else Usage()) if self.remote else answer

    def unpack_remote(self, ok: bool, value: Any) -> tuple[bool, Any]:
        """On the submitting side, with what a remote run returned (``ok``) or raised: count its
        usage here and return ``(ok, value)`` with the plain answer. Called by ``DaskExecutor``."""
        if ok and isinstance(value, AgentReply):
            self.usage.add(value.usage)
            return True, value.answer
        usage = getattr(value, "agent_usage", None)
        if isinstance(usage, Usage):
            self.usage.add(usage)
        return ok, value

    def __reduce__(self) -> tuple[Any, ...]:
        return (_remote_run, (self.source,))

    def __repr__(self) -> str:
        return f"<ManagedAgentRun {self.source.name!r}{' remote' if self.remote else ''}>"


class SubAgentError(RuntimeError):
    """A managed agent's run in another process failed with an error that cannot travel back as is
    (its message names the original type, e.g. ``AgentGenerationError: ...``)."""


def _round_trips(exc: BaseException) -> bool:
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001 - any failure means it cannot be rebuilt on the other side
        return False
    return True


def _remote_run(source: AgentSource) -> ManagedAgentRun:
    return ManagedAgentRun(source, UsageMeter(), remote=True)
