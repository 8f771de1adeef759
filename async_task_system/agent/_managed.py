"""Managed agents as background tasks: one fresh instance per task, interruptible, metered.

One smolagents agent instance must not run twice at once: concurrent ``run()`` calls
share its memory and swap answers (smolagents issue #1781). ``copy.deepcopy`` fails on
the logger's locks and on LiteLLM models; ``to_dict`` loses instructions and callbacks.
So each agent task runs on a shallow copy with its own state, memory, ``Monitor``,
step-callback registry and Python executor (tools and model are shared, as smolagents
shares them), or on a new instance from a factory the user gives.

On an executor that pickles (Dask), only a factory travels: an agent instance holds locks
(model, logger console) and is refused with the fix in the message. The worker-side run
returns an ``AgentReply`` (the answer and its usage) that ``ManagedAgentRun.unpack_remote``
turns back into the answer on the submitting side, adding the usage to the meter there.
"""

from __future__ import annotations

import copy
import pickle
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smolagents.agents import MultiStepAgent
from smolagents.memory import ActionStep, AgentMemory, CallbackRegistry, PlanningStep
from smolagents.monitoring import Monitor

from ..engine import cancel_token, current_task
from ..errors import InvalidArgumentError
from ._progress import _sink
from ._sandbox import sandbox_agent

__all__ = ["Usage", "UsageMeter", "AgentSource", "AgentReply", "ManagedAgentRun", "SubAgentError", "fresh_copy",
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


def fresh_copy(agent: MultiStepAgent) -> MultiStepAgent:
    """A shallow copy of ``agent`` that can run at the same time as the original and other copies."""
    clone = copy.copy(agent)
    clone.state = {}
    clone.task = None
    clone.step_number = 0
    clone.interrupt_switch = False
    clone.memory = AgentMemory("")  # run() renders the system prompt into it; rendering here costs ~5 ms
    clone.monitor = Monitor(clone.model, clone.logger)
    callbacks = CallbackRegistry()
    for step_cls, registered in agent.step_callbacks._callbacks.items():
        for callback in registered:
            if getattr(callback, "__self__", None) is not agent.monitor:
                callbacks.register(step_cls, callback)
    callbacks.register(ActionStep, clone.monitor.update_metrics)
    clone.step_callbacks = callbacks
    if agent.managed_agents:
        clone.managed_agents = {name: fresh_copy(sub) for name, sub in agent.managed_agents.items()}
    if getattr(agent, "python_executor", None) is not None and hasattr(agent, "create_python_executor"):
        clone.python_executor = clone.create_python_executor()
    return sandbox_agent(clone)


class AgentSource:
    """Where new instances of one managed agent come from: copies of a template, or a factory.

    Pickled (to run on another process), only the factory travels; an instance cannot.
    """

    def __init__(self, agent_or_factory: MultiStepAgent | Callable[[], MultiStepAgent]) -> None:
        if isinstance(agent_or_factory, MultiStepAgent):
            self.factory: Callable[[], MultiStepAgent] | None = None
            self.template: MultiStepAgent | None = agent_or_factory
        elif callable(agent_or_factory):
            self.factory = agent_or_factory
            self.template = agent_or_factory()
            if not isinstance(self.template, MultiStepAgent):
                raise InvalidArgumentError(
                    f"a managed agent factory must return a smolagents agent, {agent_or_factory!r} "
                    f"returned {type(self.template).__name__}"
                )
        else:
            raise InvalidArgumentError(
                "managed_agents must be smolagents agents (CodeAgent, ToolCallingAgent) or zero-argument "
                f"functions that make one, got {type(agent_or_factory).__name__} {agent_or_factory!r}"
            )
        self.name: str = self.template.name
        self.description: str = self.template.description
        if not self.name or not self.description:
            raise InvalidArgumentError(
                f"a managed agent needs a name and a description (the model picks it by them), got "
                f"name={self.name!r} description={self.description!r}"
            )
        sandbox_agent(self.template)  # the model may also call the template directly, as a tool

    def new_instance(self) -> MultiStepAgent:
        if self.factory is None:
            return fresh_copy(self.template)
        instance = self.factory()
        if instance is self.template or not isinstance(instance, MultiStepAgent):
            raise InvalidArgumentError(
                f"the factory of managed agent {self.name!r} must return a new agent on every call"
            )
        return sandbox_agent(instance)

    def __reduce__(self) -> tuple[Any, ...]:
        if self.factory is None:
            raise InvalidArgumentError(
                f"managed agent {self.name!r} was given as an agent instance, which cannot travel to another "
                "process (its model and logger hold locks: it does not pickle); pass a zero-argument factory "
                f"that builds the agent, e.g. managed_agents=[make_{self.name}]"
            )
        return (_remote_source, (self.factory, self.name, self.description))

    def __repr__(self) -> str:
        return f"<AgentSource {self.name!r} {'factory' if self.factory else 'copies'}>"


def _remote_source(factory: Callable[[], MultiStepAgent], name: str, description: str) -> AgentSource:
    """An ``AgentSource`` rebuilt in another process: the factory only (no template is built there)."""
    source = AgentSource.__new__(AgentSource)
    source.factory, source.template, source.name, source.description = factory, None, name, description
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
            if sink is not None and this_task is not None and isinstance(step, ActionStep):
                sink(this_task.task_id, f"{self.source.name} finished step {step.step_number} of at most "
                                        f"{instance.max_steps}")

        instance.step_callbacks.register(ActionStep, on_step)
        instance.step_callbacks.register(PlanningStep, on_step)
        running = [instance]  # emptied at the end: the token (kept with the task's record) must not keep it alive
        if token is not None:
            token.add_callback(lambda reason: [agent.interrupt() for agent in running])
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
        return AgentReply(answer, spent.total) if self.remote else answer

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
