"""Why the agent turns smolagents' executor timeout off: the caller's context reaches the tasks."""

from __future__ import annotations

import contextvars

from smolagents import tool

REQUEST = contextvars.ContextVar("request", default="(no context)")


@tool
def whose_request() -> str:
    """Say which request this task runs for."""
    return REQUEST.get()


SCRIPT = ["t = submit_task('tool', 'whose_request')\nwait_for_tasks(t)\nfinal_answer(get_task_results(t)[t])"]


def test_a_task_sees_the_context_the_run_was_started_in(make_agent) -> None:
    agent = make_agent(SCRIPT, tools=[whose_request])
    token = REQUEST.set("request-42")  # e.g. an OpenTelemetry span, a user id
    try:
        assert agent.run("Whose request is this?") == "request-42"
    finally:
        REQUEST.reset(token)


def test_with_the_smolagents_timeout_on_the_code_runs_on_a_thread_without_it(make_agent) -> None:
    from smolagents.local_python_executor import LocalPythonExecutor

    agent = make_agent(SCRIPT, tools=[whose_request],
                       python_executor=LocalPythonExecutor([], timeout_seconds=30))
    token = REQUEST.set("request-42")
    try:
        assert agent.run("Whose request is this?") == "(no context)"
    finally:
        REQUEST.reset(token)


def test_the_sandboxed_executor_keeps_the_context_also_with_a_timeout(make_agent) -> None:
    agent = make_agent(SCRIPT, tools=[whose_request], executor_kwargs={"timeout_seconds": 30})
    token = REQUEST.set("request-42")
    try:
        assert agent.run("Whose request is this?") == "request-42"
    finally:
        REQUEST.reset(token)
