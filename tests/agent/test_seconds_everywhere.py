"""Every argument that is a number of seconds is checked by one function (``engine.check_seconds``):
the same refusals, naming the argument and what it accepts, at every entry point."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from async_task_system import CancelToken, TaskManager
from async_task_system.agent import SubprocessPythonExecutor
from async_task_system.agent._board import Limits, TaskBoard
from async_task_system.agent._input import InputRequests
from async_task_system.agent._registry import TaskRegistry
from async_task_system.errors import InvalidArgumentError
from async_task_system.testing import ScriptedModel


class BrokenRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")


def _not_a_number(text: str) -> bool:
    try:
        float(text.strip().rstrip("s"))
    except ValueError:
        return True
    return False


#: refused everywhere: not a number, NaN, negative
BAD = st.one_of(
    st.just(math.nan), st.just(-math.inf), st.booleans(),
    st.floats(max_value=-1e-9, allow_nan=False), st.integers(max_value=-1), st.just(-(10**400)),
    st.text(max_size=20).filter(_not_a_number), st.just("\udfff"), st.just("NaN s"),
    st.builds(BrokenRepr), st.lists(st.integers(), max_size=2), st.just(object()),
)
#: longer than a year: refused where a limit is set, "as long as allowed" where a wait is cut anyway
HUGE = st.one_of(st.just(math.inf), st.floats(min_value=365 * 24 * 3600 + 1, allow_infinity=False),
                 st.integers(min_value=365 * 24 * 3600 + 1), st.just(10**400))


async def _coroutine() -> None:
    return None


@pytest.fixture(scope="module")
def tm():
    with TaskManager(max_workers=1) as manager:
        manager.submit(print)  # t1: what the board's wait is asked to wait for
        yield manager


@pytest.fixture(scope="module")
def board(tm):
    return TaskBoard(tm, TaskRegistry([], []), Limits(max_wait_seconds=0.01))


@pytest.fixture(scope="module")
def agent():
    from async_task_system import create_async_agent

    made = create_async_agent(tools=[], model=ScriptedModel(["final_answer(1)"]), verbosity_level=-1)
    yield made
    made.shutdown()


def _strict(tm, agent):
    """Entry points that refuse more than a year: name -> call(value)."""
    return {
        "timeout": [
            lambda v: tm.submit(print, timeout=v),
            lambda v: tm.wait([], timeout=v),
            lambda v: tm.run_coroutine(_coroutine, timeout=v),
            lambda v: CancelToken().wait(v),
            lambda v: InputRequests(tm).ask("t1", "Which year?", timeout=v),
            lambda v: agent.run("go", timeout=v),
        ],
        "result_ttl": [lambda v: TaskManager(result_ttl=v)],
        "max_wait_seconds": [lambda v: Limits(max_wait_seconds=v)],
    }


def _capped(board):
    """Entry points where more than a year means "as long as allowed": name -> call(value)."""
    return {
        "max_wait_time": [lambda v: board.wait(["t1"], max_wait_time=v)],
        "seconds": [lambda v: board.sleep(v)],
        "timeout_seconds": [lambda v: SubprocessPythonExecutor([], timeout_seconds=v, start=False)],
    }


def _refused(call, value, name: str) -> str:
    with pytest.raises(InvalidArgumentError) as caught:
        call(value)
    message = str(caught.value)
    assert message.startswith(f"{name} must be a number of seconds "), message
    return message


@settings(max_examples=60, deadline=None)
@given(value=BAD)
def test_every_seconds_argument_refuses_what_is_not_a_non_negative_number_naming_itself(tm, board, agent, value):
    for name, calls in {**_strict(tm, agent), **_capped(board)}.items():
        for call in calls:
            _refused(call, value, name)


@settings(max_examples=30, deadline=None)
@given(value=HUGE)
def test_more_than_a_year_is_refused_naming_the_limit_where_it_is_a_limit(tm, agent, value):
    for name, calls in _strict(tm, agent).items():
        for call in calls:
            assert "at most 31536000 (one year)" in _refused(call, value, name)


@settings(max_examples=20, deadline=None)
@given(value=HUGE)
def test_more_than_a_year_means_as_long_as_allowed_where_a_wait_is_cut_anyway(tm, board, value):
    assert "Slept" in board.sleep(value)
    assert "Waited" in board.wait(["t1"], max_wait_time=value)
    kept = SubprocessPythonExecutor([], timeout_seconds=value, start=False).timeout_seconds
    assert kept == (None if value == math.inf else 365 * 24 * 3600.0)


def test_the_model_may_write_seconds_as_text(board):
    assert board.sleep("0.001s").startswith("Slept 0.0s")
    with pytest.raises(InvalidArgumentError, match="seconds must be a number of seconds >= 0, got str 'soon'"):
        board.sleep("soon")


@pytest.mark.parametrize("value", [0, -1, math.nan, "5", True])
def test_zero_is_refused_where_it_would_mean_no_time_at_all(tm, value):
    with pytest.raises(InvalidArgumentError, match="timeout must be a number of seconds > 0 and at most"):
        tm.submit(print, timeout=value)
    assert tm.wait([], timeout=0) == (set(), set())  # a wait of 0 s is a look


@pytest.mark.parametrize("value", [math.nan, -1, "30"])
def test_create_async_agent_checks_the_code_step_limit_with_the_same_rule(value):
    from async_task_system import create_async_agent

    with pytest.raises(InvalidArgumentError, match=r"^executor_kwargs\['timeout_seconds'\] must be a number of seconds"):
        create_async_agent(tools=[], model=ScriptedModel(["final_answer(1)"]), executor_kwargs={"timeout_seconds": value})


@pytest.mark.parametrize("value", [math.nan, 10**400, "30"])
def test_create_async_agent_checks_the_wait_bound_also_beside_a_step_limit(value):
    from async_task_system import create_async_agent

    with pytest.raises(InvalidArgumentError, match="^max_wait_seconds must be a number of seconds > 0 and at most"):
        create_async_agent(tools=[], model=ScriptedModel(["final_answer(1)"]), max_wait_seconds=value,
                           executor_kwargs={"timeout_seconds": 10})
