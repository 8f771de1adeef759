"""What returns into the model's context is bounded, with a note on how to get the rest."""

from __future__ import annotations

from agent_helpers import BlockingWait, big_text, observations, slow_lookup


def test_code_gets_a_long_text_result_whole_and_printing_the_results_shows_a_bounded_preview(make_agent) -> None:
    agent = make_agent([
        "t = submit_task('tool', 'big_text', {'size': 60000})\n"
        "wait_for_tasks([t])\n"
        "results = get_task_results([t])\n"
        "print(results)\n"
        "text = results[t]\n"
        "print(len(text), text[-5:])",
        "rest = get_task_results([t], offset=59990)[t]\n"
        "final_answer([len(text), rest])",
    ], tools=[big_text], max_result_chars=1000)

    answer = agent.run("Get the whole text.")

    assert answer == [60000, "0123456789"]
    seen = observations(agent)[0]
    assert "60000 56789" in seen  # the code had every character
    assert "[... 60000 characters in all]" in seen and "[preview only: your code has the whole values" in seen
    assert len(seen) < 1500


def test_the_full_result_still_travels_to_a_dependent_task(make_agent) -> None:
    agent = make_agent([
        "t = submit_task('tool', 'big_text', {'size': 5000})\n"
        "n = submit_task('tool', 'slow_lookup', {'key': '$' + t, 'delay': 0})\n"
        "wait_for_tasks([n])\n"
        "final_answer(len(get_task_results([n], offset=0)[n]))",
    ], tools=[big_text, slow_lookup], max_result_chars=100_000)

    assert agent.run("Pass it on.") == len("value-of-") + 5000


def test_structured_results_reach_the_code_intact(make_agent) -> None:
    from smolagents import tool

    @tool
    def rows(n: int) -> list:
        """Make n rows.

        Args:
            n: how many
        """
        return [{"i": i} for i in range(n)]

    agent = make_agent([
        "t = submit_task('tool', 'rows', {'n': 500})\nwait_for_tasks(t)\nfinal_answer(get_task_results(t)[t])",
    ], tools=[rows], max_result_chars=100)
    assert agent.run("Rows.") == [{"i": i} for i in range(500)]


def test_list_tasks_is_newest_first_and_bounded_with_a_note(make_agent) -> None:
    agent = make_agent([
        "ids = [submit_task('tool', 'slow_lookup', {'key': str(i), 'delay': 0}) for i in range(8)]\n"
        "wait_for_tasks(ids)\n"
        "print(list_tasks())\n"
        "print(list_tasks(status='failed'))\n"
        "print(list_tasks('finished', limit=2))",
        "final_answer('listed')",
    ], max_listed_tasks=3)

    agent.run("Make a few tasks and list them.")

    seen = observations(agent)[0]
    assert "8 tasks, newest first (showing 3; list_tasks(status=...) to filter):\n" \
           "t8 tool slow_lookup: completed in" in seen
    assert "t6 tool slow_lookup" in seen and "t5 tool slow_lookup" not in seen
    assert "No tasks with status 'failed'." in seen
    assert "8 tasks, newest first (showing 2;" in seen


def test_a_wait_longer_than_the_bound_is_cut_short_and_says_so(make_agent) -> None:
    agent = make_agent([
        "t = submit_task('tool', 'long_job', {'seconds': 30})\n"
        "print(wait_for_tasks([t], max_wait_time=120))\n"
        "print(sleep(60, reason='still waiting'))",
        "final_answer('moved on')",
    ], tools=[BlockingWait()], max_wait_seconds=0.3)

    agent.run("Wait for the long job.")

    seen = observations(agent)[0]
    assert "0 finished, 1 unfinished" in seen
    assert "running (1): t1 long_job running" in seen
    assert "Stopped at the 0.3s limit per call (you asked max_wait_time=120); the unfinished tasks keep " \
           "running: call wait_for_tasks again to keep waiting." in seen
    assert "(still waiting) (cut to the 0.3s limit per call)" in seen
    assert agent.last_run.wall_time < 20  # far below what was asked (120 s + 60 s)


def test_the_smolagents_executor_timeout_is_off_and_our_bound_is_used(make_agent) -> None:
    agent = make_agent(["final_answer(1)"])
    assert agent.agent.python_executor.timeout_seconds is None
    assert agent.board.limits.max_wait_seconds == 30.0
    capped = make_agent(["final_answer(1)"], executor_kwargs={"timeout_seconds": 10})
    assert capped.agent.python_executor.timeout_seconds == 10
    assert capped.board.limits.max_wait_seconds == 8.0


def test_a_huge_error_message_is_cut_too(make_agent) -> None:
    from smolagents import tool

    @tool
    def noisy() -> str:
        """Fails with a very long message."""
        raise RuntimeError("x" * 50_000)

    agent = make_agent([
        "t = submit_task('tool', 'noisy')\nwait_for_tasks(t)\nr = get_task_results(t)[t]\n"
        "print(len(r.error), r.error[-60:])\nprint(len(check_task(t)))\nprint(len(list_tasks()))",
        "final_answer('ok')",
    ], tools=[noisy], max_result_chars=1000)
    agent.run("Run the noisy tool.")
    lines = observations(agent)[0].split("Execution logs:\n")[1].splitlines()
    size, tail = lines[0].split(" ", 1)
    assert int(size) < 1100 and tail.endswith("[... cut: 49014 more characters; check_task('t1')]")
    assert int(lines[1]) < 700 and int(lines[2]) < 400


def test_a_tool_can_report_progress_for_check_task_to_show(make_agent) -> None:
    import threading

    from smolagents import tool

    from async_task_system.agent import report_progress

    reported, release = threading.Event(), threading.Event()

    @tool
    def crawl(pages: int) -> str:
        """Crawl some pages.

        Args:
            pages: how many
        """
        report_progress(f"page 3 of {pages}")
        reported.set()
        release.wait(10)
        return "crawled"

    replies = ["t = submit_task('tool', 'crawl', {'pages': 10})",
               "print(check_task(t))\nwait_for_tasks(t)\nprint(check_task(t))", "final_answer('ok')"]

    def script(messages) -> str:
        index = len(model.received) - 1
        if index == 1:
            reported.wait(10)
        if index == 2:
            release.set()
        return replies[index]

    from async_task_system.testing import ScriptedModel

    model = ScriptedModel(script)
    agent = make_agent(model, tools=[crawl], max_wait_seconds=0.2)
    try:
        agent.run("Crawl.")
    finally:
        release.set()
    seen = observations(agent)[1]
    assert "t1 (tool crawl): running for" in seen and "progress: page 3 of 10" in seen
    assert report_progress("outside any task") is False
