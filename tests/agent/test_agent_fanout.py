"""The model fans work out, waits, collects, handles a failure and cancels: scripted like a real model."""

from __future__ import annotations

from agent_helpers import BlockingWait, observations, slow_lookup

from async_task_system import TaskStatus
from async_task_system.testing import ScriptedModel


def test_fan_out_then_wait_runs_the_tasks_at_once_and_collects_every_result(make_agent) -> None:
    agent = make_agent([
        "ids = [submit_task('tool', 'slow_lookup', {'key': k}) for k in ['a', 'b', 'c', 'd']]\n"
        "print(wait_for_tasks(ids, max_wait_time=20))\n"
        "results = get_task_results(ids)\n"
        "print(results)",
        "final_answer([results[i] for i in ids])",
    ])

    answer = agent.run("Look up a, b, c and d.")

    assert answer == ["value-of-a", "value-of-b", "value-of-c", "value-of-d"]
    report = observations(agent)[0]
    assert "Waited" in report and "4 finished, 0 unfinished" in report
    assert "completed (4): t1 slow_lookup" in report
    summary = agent.last_run
    assert [info.id for info in summary.tasks] == ["t1", "t2", "t3", "t4"]
    assert all(info.status is TaskStatus.COMPLETED for info in summary.tasks)
    # They overlapped: every task started before the first one finished.
    first_end = min(info.finished_at for info in summary.tasks)
    assert all(info.started_at < first_end for info in summary.tasks)
    assert summary.model_calls == 2 and summary.steps == 2
    assert summary.sequential_time >= 4 * 0.3
    assert summary.final_answer == answer and summary.error is None
    text = summary.format()
    assert text.startswith("tasks: 4 (4 completed)\nwall time: ") and "the same tasks one after another: " in text
    assert all(info.metadata == {"task_type": "tool", "tool": "slow_lookup"} for info in summary.tasks)


def test_wait_any_returns_when_the_first_task_finishes_and_names_the_rest(make_agent) -> None:
    agent = make_agent([
        "fast = submit_task('tool', 'slow_lookup', {'key': 'fast', 'delay': 0.3})\n"
        "slow = submit_task('tool', 'long_job', {'seconds': 20})\n"
        "print(wait_for_tasks([fast, slow], max_wait_time=20, return_when='any'))",
        "final_answer(get_task_results([fast])[fast])",
    ], tools=[slow_lookup, BlockingWait()])

    answer = agent.run("Get whichever finishes first.")

    assert answer == "value-of-fast"
    report = observations(agent)[0]
    assert "1 finished, 1 unfinished" in report
    assert "completed (1): t1 slow_lookup" in report
    assert "running (1): t2 long_job running" in report
    # The unwaited long job was cancelled when the run ended (the default policy) and said so.
    assert agent.last_run.unfinished_at_end == ("t2",)
    assert agent.task_manager.get("t2").status is TaskStatus.CANCELLED


def test_a_failure_is_reported_with_its_error_and_a_resubmit_succeeds(make_agent) -> None:
    agent = make_agent([
        "t = submit_task('tool', 'flaky_fetch', {'url': 'http://broken.example'})\n"
        "print(wait_for_tasks([t]))\n"
        "r = get_task_results([t])[t]\n"
        "print(isinstance(r, NoResult), r)",
        "t2 = submit_task('tool', 'flaky_fetch', {'url': 'http://ok.example'})\n"
        "wait_for_tasks([t2])\n"
        "final_answer(get_task_results([t2])[t2])",
    ])

    answer = agent.run("Fetch the page; try the mirror if it fails.")

    assert answer == "<html>http://ok.example</html>"
    seen = observations(agent)[0]
    assert "failed (1): t1 flaky_fetch: ConnectionError: could not reach http://broken.example" in seen
    assert "True NoResult(t1 failed: ConnectionError: could not reach http://broken.example)" in seen
    assert [i.status for i in agent.last_run.tasks] == [TaskStatus.FAILED, TaskStatus.COMPLETED]


def test_cancel_stops_a_running_task_and_the_model_sees_what_happened(make_agent) -> None:
    job = BlockingWait()
    replies = [
        "t = submit_task('tool', 'long_job', {'seconds': 30})",
        "print(cancel_task(t))\n"
        "print(cancel_task(t))\n"
        "print(check_task(t))",
        "final_answer('cancelled')",
    ]

    def script(messages) -> str:  # changes its mind once the job runs
        index = len(model.received) - 1
        if index == 1:
            job.started.wait(10)
        return replies[index]

    model = ScriptedModel(script)
    agent = make_agent(model, tools=[job])

    agent.run("Start the long job, then change your mind.")

    seen = observations(agent)[1]
    assert "Cancelled t1 (it was running)." in seen
    assert "t1 had already ended (cancelled); nothing to cancel." in seen
    assert "t1 (tool long_job): cancelled after" in seen and "cancelled by the agent" in seen
    assert job.stopped_early.wait(5), "the job's cancel token was not cancelled"


def test_dependent_stages_take_earlier_results_through_placeholders(make_agent) -> None:
    agent = make_agent([
        "a = submit_task('tool', 'slow_lookup', {'key': 'x', 'delay': 0.05})\n"
        "b = submit_task('tool', 'slow_lookup', {'key': '$' + a, 'delay': 0.05})\n"
        "wait_for_tasks([b])\n"
        "final_answer(get_task_results([b])[b])",
    ])

    assert agent.run("Chain two lookups.") == "value-of-value-of-x"
    assert agent.task_manager.get("t2").depends_on == ("t1",)


def test_a_wait_without_ids_reports_every_task_of_the_run_including_early_failures(make_agent) -> None:
    agent = make_agent([
        "print(wait_for_tasks())\n"
        "bad = submit_task('tool', 'flaky_fetch', {'url': 'http://broken.example'})\n"
        "good = submit_task('tool', 'slow_lookup', {'key': 'g', 'delay': 0.2})\n"
        "wait_for_tasks([bad])\n"  # the failure has happened before the next wait
        "print(wait_for_tasks())",
        "final_answer('seen')",
    ])

    agent.run("Fetch and look up.")

    seen = observations(agent)[0]
    assert "No tasks to wait for: this run has submitted none yet." in seen
    assert "for 1 task (return_when='all'); this run's 2 tasks: 2 finished, 0 unfinished." in seen
    assert "failed (1): t1 flaky_fetch: ConnectionError" in seen
    assert "completed (1): t2 slow_lookup" in seen
