"""Async tools: the ``tool`` decorator takes ``async def``; async tools run on the TaskManager's loop,
submitted in the background or called directly by the model's code."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from agent_helpers import observations
from smolagents import Tool
from smolagents import tool as smolagents_tool
from smolagents._function_type_hints_utils import DocstringParsingException, TypeHintParsingException

from async_task_system import TaskStatus
from async_task_system.agent import BlockingAsyncTool, is_async_tool, tool


@tool
async def lookup(key: str, delay: float = 0.05) -> str:
    """Look up a value by key, asynchronously.

    Args:
        key: what to look up
        delay: seconds it takes
    """
    await asyncio.sleep(delay)
    return f"{key}@{threading.current_thread().name}"


def sync_lookup(key: str, delay: float = 0.05) -> str:
    """Look up a value by key, asynchronously.

    Args:
        key: what to look up
        delay: seconds it takes
    """
    return key


class AsyncSearch(Tool):
    """A hand-written Tool subclass whose forward is async def."""

    name = "search"
    description = "Search the index."
    inputs = {"query": {"type": "string", "description": "what to search for"}}
    output_type = "array"

    def __init__(self) -> None:
        super().__init__()
        self.started = threading.Event()
        self.stopped = threading.Event()

    async def forward(self, query: str) -> list:
        self.started.set()
        try:
            if query == "hang":
                await asyncio.Event().wait()
            if query == "broken":
                raise ConnectionError("the index is down")
            await asyncio.sleep(0)
            return [query, threading.current_thread().name]
        finally:
            self.stopped.set()


def test_the_decorator_describes_an_async_function_as_smolagents_describes_the_same_sync_one():
    reference = smolagents_tool(sync_lookup)
    assert isinstance(lookup, Tool) and is_async_tool(lookup) and not is_async_tool(reference)
    assert (lookup.name, reference.name) == ("lookup", "sync_lookup")
    for attr in ("description", "inputs", "output_type"):
        assert getattr(lookup, attr) == getattr(reference, attr), attr
    assert lookup.to_code_prompt() == reference.to_code_prompt().replace("sync_lookup", "lookup")
    source = type(lookup).forward.__source__
    assert source.startswith("async def forward(self, key") and "await asyncio.sleep(delay)" in source


def test_a_decorated_async_tool_is_awaitable_in_async_code():
    async def main():
        return await lookup(key="k", delay=0)

    assert asyncio.run(main()) == "k@MainThread"


def test_the_decorator_hands_plain_functions_to_smolagents_unchanged():
    made = tool(sync_lookup)
    assert not is_async_tool(made)
    assert made(key="x") == "x"


def test_the_decorator_refuses_what_smolagents_refuses():
    async def no_return_hint(key: str):
        """Look up.

        Args:
            key: what to look up
        """

    async def undocumented(key: str) -> str:
        """Look up."""

    with pytest.raises(TypeHintParsingException, match="return type"):
        tool(no_return_hint)
    with pytest.raises(DocstringParsingException, match="key"):
        tool(undocumented)


def test_async_tools_submitted_in_the_background_run_on_the_event_loop(make_agent):
    agent = make_agent([
        "ids = [submit_task('tool', 'lookup', {'key': k}) for k in 'abcdefgh']\n"
        "print(wait_for_tasks(ids, max_wait_time=20))\n"
        "results = get_task_results(ids)",
        "final_answer([results[i] for i in ids])",
    ], tools=[lookup], max_workers=1)

    answer = agent.run("Look up a to h.")

    assert answer == [f"{k}@task-loop" for k in "abcdefgh"]
    assert "8 finished, 0 unfinished" in observations(agent)[0]
    first_end = min(info.finished_at for info in agent.last_run.tasks)
    assert all(info.started_at < first_end for info in agent.last_run.tasks)  # 8 at once on 1 thread slot


def test_the_model_calls_an_async_tool_directly_and_gets_its_result(make_agent):
    search = AsyncSearch()
    agent = make_agent([
        "a = lookup(key='direct')\nb = search('q')\nc = search({'query': 'as a dict'})",
        "final_answer([a, b, c])",
    ], tools=[lookup, search])

    assert agent.run("Call them.") == ["direct@task-loop", ["q", "task-loop"], ["as a dict", "task-loop"]]
    assert agent.task_manager.get_statistics()["total"] == 0  # direct calls are not tasks


def test_the_model_sees_the_same_signature_for_the_stand_in(make_agent):
    search = AsyncSearch()
    agent = make_agent(["final_answer(1)"], tools=[search])
    stand_in = agent.agent.tools["search"]
    assert isinstance(stand_in, BlockingAsyncTool) and stand_in.__wrapped__ is search
    assert type(stand_in).__name__ == "AsyncSearch"  # tool spans are named after the class
    assert stand_in.to_code_prompt() == search.to_code_prompt()


def test_the_tool_object_itself_can_be_submitted(make_agent):
    agent = make_agent([
        "t = submit_task('tool', search, {'query': 'by object'})\nprint(wait_for_tasks([t]))",
        "final_answer(get_task_results([t])[t])",
    ], tools=[AsyncSearch()])

    assert agent.run("Search.") == ["by object", "task-loop"]


def test_an_async_tool_that_raises_reports_its_error_to_the_model(make_agent):
    agent = make_agent([
        "t = submit_task('tool', 'search', {'query': 'broken'})\nprint(wait_for_tasks([t]))",
        "search('broken')",
        "final_answer('done')",
    ], tools=[AsyncSearch()])

    assert agent.run("Search.") == "done"
    report, direct = observations(agent)[:2]
    assert "ConnectionError" in report and "the index is down" in report
    assert "ConnectionError: the index is down" in direct


def test_cancel_task_stops_a_running_async_tool(make_agent):
    search = AsyncSearch()
    agent = make_agent([
        "t = submit_task('tool', 'search', {'query': 'hang'})\nsleep(0.2)\nprint(cancel_task(t))",
        "final_answer(check_task(t))",
    ], tools=[search])

    answer = agent.run("Start and cancel.")

    assert search.stopped.wait(10), "the coroutine's finally did not run"
    info = agent.last_run.tasks[0]
    assert info.status is TaskStatus.CANCELLED and "cancelled" in answer


def test_a_timeout_stops_an_async_tool(make_agent):
    search = AsyncSearch()
    agent = make_agent([
        "t = submit_task('tool', 'search', {'query': 'hang'}, timeout=0.2)\nprint(wait_for_tasks([t]))",
        "final_answer(check_task(t))",
    ], tools=[search])

    agent.run("Start it with a timeout.")

    assert search.stopped.wait(10)
    assert agent.last_run.tasks[0].status is TaskStatus.TIMEOUT


def test_cancel_calls_interrupts_a_direct_call_in_flight():
    from async_task_system import TaskCancelledError, TaskManager

    search = AsyncSearch()
    with TaskManager() as tm:
        stand_in = BlockingAsyncTool(search, tm)
        errors: list[BaseException] = []

        def call() -> None:
            try:
                stand_in(query="hang")
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        caller = threading.Thread(target=call)
        caller.start()
        assert search.started.wait(10)
        stand_in.cancel_calls("the run was cancelled")
        caller.join(10)
        assert search.stopped.wait(10)
        assert len(errors) == 1 and isinstance(errors[0], TaskCancelledError)
        assert stand_in(query="later") == ["later", "task-loop"]  # the next call runs


def test_the_async_fanout_example_fetches_100_records_at_once_over_real_http():
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    proc = subprocess.run([sys.executable, str(root / "examples" / "async_fanout.py")], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert out.rstrip().endswith("Answer: Fetched 100 items; total price 7425.0"), out
    served, peak = map(int, re.search(r"(\d+) requests, at most (\d+) in flight", out).groups())
    assert served == 100
    assert peak > 10  # fanned out, not one after another (100 when the machine is idle)
    threads = int(re.search(r"threads the agent started: (\d+)", out).group(1))
    assert threads < 10  # coroutines, not a thread per call


def test_in_the_background_an_async_tool_is_set_up_once_and_takes_one_dict_or_its_own_call():
    from async_task_system import TaskManager
    from async_task_system.agent import AsyncToolCall

    class Setup(AsyncSearch):
        setups = 0

        def setup(self) -> None:
            type(self).setups += 1
            self.is_initialized = True

    class OwnCall(AsyncSearch):
        def __call__(self, *args, **kwargs):
            return ["own __call__", *args]

    setup = Setup()
    setup.is_initialized = False
    with TaskManager() as tm:
        first = tm.submit(AsyncToolCall(setup), ({"query": "as a dict"},))
        second = tm.submit(AsyncToolCall(setup), kwargs={"query": "by keyword"})
        own = tm.submit(AsyncToolCall(OwnCall()), ("x",))
        assert tm.result(first, timeout=10) == ["as a dict", "task-loop"]
        assert tm.result(second, timeout=10) == ["by keyword", "task-loop"]
        assert tm.result(own, timeout=10) == ["own __call__", "x"]
    assert Setup.setups == 1


# ---------------------------------------------------------------- async tools in managed sub-agents' own code

def _worker_script(code: str):
    """A sub-agent's script: run ``code`` in its first step, then answer with ``str(v)``."""
    return lambda messages: code if len(messages) <= 3 else "final_answer(str(v))"


def _make_worker(tools, code: str, *, in_subprocess: bool = False):
    from smolagents import CodeAgent

    from async_task_system.agent import SubprocessPythonExecutor
    from async_task_system.testing import ScriptedModel

    def make():
        executor = {"executor": SubprocessPythonExecutor()} if in_subprocess else {}
        return CodeAgent(tools=tools, model=ScriptedModel(_worker_script(code)), name="worker",
                         description="Works with the lookup tools.", verbosity_level=-1, **executor)
    return make


@pytest.mark.parametrize("in_subprocess", [False, True], ids=["in-process", "code-in-subprocess"])
@pytest.mark.parametrize("how", ["as a task", "called directly"])
def test_a_managed_agent_calling_an_async_tool_gets_its_result_from_the_loop(make_agent, how, in_subprocess):
    worker = _make_worker([lookup, AsyncSearch()], "v = [lookup(key='sub'), search('q')]",
                          in_subprocess=in_subprocess)
    call = ("t = submit_task('agent', 'worker', {'task': 'go'})\nwait_for_tasks([t])\nr = get_task_results([t])[t]"
            if how == "as a task" else "r = worker(task='go')")
    agent = make_agent([call, "final_answer(r)"], tools=[], managed_agents=[worker])

    answer = agent.run("Have the worker look it up.")

    assert answer.endswith("['sub@task-loop', ['q', 'task-loop']]"), answer  # awaited, not a coroutine object


@pytest.mark.parametrize("in_subprocess", [False, True], ids=["in-process", "code-in-subprocess"])
def test_cancelling_a_managed_agent_task_cancels_the_async_tool_its_code_awaits(make_agent, in_subprocess):
    search = AsyncSearch()

    class UntilStarted(Tool):
        name, description, inputs, output_type = "until_started", "Wait for the search to start.", {}, "boolean"

        def forward(self) -> bool:
            return search.started.wait(30)

    worker = _make_worker([search], "v = search('hang')", in_subprocess=in_subprocess)
    agent = make_agent([
        "t = submit_task('agent', 'worker', {'task': 'go'})\nuntil_started()\nprint(cancel_task(t))",
        "final_answer(check_task(t))",
    ], tools=[UntilStarted()], managed_agents=[worker])

    answer = agent.run("Start the worker, then cancel it.")

    assert search.stopped.wait(10), "the coroutine's finally did not run"
    assert agent.last_run.tasks[0].status is TaskStatus.CANCELLED and "cancelled" in answer


def test_with_code_in_a_subprocess_the_coordinator_awaits_async_tools_on_the_loop(make_agent):
    agent = make_agent(["a = lookup(key='child')\nb = search({'query': 'dict'})", "final_answer([a, b])"],
                       tools=[lookup, AsyncSearch()], code_in_subprocess=True)

    assert agent.run("Call them.") == ["child@task-loop", ["dict", "task-loop"]]


def test_cancelling_arun_cancels_an_async_tool_that_code_in_a_subprocess_awaits(make_agent):
    search = AsyncSearch()
    agent = make_agent(["search('hang')", "final_answer('not reached')"], tools=[search], code_in_subprocess=True)

    async def main() -> None:
        run = asyncio.ensure_future(agent.arun("Search."))
        assert await asyncio.to_thread(search.started.wait, 30)
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run

    asyncio.run(main())
    assert search.stopped.wait(10), "the coroutine's finally did not run"


def test_a_stopped_subprocess_step_cancels_the_async_tool_call_it_left_running():
    from async_task_system import TaskManager
    from async_task_system.agent import SubprocessPythonExecutor
    from async_task_system.agent._async_tools import for_direct_calls

    search = AsyncSearch()
    with TaskManager() as tm:
        executor = SubprocessPythonExecutor()
        try:
            (stand_in,) = for_direct_calls([search], tm)
            executor.send_tools({"search": stand_in})
            threading.Thread(target=lambda: search.started.wait(30) and executor.stop("stopped by the test"),
                             daemon=True).start()
            with pytest.raises(Exception, match="stopped by the test"):
                executor("search('hang')")
        finally:
            executor.cleanup()
        assert search.stopped.wait(10), "the abandoned call's coroutine was not cancelled"


def test_a_sub_agent_given_to_a_second_agent_after_the_first_shut_down_runs_its_async_tools_there(make_agent):
    from smolagents import CodeAgent

    from async_task_system.testing import ScriptedModel

    worker = CodeAgent(tools=[lookup], model=ScriptedModel(_worker_script("v = lookup(key='again')")), name="worker",
                       description="Works with the lookup tool.", verbosity_level=-1)
    first = make_agent(["r = worker(task='go')", "final_answer(r)"], tools=[], managed_agents=[worker])
    assert first.run("Go.").endswith("again@task-loop")
    first.shutdown()
    second = make_agent(["t = submit_task('agent', 'worker', {'task': 'go'})\nwait_for_tasks([t])",
                         "r = worker(task='go')\nfinal_answer([get_task_results([t])[t], r])"],
                        tools=[], managed_agents=[worker])

    assert [a[-15:] for a in second.run("Go twice.")] == ["again@task-loop"] * 2
    assert worker.tools["lookup"].__wrapped__ is lookup


def make_remote_worker():
    """A factory (what travels to a Dask worker) of a sub-agent whose code calls an async tool."""
    return _make_worker([lookup], "v = lookup(key='remote')")()


def test_a_managed_agent_on_a_dask_worker_awaits_its_async_tools_on_a_loop_there(make_agent):
    distributed = pytest.importorskip("distributed")
    from async_task_system.executors import DaskExecutor

    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0") as c:
        agent = make_agent(["t = submit_task('agent', 'worker', {'task': 'go'})\nwait_for_tasks([t])",
                            "final_answer(get_task_results([t])[t])"],
                           tools=[], managed_agents=[make_remote_worker], executor=DaskExecutor(c.scheduler_address))
        answer = agent.run("Have the worker look it up on the cluster.")
        agent.shutdown()

    assert answer.endswith("remote@task-loop"), answer  # awaited there, not a coroutine object
