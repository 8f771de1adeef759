"""``SubprocessPythonExecutor``: model code in a child process; tools, answers and state as in-process;
a crash, a stop or a timeout ends the child at once and the next step gets a fresh one."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from smolagents.default_tools import FinalAnswerTool
from smolagents.local_python_executor import InterpreterError

from async_task_system.agent import SubprocessPythonExecutor
from async_task_system.testing import ScriptedModel

CALLS: list[tuple[str, int]] = []


def double(x: int) -> int:
    CALLS.append((os.getpid(), x))
    return x * 2


def refuse(x: object) -> None:
    raise ValueError(f"refused {x!r}")


@pytest.fixture
def executor():
    ex = SubprocessPythonExecutor(["time", "math"])
    ex.send_tools({"double": double, "refuse": refuse, "final_answer": FinalAnswerTool()})
    ex.send_variables({"given": 5})
    yield ex
    ex.cleanup()


def test_code_runs_in_another_process_and_its_tools_in_this_one(executor):
    CALLS.clear()
    result = executor("a = double(given)\nprint('a is', a)\na")
    assert (result.output, result.logs, result.is_final_answer) == (10, "a is 10\n", False)
    assert CALLS == [(os.getpid(), 5)]
    assert executor.pid not in (None, os.getpid())


def test_variables_persist_across_steps_and_final_answer_works(executor):
    executor("total = 0\nfor i in range(4):\n    total += double(i)")
    assert executor("total").output == 12
    result = executor("final_answer({'total': total, 'ok': True})")
    assert result.is_final_answer and result.output == {"total": 12, "ok": True}


def test_a_tool_error_reaches_the_code_with_its_type_and_message(executor):
    assert executor("try:\n    refuse(3)\nexcept ValueError as e:\n    caught = str(e)\ncaught").output == "refused 3"
    with pytest.raises(InterpreterError, match="ValueError: refused 'x'"):
        executor("refuse('x')")


def test_values_that_are_not_plain_data_do_not_cross(executor):
    with pytest.raises(InterpreterError, match="must be plain data"):
        executor("double(lambda: 1)")
    assert "function" in str(executor("def f():\n    return 1\nf").output)  # its repr, not the object


def test_a_killed_child_fails_the_step_readably_and_a_fresh_one_runs_the_next(executor):
    executor("kept = 1")
    first = executor.pid
    threading.Timer(0.5, lambda: os.kill(first, signal.SIGKILL)).start()
    with pytest.raises(InterpreterError, match="process exited.*variables are lost"):
        executor("import time\ntime.sleep(30)")
    with pytest.raises(InterpreterError, match="kept"):
        executor("kept")
    assert executor("double(given)").output == 10
    assert executor.pid != first and executor.children_started == 2


def test_stop_ends_a_sleeping_step_within_a_second(executor):
    executor("1")
    threading.Timer(0.5, executor.stop, args=("cancelled by the caller",)).start()
    start = time.monotonic()
    with pytest.raises(InterpreterError, match="cancelled by the caller"):
        executor("import time\ntime.sleep(40)")
    assert time.monotonic() - start < 5  # generous for a loaded machine; the benchmark has the figure


def test_timeout_seconds_ends_the_child():
    ex = SubprocessPythonExecutor(["time"], timeout_seconds=1)
    try:
        ex.send_tools({})
        ex.send_variables({})
        with pytest.raises(InterpreterError, match="longer than its limit of 1s"):
            ex("import time\ntime.sleep(30)")
        assert ex("2 + 2").output == 4
    finally:
        ex.cleanup()


def test_big_integers_in_the_child_leave_this_process_responsive(executor):
    ticks: list[float] = []
    done = threading.Event()

    def tick():
        while not done.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.01)

    ticker = threading.Thread(target=tick)
    ticker.start()
    try:
        assert executor("x = 7 ** 400000\ny = x * x\ny > x").output is True
    finally:
        done.set()
        ticker.join()
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    assert max(gaps) < 1.0, max(gaps)  # in-process the same code holds the GIL throughout


def test_cleanup_ends_the_child(executor):
    executor("1")
    pid = executor.pid
    executor.cleanup()
    with pytest.raises(ProcessLookupError):
        for _ in range(50):
            os.kill(pid, 0)
            time.sleep(0.1)


def test_the_child_does_not_inherit_the_environment(executor, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-for-the-child")
    executor.cleanup()
    executor("1")
    with open(f"/proc/{executor.pid}/environ", "rb") as env:
        assert b"sk-not-for-the-child" not in env.read()


def test_an_agent_built_with_code_in_subprocess_runs_and_answers():
    from async_task_system import create_async_agent

    model = ScriptedModel([
        "t = submit_task('tool', 'double_it', x=21)\nprint(wait_for_tasks(t))",
        "final_answer(get_task_results(t)[t])",
    ])
    with create_async_agent(tools=[_tool_double()], model=model, code_in_subprocess=True, verbosity_level=0) as agent:
        assert agent.run("Double 21") == 42
        assert isinstance(agent.agent.python_executor, SubprocessPythonExecutor)
        pid = agent.agent.python_executor.pid
    assert pid is not None


def test_a_run_timeout_ends_a_sleeping_step():
    from async_task_system import create_async_agent
    from async_task_system.errors import TaskTimeoutError

    model = ScriptedModel(["import time\ntime.sleep(40)", "final_answer('late')"])
    with create_async_agent(model=model, code_in_subprocess=True, verbosity_level=0,
                            additional_authorized_imports=["time"]) as agent:
        start = time.monotonic()
        with pytest.raises(TaskTimeoutError):
            agent.run("Sleep", timeout=3)
        assert time.monotonic() - start < 20


def _tool_double():
    from smolagents import tool

    @tool
    def double_it(x: int) -> int:
        """Double a number.

        Args:
            x: the number
        """
        return x * 2

    return double_it


class Unpicklable:
    def __reduce__(self):
        raise TypeError("no pickling")

    def __repr__(self):
        raise RuntimeError("broken repr")


def test_a_tool_result_that_neither_pickles_nor_reprs_crosses_as_a_note():
    ex = SubprocessPythonExecutor([])
    try:
        ex.send_tools({"odd": lambda: Unpicklable()})
        ex.send_variables({})
        assert ex("odd()").output == "<unrepresentable Unpicklable: RuntimeError>"
    finally:
        ex.cleanup()


def test_a_tool_raising_base_exception_ends_the_child_and_the_next_step_gets_a_fresh_one():
    def bail():
        raise KeyboardInterrupt

    ex = SubprocessPythonExecutor([])
    try:
        ex.send_tools({"bail": bail})
        ex.send_variables({})
        ex("kept = 1")
        with pytest.raises(KeyboardInterrupt):
            ex("bail()")
        assert ex("2 + 3").output == 5 and ex.children_started == 2
    finally:
        ex.cleanup()


def test_this_process_reads_only_plain_data_from_the_child():
    import pickle

    from async_task_system.agent._subprocess_executor import loads_plain

    assert loads_plain(pickle.dumps({"a": [1, 2.5, "x", b"y", {3}, (4,)], "n": None})) == \
        {"a": [1, 2.5, "x", b"y", {3}, (4,)], "n": None}
    with pytest.raises(pickle.UnpicklingError, match="posix.system is not plain data"):
        loads_plain(b"cposix\nsystem\n(S'true'\ntR.")


def test_stop_frees_a_step_stuck_in_a_tool_that_ignores_cancellation():
    release = threading.Event()

    def stubborn() -> str:
        release.wait(60)  # ignores every cancellation
        return "late"

    ex = SubprocessPythonExecutor([])
    try:
        ex.send_tools({"stubborn": stubborn})
        ex.send_variables({})
        ex("1")
        threading.Timer(0.5, ex.stop, args=("cancelled by the caller",)).start()
        start = time.monotonic()
        with pytest.raises(InterpreterError, match="cancelled by the caller"):
            ex("stubborn()")
        assert time.monotonic() - start < 10
        assert ex("3 * 3").output == 9  # a fresh child and a fresh tool thread
    finally:
        release.set()
        ex.cleanup()


def test_tools_called_by_the_code_see_the_callers_context():
    import contextvars

    request = contextvars.ContextVar("request", default="none")
    ex = SubprocessPythonExecutor([])
    try:
        ex.send_tools({"whose": lambda: request.get()})
        ex.send_variables({})
        token = request.set("request-7")
        try:
            assert ex("whose()").output == "request-7"
        finally:
            request.reset(token)
    finally:
        ex.cleanup()


def test_the_child_ends_when_its_parent_dies(tmp_path):
    """A host killed with -9 leaves no child behind, even one in the middle of a long sleep."""
    import subprocess
    import sys

    script = tmp_path / "host.py"
    script.write_text(
        "from async_task_system.agent import SubprocessPythonExecutor\n"
        "ex = SubprocessPythonExecutor(['time'])\nex.send_tools({})\nex.send_variables({})\n"
        "ex('1')\nprint(ex.pid, flush=True)\nex('import time\\ntime.sleep(60)')\n")
    host = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        child = int(host.stdout.readline())
        time.sleep(0.5)  # the child is in its sleep
        host.kill()
        host.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(child, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)  # polling another process: nothing to wait on
        raise AssertionError(f"child {child} outlived its parent")
    finally:
        host.kill()


def test_an_agent_built_on_one_thread_runs_its_code_from_another():
    from async_task_system import create_async_agent

    model = ScriptedModel(["x = 20", "final_answer(x + 1)"])
    made = []
    builder = threading.Thread(target=lambda: made.append(
        create_async_agent(model=model, code_in_subprocess=True, verbosity_level=0)))
    builder.start()
    builder.join()
    with made[0] as agent:
        assert agent.run("count") == 21
        assert agent.agent.python_executor.children_started == 1


@pytest.mark.parametrize("code, expected", [
    ("x = []\nfor _ in range(10000):\n    x = [x]\nx", "<a list that cannot be shown: RecursionError"),
    ("s = 'lone \\udfff and \\x00 control'\ns", "lone \udfff and \x00 control"),
    ("big = 'y' * 20_000_000\nlen(big)", 20_000_000),
])
def test_odd_values_cross_back_or_become_notes(executor, code, expected):
    output = executor(code).output
    assert output == expected or str(output).startswith(str(expected))
    assert executor("given").output == 5  # the same child goes on


def test_odd_values_reach_a_tool_intact_or_are_refused_readably(executor):
    assert executor("double('\\udfff')").output == "\udfff\udfff"
    with pytest.raises(InterpreterError, match="must be plain data"):
        executor("x = []\nfor _ in range(10000):\n    x = [x]\ndouble(x)")


def _tool_fail():
    from smolagents import tool

    @tool
    def fail_it(x: int) -> int:
        """Fail, naming the number.

        Args:
            x: the number
        """
        raise ValueError(f"no good {x}")

    return fail_it


def test_a_noresult_reaches_the_childs_code_as_noresult_and_comes_back_as_one():
    from async_task_system import create_async_agent
    from async_task_system.agent import NoResult

    model = ScriptedModel([
        "a = submit_task('tool', 'double_it', x=2)\nb = submit_task('tool', 'fail_it', x=3)\n"
        "wait_for_tasks([a, b])\nresults = get_task_results([a, b])\nr = results[b]\n"
        "seen = [isinstance(r, NoResult), isinstance(results[a], NoResult), bool(r), r.status, r['error'], "
        "'error' in r]\nprint(seen)",
        "final_answer({'seen': seen, 'results': results})",
    ])
    with create_async_agent(tools=[_tool_double(), _tool_fail()], model=model, code_in_subprocess=True,
                            verbosity_level=0) as agent:
        answer = agent.run("Double 2, fail 3")
    assert answer["seen"] == [True, False, False, "failed", "ValueError: no good 3", True]
    assert answer["results"] == {"t1": 4, "t2": NoResult("t2", "failed", "ValueError: no good 3")}
    assert isinstance(answer["results"]["t2"], NoResult)


@pytest.mark.parametrize("spelled", ["'$paris'", "'${paris}'", "'$' + paris", "f'${paris}'"])
def test_placeholders_read_the_childs_variables(spelled):
    """The agent layer reads '$paris' against the model's variables; in the child they reach it with
    each tool call (short strings only)."""
    from async_task_system import create_async_agent

    model = ScriptedModel([
        f"first = submit_task('tool', 'double_it', x=1)\nparis = submit_task('tool', 'double_it', x=5)\n"
        f"then = submit_task('tool', 'double_it', {{'x': {spelled}}})\nwait_for_tasks([paris, then])\n"
        f"final_answer(get_task_results(then)[then])",
    ])
    with create_async_agent(tools=[_tool_double()], model=model, code_in_subprocess=True, verbosity_level=0) as agent:
        assert agent.run("Double 5 twice") == 20


def test_this_process_reads_a_noresult_but_builds_nothing_else_of_the_library():
    import pickle

    from async_task_system.agent import NoResult, TaskResults
    from async_task_system.agent._subprocess_executor import loads_plain

    assert loads_plain(pickle.dumps([NoResult("t1", "failed", "boom")])) == [NoResult("t1", "failed", "boom")]
    with pytest.raises(pickle.UnpicklingError, match="is not plain data"):
        loads_plain(pickle.dumps(TaskResults({"t1": 1}, per_result=10, total=100)))


@pytest.mark.parametrize(("given", "kept"), [(None, None), (float("inf"), None), (2.5, 2.5), (10**400, 365 * 24 * 3600.0)])
def test_a_steps_timeout_is_none_or_positive_seconds(given, kept):
    assert SubprocessPythonExecutor([], timeout_seconds=given, start=False).timeout_seconds == kept


@pytest.mark.parametrize("given", [0, -1, float("nan"), True, "5"])
def test_a_steps_timeout_that_is_not_positive_seconds_is_refused(given):
    from async_task_system.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="timeout_seconds must be a number of seconds > 0 or None"):
        SubprocessPythonExecutor([], timeout_seconds=given, start=False)


def test_cancelling_a_nested_coordinator_ends_its_childs_sleeping_step():
    """An AsyncAgent with code_in_subprocess as a managed agent: cancelling its task kills its code's
    process at once, not after the step's 40 s sleep."""
    from smolagents import tool

    from async_task_system import create_async_agent

    asleep = threading.Event()
    inner_pids: list[int] = []

    @tool
    def falling_asleep() -> str:
        """Say the code is about to sleep."""
        asleep.set()
        return "ok"

    def researcher():
        inner = create_async_agent(
            tools=[falling_asleep], model=ScriptedModel(["falling_asleep()\nimport time\ntime.sleep(40)"] * 3),
            code_in_subprocess=True, additional_authorized_imports=["time"], name="researcher",
            description="Researches slowly.", verbosity_level=0)
        inner_pids.append(inner.agent.python_executor.pid)
        return inner

    def outer_script(messages) -> str:
        if len(outer_model.received) == 1:
            return "t = submit_task('agent', 'researcher', {'task': 'Oslo'})"
        assert asleep.wait(60)
        return "cancel_task(t)\nwait_for_tasks(t)\nfinal_answer(get_task_results(t)[t].status)"

    outer_model = ScriptedModel(outer_script)
    start = time.monotonic()
    with create_async_agent(model=outer_model, managed_agents=[researcher], verbosity_level=0) as outer:
        assert outer.run("Research, then change your mind.") == "cancelled"
    assert time.monotonic() - start < 35  # shut down, no worker left: not after the inner code's 40 s
    running = inner_pids[-1]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and os.path.exists(f"/proc/{running}") and \
            "Z" not in open(f"/proc/{running}/stat").read().split()[2]:
        time.sleep(0.05)  # an outside process: nothing to wait on
    assert not os.path.exists(f"/proc/{running}") or "Z" in open(f"/proc/{running}/stat").read().split()[2]
