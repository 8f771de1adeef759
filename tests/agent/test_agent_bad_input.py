"""Every bad call the model can make gets an error it can act on, in its next step; nothing is queued."""

from __future__ import annotations

import pytest
from agent_helpers import observations


def error_seen_by_model(make_agent, code: str, **kwargs) -> tuple[str, dict]:
    agent = make_agent([code, "final_answer('done')"], **kwargs)
    agent.run("Do the thing.")
    seen = observations(agent)[0]
    assert seen.startswith("Call id:") and "Error:\nCode execution failed at line" in seen, seen
    return seen, agent.task_manager.get_statistics()


SUBMIT_CASES = {
    "misspelt tool": (
        "submit_task('tool', 'slow_lookpu', {'key': 'a'})",
        "InvalidArgumentError: unknown tool 'slow_lookpu' (did you mean 'slow_lookup'?); "
        "tools: slow_lookup, flaky_fetch",
    ),
    "unknown managed agent": (
        "submit_task('agent', 'researcher', {'task': 'find x'})",
        "unknown managed agent 'researcher'; tools: slow_lookup, flaky_fetch",
    ),
    "bad task type": (
        "submit_task('function_call', 'slow_lookup', {'key': 'a'})",
        "task_type must be 'tool' or 'agent', got 'function_call'; tools: slow_lookup, flaky_fetch. "
        "Example: submit_task('tool', 'slow_lookup', {...})",
    ),
    "missing argument": (
        "submit_task('tool', 'slow_lookup', {'delay': 1})",
        "tool 'slow_lookup' needs argument 'key'; it takes: key: string, delay: number (optional). "
        "Example: submit_task('tool', 'slow_lookup', {'key': ...})",
    ),
    "unknown argument": (
        "submit_task('tool', 'slow_lookup', {'kye': 'a'})",
        "unknown argument 'kye' for tool 'slow_lookup' (did you mean 'key'?); "
        "it takes: key: string, delay: number (optional)",
    ),
    "unknown keyword argument": (
        "submit_task('tool', 'slow_lookup', key='a', retries=3)",
        "unknown argument 'retries' for tool 'slow_lookup'; it takes: key: string, delay: number (optional)",
    ),
    "argument given twice": (
        "submit_task('tool', 'slow_lookup', {'key': 'a'}, key='b')",
        "argument 'key' of slow_lookup was given twice, in args and as a keyword; give it once",
    ),
    "wrong argument type": (
        "submit_task('tool', 'slow_lookup', {'key': 'a', 'delay': 'soon'})",
        "argument 'delay' of slow_lookup must be number, got str 'soon'",
    ),
    "args as a list": (
        "submit_task('tool', 'slow_lookup', ['a', 1])",
        "the args of slow_lookup must be a dict of its arguments (key: string, delay: number (optional)), "
        "got list ['a', 1]",
    ),
    "args string that is not a dict": (
        "submit_task('tool', 'slow_lookup', '{key: a}')",
        "the args of slow_lookup look like a dict in a string but do not parse; pass a dict instead",
    ),
    "name that is not a string": (
        "submit_task('tool', 42, {'key': 'a'})",
        "the tool name must be a string naming one of them, got int 42; tools: slow_lookup, flaky_fetch",
    ),
    "priority that is not an int": (
        "submit_task('tool', 'slow_lookup', {'key': 'a'}, priority='high')",
        "priority must be an int (higher starts first), got 'high'",
    ),
    "zero timeout": (
        "submit_task('tool', 'slow_lookup', {'key': 'a'}, timeout=0)",
        "timeout must be a number of seconds > 0 and at most 31536000 (one year), got 0",
    ),
    "unknown dependency": (
        "submit_task('tool', 'slow_lookup', {'key': 'a'}, depends_on=['t7'])",
        "UnknownTaskError: unknown task id 't7'; no task was submitted in this run. Use the ids submit_task returned.",
    ),
}


@pytest.mark.parametrize("case", list(SUBMIT_CASES), ids=list(SUBMIT_CASES))
def test_a_bad_submit_is_refused_before_anything_is_queued(make_agent, case: str) -> None:
    code, expected = SUBMIT_CASES[case]
    seen, stats = error_seen_by_model(make_agent, code)
    assert expected in seen
    assert stats["total"] == 0


OTHER_CASES = {
    "unknown id to wait for": (
        "t = submit_task('tool', 'slow_lookup', {'key': 'a', 'delay': 0})\nwait_for_tasks(['t99'])",
        "UnknownTaskError: unknown task id 't99'; this run's tasks are ['t1']. Use the ids submit_task returned.",
    ),
    "bad return_when": (
        "t = submit_task('tool', 'slow_lookup', {'key': 'a', 'delay': 0})\nwait_for_tasks([t], return_when='some')",
        "return_when must be 'all' or 'any', got 'some'",
    ),
    "negative wait": (
        "t = submit_task('tool', 'slow_lookup', {'key': 'a', 'delay': 0})\nwait_for_tasks([t], max_wait_time=-5)",
        "max_wait_time must be a number of seconds >= 0, got -5",
    ),
    "id of the wrong type": (
        "check_task(1.5)",
        "a task id must be a string like 't1' (as returned by submit_task), got float 1.5",
    ),
    "ids as a dict": (
        "get_task_results({'first': 't1'})",
        "task_ids must be a list of task ids like ['t1', 't2'] (or one id), got dict {'first': 't1'}",
    ),
    "negative sleep": (
        "sleep(-1)",
        "seconds must be a number of seconds >= 0, got -1",
    ),
    "unknown status filter": (
        "list_tasks('doing')",
        "unknown status 'doing'; accepted: pending, waiting, running, waiting_for_input, completed, failed, timeout, cancelled, "
        "done, finished, unfinished",
    ),
    "cancel an unknown task": (
        "cancel_task('t5')",
        "unknown task id 't5'; no task was submitted in this run",
    ),
    "offset that is not a position": (
        "get_task_results(['t1'], offset=-3)",
        "offset must be an int >= 0 (a character position), got -3",
    ),
}


@pytest.mark.parametrize("case", list(OTHER_CASES), ids=list(OTHER_CASES))
def test_a_bad_call_of_the_other_tools_says_what_would_work(make_agent, case: str) -> None:
    code, expected = OTHER_CASES[case]
    seen, _ = error_seen_by_model(make_agent, code)
    assert expected in seen


def test_a_callable_that_is_not_one_of_its_tools_is_refused(make_agent) -> None:
    seen, stats = error_seen_by_model(make_agent, "submit_task('tool', len, {'obj': [1, 2]})")
    assert "the tool name must be a string naming one of them, got function" in seen
    assert "tools: slow_lookup, flaky_fetch" in seen
    assert stats["total"] == 0


def test_the_rest_of_the_code_block_is_skipped_and_the_run_goes_on(make_agent) -> None:
    agent = make_agent([
        "submit_task('tool', 'nope', {})\nprint('not reached')",
        "t = submit_task('tool', 'slow_lookup', {'key': 'z', 'delay': 0})\nwait_for_tasks(t)\n"
        "final_answer(get_task_results(t)[t])",
    ])
    assert agent.run("Recover from a typo.") == "value-of-z"
    assert "not reached" not in observations(agent)[0]
