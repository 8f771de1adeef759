"""Hostile-caller findings against the coroutine lane (issue 14) and live coordination (issue 15).

Each confirmed bug is an ``xfail(strict=True)`` naming the finding: the file is green, and each one
turns into an (unexpected) pass, failing the run, once it is fixed; drop its marker then. The tests
without a marker are attacks that held. Hangs are bounded: the call under attack runs on a daemon
thread joined with a timeout, so a finding never hangs the suite.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import math
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from smolagents import CodeAgent  # noqa: E402
from smolagents import tool as smolagents_tool  # noqa: E402

from async_task_system import (  # noqa: E402
    CancelToken,
    InvalidArgumentError,
    ShutdownError,
    TaskManager,
    TaskCancelledError,
    TaskStatus,
    TaskTimeoutError,
    create_async_agent,
)
from async_task_system.agent import AsyncAgent, CompletionNotices, InputRequests, request_input  # noqa: E402
from async_task_system.agent import tool as async_tool  # noqa: E402
from async_task_system.agent._input import reset_requests, set_requests  # noqa: E402
from async_task_system.engine import MAX_SECONDS  # noqa: E402
from async_task_system.testing import ScriptedModel, last_observation, message_text  # noqa: E402


def bounded(fn: Callable[[], Any], seconds: float = 5.0) -> dict[str, Any]:
    """Run ``fn()`` on a daemon thread for at most ``seconds``: {'result': ...}, {'error': ...} or {'hung': True}."""
    out: dict[str, Any] = {}

    def work() -> None:
        try:
            out["result"] = fn()
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            out["error"] = exc

    worker = threading.Thread(target=work, daemon=True, name="attack-bounded")
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        out["hung"] = True
    return out


def wait_until(predicate: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def latest(messages: list[Any]) -> str:
    return message_text(messages[-1]) if len(messages) > 2 else ""


@pytest.fixture
def tm() -> Iterator[TaskManager]:
    manager = TaskManager(max_workers=4)
    yield manager
    manager.shutdown(wait=False, cancel_pending=True)  # never wait: some attacks leave a stuck coroutine


@pytest.fixture
def agents() -> Iterator[Callable[..., AsyncAgent]]:
    made: list[AsyncAgent] = []

    def build(model: Any, **kwargs: Any) -> AsyncAgent:
        kwargs.setdefault("verbosity_level", 0)
        kwargs.setdefault("tools", [])
        agent = create_async_agent(model=model if isinstance(model, ScriptedModel) else ScriptedModel(model),
                                   **kwargs)
        made.append(agent)
        return agent

    yield build
    for agent in made:
        agent.shutdown(wait=False)


@pytest.fixture
def asking(tm: TaskManager) -> Iterator[InputRequests]:
    """Tasks submitted from here can call request_input (as an AsyncAgent's tasks can)."""
    requests = InputRequests(tm)
    token = set_requests(requests)
    yield requests
    reset_requests(token)


# ====================================================================== the coroutine lane


async def _raises_system_exit() -> None:
    raise SystemExit(3)


async def _raises_keyboard_interrupt() -> None:
    raise KeyboardInterrupt


async def _swallows_its_cancellation() -> None:
    """Sleeps for ever, ignoring every cancellation."""
    while True:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            pass


async def _answer() -> int:
    return 42


@pytest.mark.parametrize("fn", [_raises_system_exit, _raises_keyboard_interrupt], ids=["SystemExit", "KeyboardInterrupt"])
def test_run_coroutine_of_a_coroutine_raising_a_base_exception_raises_it_and_the_loop_carries_on(tm, fn) -> None:
    outcome = bounded(lambda: tm.run_coroutine(fn, timeout=2))
    assert "hung" not in outcome, "run_coroutine never returned (its timeout was 2 s)"
    assert isinstance(outcome.get("error"), (SystemExit, KeyboardInterrupt))
    later = tm.submit(_answer)
    assert tm.result(later, timeout=5) == 42


def test_a_spawned_child_raising_keyboard_interrupt_does_not_kill_the_loop(tm) -> None:
    async def spawner() -> str:
        asyncio.get_running_loop().create_task(_raises_keyboard_interrupt())
        await asyncio.sleep(0.2)
        return "spawner done"

    t = tm.submit(spawner)
    assert tm.wait(t, timeout=5).done == {t}, f"the spawning task is still {tm.get(t).status.value}"
    later = tm.submit(_answer)
    assert tm.result(later, timeout=5) == 42


class _Result:
    """A result a test can hold a weak reference to."""


async def _make_result() -> _Result:
    return _Result()


def test_run_coroutine_does_not_keep_the_result_alive_through_a_long_lived_token(tm) -> None:
    token = CancelToken()
    result = tm.run_coroutine(_make_result, token=token)
    ref = weakref.ref(result)
    del result
    gc.collect()
    assert ref() is None, "the result is still referenced after the call returned"


def test_run_coroutine_refuses_an_un_awaited_coroutine_as_the_result(tm) -> None:
    async def inner() -> int:
        return 5

    async def outer() -> Any:
        return inner()

    with pytest.raises(TypeError, match="un-awaited coroutine"):
        tm.run_coroutine(outer)


def test_a_task_returning_an_un_awaited_coroutine_fails_clearly(tm) -> None:  # held
    async def inner() -> int:
        return 5

    async def outer() -> Any:
        return inner()

    t = tm.submit(outer)
    tm.wait(t, timeout=5)
    assert tm.get(t).status is TaskStatus.FAILED and "un-awaited coroutine" in tm.get(t).error.message


def test_run_coroutine_in_flight_at_shutdown_raises_shutdown_error() -> None:
    manager = TaskManager(max_workers=2)
    entered = threading.Event()

    async def forever() -> None:
        entered.set()
        await asyncio.Event().wait()

    caller: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: caller.update(bounded(lambda: manager.run_coroutine(forever), 10)))
    worker.start()
    assert entered.wait(5)
    manager.shutdown(wait=True)
    worker.join(10)
    assert isinstance(caller.get("error"), ShutdownError), caller


def test_run_coroutine_of_a_coroutine_swallowing_its_cancellation_ends_at_shutdown() -> None:
    manager = TaskManager(max_workers=2)
    entered = threading.Event()

    async def stubborn() -> None:
        entered.set()
        await _swallows_its_cancellation()

    caller: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: caller.update(bounded(lambda: manager.run_coroutine(stubborn), 20)))
    worker.start()
    assert entered.wait(5)
    manager.shutdown(wait=True)  # gives the loop's leftovers 5 s, then closes the loop
    worker.join(20)
    assert isinstance(caller.get("error"), ShutdownError), caller


def test_run_coroutine_returns_at_its_timeout_even_if_the_coroutine_swallows_the_cancellation(tm) -> None:
    outcome = bounded(lambda: tm.run_coroutine(_swallows_its_cancellation, timeout=0.2), seconds=6)
    assert "hung" not in outcome, "run_coroutine(timeout=0.2) did not return within 6 s"
    assert isinstance(outcome["error"], TimeoutError)


def test_run_coroutine_returns_when_its_token_fires_even_if_the_coroutine_swallows_the_cancellation(tm) -> None:
    token = CancelToken()
    threading.Timer(0.2, token.cancel, ("enough",)).start()
    outcome = bounded(lambda: tm.run_coroutine(_swallows_its_cancellation, token=token), seconds=6)
    assert "hung" not in outcome, "run_coroutine did not return within 6 s of its token firing"
    assert isinstance(outcome["error"], TaskCancelledError) and "enough" in str(outcome["error"])
    assert tm.result(tm.submit(_answer), timeout=5) == 42


def test_a_coroutine_task_swallowing_its_cancellation_times_out_at_once_in_its_record(tm) -> None:  # held
    async def stubborn() -> str:
        for _ in range(50):
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                pass
        return "late"

    t = tm.submit(stubborn, timeout=0.1)
    assert tm.wait(t, timeout=3).done == {t}
    assert tm.get(t).status is TaskStatus.TIMEOUT
    assert wait_until(lambda: tm.get_statistics()["abandoned_coroutines"] == 0)
    assert "late_result_discarded" in [e.kind for e in tm.get(t).events]


def test_deep_recursion_in_a_coroutine_fails_its_task_and_the_loop_carries_on(tm) -> None:  # held
    async def dive(n: int) -> int:
        return await dive(n + 1)

    t = tm.submit(dive, (0,))
    tm.wait(t, timeout=10)
    assert tm.get(t).status is TaskStatus.FAILED and "RecursionError" in str(tm.get(t).error)
    assert tm.result(tm.submit(_answer), timeout=5) == 42


@pytest.mark.parametrize("exc_type", [GeneratorExit, KeyboardInterrupt, SystemExit])
def test_a_coroutine_task_raising_a_base_exception_fails_and_current_task_is_its_own(tm, exc_type) -> None:  # held
    seen: list[Any] = []

    async def raises() -> None:
        from async_task_system import current_task

        seen.append(current_task().task_id)
        raise exc_type()

    t = tm.submit(raises)
    tm.wait(t, timeout=5)
    assert tm.get(t).status is TaskStatus.FAILED and seen == [t]
    assert tm.result(tm.submit(_answer), timeout=5) == 42


# ====================================================================== request_input


def _ask(timeout: Any) -> str:
    return request_input("Which year?", timeout=timeout)


@pytest.mark.parametrize("timeout", [2 * MAX_SECONDS, 1e10, 1e300, 10**400], ids=["2y", "1e10", "1e300", "10**400"])
def test_request_input_refuses_a_timeout_past_the_engines_limit_naming_it(tm, timeout) -> None:
    requests = InputRequests(tm)
    hold, token = threading.Event(), CancelToken()
    t = tm.submit(hold.wait, (10,))
    try:
        assert wait_until(lambda: tm.get(t).status is TaskStatus.RUNNING)
        outcome = bounded(lambda: requests.ask(t, "Which year?", timeout=timeout, token=token), 2)
        assert isinstance(outcome.get("error"), InvalidArgumentError), outcome
        assert "at most" in str(outcome["error"])
    finally:
        token.cancel()  # wakes a wait that was accepted
        hold.set()


@pytest.mark.parametrize("timeout", [math.nan, math.inf, -math.inf, -1, 0, True, "5"])
def test_request_input_refuses_nan_inf_negative_zero_and_non_numbers(tm, asking, timeout) -> None:  # held
    t = tm.submit(_ask, (timeout,))
    tm.wait(t, timeout=5)
    info = tm.get(t)
    assert info.status is TaskStatus.FAILED and "timeout must be a number of seconds > 0" in info.error.message


def test_a_huge_question_with_a_surrogate_is_kept_bounded_and_the_notice_encodes(tm, asking) -> None:  # held
    question = "Which \udfff year?" + "x" * 100_000_000
    t = tm.submit(lambda: request_input(question), timeout=10)
    assert wait_until(lambda: tm.get(t).status is TaskStatus.WAITING_FOR_INPUT)
    assert len(tm.get(t).question) == 10_000
    lines = asking.new_question_lines()
    assert len(lines) == 1 and len(lines[0]) < 1000
    lines[0].encode("utf-8")  # the lone surrogate arrives escaped
    assert asking.answer(t, "2024") and tm.result(t, timeout=5) == "2024"


def test_answered_twice_answered_after_cancel_and_asked_twice_at_once(tm, asking) -> None:  # held
    out: list[str] = []

    def twice() -> list[str]:
        def ask() -> None:
            try:
                out.append(request_input("which?", timeout=5))
            except Exception as exc:  # noqa: BLE001 - one of the two is refused
                out.append(type(exc).__name__)

        workers = [threading.Thread(target=contextvars.copy_context().run, args=(ask,)) for _ in range(2)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        return out

    t = tm.submit(twice, timeout=10)
    assert wait_until(lambda: tm.get(t).status is TaskStatus.WAITING_FOR_INPUT)
    assert wait_until(lambda: out == ["InvalidArgumentError"])  # the other one asked too, and was refused
    assert asking.answer(t, "first") and not asking.answer(t, "second")
    assert sorted(tm.result(t, timeout=5)) == ["InvalidArgumentError", "first"]

    c = tm.submit(lambda: request_input("still there?"))
    assert wait_until(lambda: tm.get(c).status is TaskStatus.WAITING_FOR_INPUT)
    assert tm.cancel(c)
    assert wait_until(lambda: not asking.is_open(c))
    assert not asking.answer(c, "too late")
    assert tm.get(c).status is TaskStatus.CANCELLED and tm.get(c).question is None
    stats = tm.get_statistics()
    assert stats["waiting_for_input"] == 0 and sum(stats[s.value] for s in TaskStatus) == stats["total"]


def test_request_input_from_a_plain_thread_a_task_started_says_why(tm, asking) -> None:  # held
    def from_thread() -> str:
        out: list[str] = []
        worker = threading.Thread(target=lambda: out.append(bounded(lambda: request_input("hi?"), 5)))
        worker.start()
        worker.join()
        return str(out[0].get("error"))

    assert "only inside a task an AsyncAgent runs" in tm.result(tm.submit(from_thread), timeout=10)


def test_shutdown_while_a_tool_waits_for_input_cancels_it_and_leaves_no_thread(agents) -> None:  # held
    @smolagents_tool
    def asks(topic: str) -> str:
        """Ask about a topic.

        Args:
            topic: the topic
        """
        return request_input(f"Which {topic}?")

    gate = threading.Event()

    def coordinator(messages: list[Any]) -> str:
        if len(messages) <= 3:
            return "t = submit_task('tool', 'asks', {'topic': 'year'})"
        gate.wait(10)
        return "final_answer('x')"

    agent = agents(coordinator, tools=[asks])
    runner = threading.Thread(target=lambda: bounded(lambda: agent.run("go"), 20))
    runner.start()
    tm = agent.task_manager
    assert wait_until(lambda: tm.get_statistics()["waiting_for_input"] == 1)
    outcome = bounded(agent.shutdown, 10)
    gate.set()
    runner.join(20)
    assert "hung" not in outcome
    info = tm.tasks()[-1]
    assert info.status is TaskStatus.CANCELLED and tm.get_statistics()["waiting_for_input"] == 0
    assert wait_until(lambda: not [t for t in threading.enumerate() if t.name.startswith("task-worker")], 5)


# ====================================================================== messages


def _listener(seen: list[str], started: threading.Event) -> CodeAgent:
    def script(messages: list[Any]) -> str:
        text = latest(messages)
        seen.append(text)
        started.set()
        if "New message" in text:
            return f"final_answer({text!r})"
        if len(messages) > 150:
            return "final_answer('no message came')"
        return "import time\ntime.sleep(0.05)"

    return CodeAgent(tools=[], model=ScriptedModel(script), name="listener", description="Listens.",
                     verbosity_level=0, additional_authorized_imports=["time"], max_steps=80)


def _held_coordinator(gate: threading.Event) -> Callable[[list[Any]], str]:
    def script(messages: list[Any]) -> str:
        if len(messages) <= 3:
            return "t = submit_task('agent', 'listener', {'task': 'work'})"
        gate.wait(20)
        return "print(wait_for_tasks([t]))\nfinal_answer(get_task_results([t])[t])"

    return script


class _UnprintableStr(str):
    """A str whose __str__ raises (as a hostile caller's text type might)."""

    def __str__(self) -> str:
        raise RuntimeError("no str for you")

    __repr__ = __str__


def test_a_message_of_a_str_subclass_with_a_broken_str_reaches_the_sub_agent(agents) -> None:
    seen: list[str] = []
    started, gate = threading.Event(), threading.Event()
    agent = agents(_held_coordinator(gate), managed_agents=[_listener(seen, started)])
    result: dict[str, Any] = {}
    runner = threading.Thread(target=lambda: result.update(bounded(lambda: agent.run("go"), 30)))
    runner.start()
    try:
        assert started.wait(10)
        task_id = agent.task_manager.tasks()[0].id
        reply = agent.send_message(task_id, _UnprintableStr("use the 2024 figures"))
        assert "Message queued" in reply
        assert wait_until(lambda: any("use the 2024 figures" in s for s in seen), 5), "the message never arrived"
    finally:
        gate.set()
        runner.join(30)


def _start_with_a_busy_listener(agents: Any, gate: threading.Event) -> tuple[Any, threading.Thread, threading.Event]:
    """A coordinator whose managed agent "listener" sits in its one and only step until ``gate`` opens
    (it never reads its box again); returns the agent, the thread running it, and "the listener started"."""
    started = threading.Event()

    def one_step(messages: list[Any]) -> str:
        started.set()
        gate.wait(20)
        return "final_answer('done')"

    listener = CodeAgent(tools=[], model=ScriptedModel(one_step), name="listener", description="Busy.",
                         verbosity_level=0)
    agent = agents(_held_coordinator(gate), managed_agents=[listener])
    runner = threading.Thread(target=lambda: bounded(lambda: agent.run("go"), 30))
    runner.start()
    return agent, runner, started


def test_messages_that_come_after_a_sub_agents_last_step_are_logged_as_never_read(agents) -> None:
    gate = threading.Event()
    agent, runner, started = _start_with_a_busy_listener(agents, gate)
    try:
        assert started.wait(10)
        task_id = agent.task_manager.tasks()[0].id
        agent.send_message(task_id, "one")
        agent.send_message(task_id, "two")
    finally:
        gate.set()
        runner.join(30)
    unread = [e for e in agent.task_manager.get(task_id).events if e.kind == "messages_unread"]
    assert len(unread) == 1 and "2 message(s)" in unread[0].reason
    assert agent.mailboxes.take(task_id) == []


def test_messages_for_a_pending_agent_task_that_is_cancelled_are_dropped(agents) -> None:
    gate = threading.Event()

    def blocker(messages: list[Any]) -> str:
        gate.wait(20)
        return "final_answer('done')"

    listener = CodeAgent(tools=[], model=ScriptedModel(blocker), name="listener", description="Busy.",
                         verbosity_level=0)
    agent = agents(["final_answer(1)"], managed_agents=[listener], max_workers=1)
    tm = agent.task_manager
    agent.run("go")  # the board exists; its tasks go through the same mailboxes
    hold = tm.submit(gate.wait, (20,))
    pending = tm.submit(lambda: None, metadata={"task_type": "agent"})
    try:
        assert "when it starts" in agent.send_message(pending, "for later")
        assert tm.cancel(pending)
        boxes = agent.mailboxes
        assert wait_until(lambda: pending not in boxes._boxes and pending not in boxes._watched)  # nothing stays
    finally:
        gate.set()
        tm.wait(hold, timeout=5)


def test_a_flood_of_messages_is_bounded_and_each_refusal_says_why(agents) -> None:  # held
    gate = threading.Event()
    agent, runner, started = _start_with_a_busy_listener(agents, gate)  # it reads nothing until the end
    try:
        assert started.wait(10)
        task_id = agent.task_manager.tasks()[0].id
        refused = 0
        for n in range(100_000):
            try:
                agent.send_message(task_id, f"message {n}")
            except InvalidArgumentError as exc:
                assert "unread messages" in str(exc)
                refused += 1
        assert refused == 100_000 - 100  # at most 100 wait in its box
        events = agent.task_manager.get(task_id).events
        assert sum(e.kind == "message" for e in events) == 100
    finally:
        gate.set()
        runner.join(30)


# ====================================================================== completion notices


def test_notices_over_ten_thousand_finished_tasks_stay_bounded(tm) -> None:  # held
    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    ids = [tm.submit(Broken) for _ in range(10_000)]
    tm.wait(ids, timeout=60)
    notices = CompletionNotices(tm, lambda: ids, max_notices=5)
    text = notices.drain()
    assert text is not None and len(text.splitlines()) == 1 + 5 + 2
    assert "- and 9995 more finished" in text and "<Broken instance at" in text
    assert notices.drain() is None  # each announced once


def test_notices_led_by_many_long_lines_keep_every_completion_and_fit_the_inbox(tm) -> None:
    asked: list[int] = []

    def questions(limit: int) -> list[str]:
        asked.append(limit)
        return [f"- q{n} is waiting for input: " + "which? " * 200 for n in range(limit)] + ["- and 40 more ask"]

    ids = [tm.submit(lambda n=n: n) for n in range(8)]
    tm.wait(ids, timeout=10)
    notices = CompletionNotices(tm, lambda: ids, max_notices=8, extra=questions)
    text = notices.drain()
    assert text is not None and len(text) <= 4000  # nothing the inbox would cut
    assert all(f"- {task_id} (task <lambda>) completed" in text for task_id in ids)
    assert 0 < asked[0] <= 8 and "- and 40 more ask" in text


@smolagents_tool
def ask_at_length(n: int) -> str:
    """Ask a long question.

    Args:
        n: which question
    """
    return request_input(f"Question {n}: " + "which of the many options should I take? " * 20)


@smolagents_tool
def quick(n: int) -> int:
    """Return n.

    Args:
        n: a number
    """
    return n


def test_a_completion_is_announced_even_when_many_tasks_ask_questions_at_once(agents) -> None:
    def coordinator(messages: list[Any]) -> str:
        if len(messages) <= 3:
            return ("asks = [submit_task('tool', 'ask_at_length', {'n': i}) for i in range(12)]\n"
                    "q = submit_task('tool', 'quick', {'n': 7})\nsleep(1.0)")
        return "final_answer('done')"

    agent = agents(coordinator, tools=[ask_at_length, quick], max_workers=16)
    agent.run("go")
    quick_id = agent.last_run.tasks[-1].id
    assert agent.last_run.tasks[-1].status is TaskStatus.COMPLETED
    prompt = "\n".join(message_text(m) for m in agent.model.received[-1])
    assert f"- {quick_id} (tool quick) completed" in prompt, "the model was never told the quick task completed"


# ====================================================================== arun, async with, the tool decorator


def test_cancelling_a_refused_concurrent_arun_leaves_the_running_one_alone(agents) -> None:
    gate, inside = threading.Event(), threading.Event()

    def coordinator(messages: list[Any]) -> str:
        if len(messages) <= 3:
            inside.set()
            gate.wait(10)
            return "x = 1"
        return "final_answer('first run finished')"

    agent = agents(coordinator)
    real_run, slow = agent.run, threading.Event()

    def slow_to_start(task: str, **kwargs: Any) -> Any:  # a loaded machine: the refused run's thread is slow
        if task == "second":
            slow.wait(5)
        return real_run(task, **kwargs)

    agent.run = slow_to_start

    async def main() -> Any:
        first = asyncio.create_task(agent.arun("first"))
        while not inside.is_set():
            await asyncio.sleep(0.01)
        second = asyncio.create_task(agent.arun("second"))
        await asyncio.sleep(0.05)
        second.cancel()
        slow.set()
        with pytest.raises(asyncio.CancelledError):
            await second
        gate.set()
        return await first

    assert asyncio.run(main()) == "first run finished"


def test_arun_cancelled_by_the_caller_cleans_up_and_leaves_no_run_thread(agents) -> None:  # held
    started = threading.Event()

    @async_tool
    async def hang(url: str) -> str:
        """Never answer.

        Args:
            url: the page
        """
        started.set()
        await asyncio.Event().wait()
        return url

    agent = agents(["t = submit_task('tool', 'hang', {'url': 'a'})\npage = hang('b')", "final_answer(1)"],
                   tools=[hang])

    async def main() -> None:
        run = asyncio.create_task(agent.arun("go"))
        while not started.is_set():
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run

    asyncio.run(main())
    info = agent.task_manager.tasks()[-1]
    assert info.status is TaskStatus.CANCELLED
    assert wait_until(lambda: not [t for t in threading.enumerate() if t.name == "agent-run"], 5)
    assert wait_until(lambda: agent.task_manager.get_statistics()["abandoned_coroutines"] == 0, 5)


@pytest.mark.parametrize("code_in_subprocess", [False, True], ids=["in-process", "subprocess"])
def test_the_model_writing_await_for_an_async_tool_is_told_to_call_it_without_await(agents,
                                                                                    code_in_subprocess) -> None:
    @async_tool
    async def fetch(url: str) -> str:
        """Fetch a page.

        Args:
            url: the page
        """
        return "page " + url

    agent = agents(["x = await fetch('a')", "final_answer('ok')"], tools=[fetch],
                   code_in_subprocess=code_in_subprocess)
    agent.run("go")
    told = last_observation(agent.model.received[1])
    assert "without await" in told and "write fetch('a') instead" in told, told


def test_the_tool_decorator_refuses_an_async_generator_saying_why() -> None:
    with pytest.raises((InvalidArgumentError, TypeError, ValueError), match="generator"):
        @async_tool
        async def pages(n: int) -> str:
            """Yield pages.

            Args:
                n: how many
            """
            yield "a"


def test_request_input_timeout_ends_the_wait_with_a_timeout_error(tm, asking) -> None:  # held
    t = tm.submit(_ask, (0.2,))
    tm.wait(t, timeout=5)
    info = tm.get(t)
    assert info.status is TaskStatus.FAILED and info.error.type == TaskTimeoutError.__name__
    assert [e.kind for e in info.events][-3:] == ["waiting_for_input", "input_received", "failed"]


def test_asking_many_times_on_one_token_leaves_no_callback_behind(tm) -> None:
    """Each question's wake-up callback goes when the ask ends, so a long-lived token holds none of them."""
    requests, token = InputRequests(tm), CancelToken()
    hold = threading.Event()
    t = tm.submit(hold.wait, (10,))
    try:
        assert wait_until(lambda: tm.get(t).status is TaskStatus.RUNNING)
        for n in range(50):
            answerer = threading.Timer(0.01, lambda n=n: requests.answer(t, f"answer {n}"))
            answerer.start()
            assert requests.ask(t, f"question {n}?", timeout=5, token=token) == f"answer {n}"
            answerer.join()
        assert not token._callbacks  # noqa: SLF001 - what a user would see as memory growth
    finally:
        hold.set()
