"""Live coordination: completion notices, messages to running sub-agents, progress upward."""

from __future__ import annotations

import re
import threading
import time

import pytest
from smolagents import CodeAgent, Tool

from async_task_system import TaskStatus
from async_task_system.agent._notices import NOTICE_HEADER
from async_task_system.errors import InvalidArgumentError, UnknownTaskError
from async_task_system.testing import ScriptedModel, last_observation, message_text


def all_text(messages) -> str:
    return "\n".join(message_text(m) for m in messages)


def latest(messages) -> str:
    """The last message the agent sent its model: an observation, or news (a notice, a message)."""
    return message_text(messages[-1]) if len(messages) > 2 else ""


def held_coordinator(submit: str, gate: threading.Event) -> ScriptedModel:
    """A coordinator that submits, then holds its next step until ``gate`` (the test acts meanwhile),
    then waits for the task and answers with its result."""

    def script(messages) -> str:
        if len(messages) <= 3:
            return f"t = {submit}"
        gate.wait(10)
        return "print(wait_for_tasks([t]))\nfinal_answer(get_task_results([t])[t])"

    return ScriptedModel(script)


def run_in_background(agent, task: str = "go") -> tuple[threading.Thread, dict]:
    result: dict = {}
    runner = threading.Thread(target=lambda: result.setdefault("answer", agent.run(task)))
    runner.start()
    return runner, result


def test_a_coordinator_that_keeps_working_sees_the_completion_notice_and_never_waits(make_agent) -> None:
    codes: list[str] = []

    def coordinator(messages) -> str:
        seen = latest(messages)
        if len(codes) == 0:
            code = "t = submit_task('tool', 'slow_lookup', {'key': 'a', 'delay': 0.2})\nprint(t)"
        elif NOTICE_HEADER in seen:
            code = "final_answer(get_task_results()[t])"
        elif len(codes) > 40:
            code = "final_answer('never told')"
        else:
            code = "import time\ntime.sleep(0.1)\nmine = 'my own work'"  # its own work, no polling
        codes.append(code)
        return code

    agent = make_agent(ScriptedModel(coordinator), additional_authorized_imports=["time"])
    assert agent.run("look up a while doing your own work") == "value-of-a"
    assert not any("wait_for_tasks" in c or "check_task" in c for c in codes)
    notice = next(latest(m) for m in agent.model.received if NOTICE_HEADER in latest(m))
    task_id = agent.last_run.tasks[0].id
    assert f"- {task_id} (tool slow_lookup) completed in" in notice and "'value-of-a'" in notice
    # each task is announced once: the notice is in exactly one InboxStep of the memory
    assert sum(1 for s in agent.memory.steps if type(s).__name__ == "InboxStep") == 1
    assert agent.last_run.agent_usage.model_calls == len(codes)  # no extra model step


def test_notices_are_bounded_say_how_many_more_and_name_failures(make_agent) -> None:
    def coordinator(messages) -> str:
        seen = latest(messages)
        if len(messages) <= 3:
            return ("bad = submit_task('tool', 'flaky_fetch', {'url': 'broken'})\n"
                    "ids = [submit_task('tool', 'slow_lookup', {'key': str(i), 'delay': 0.01}) for i in range(7)]\n"
                    "import time\ntime.sleep(0.5)")
        if NOTICE_HEADER in seen:
            return f"final_answer({seen!r})"
        return "import time\ntime.sleep(0.3)"

    agent = make_agent(ScriptedModel(coordinator), max_notices=3, additional_authorized_imports=["time"])
    notice = agent.run("many lookups")
    lines = notice.splitlines()
    assert lines[0] == NOTICE_HEADER
    assert sum(1 for line in lines if line.startswith("- t")) == 3
    assert any(re.fullmatch(r"- and 5 more finished: .*", line) for line in lines)
    assert re.search(r"- t1 \(tool flaky_fetch\) failed in [\d.]+s: ConnectionError: could not reach broken",
                     notice)


def test_notices_switched_off_never_reach_the_model(make_agent) -> None:
    def coordinator(messages) -> str:
        if len(messages) <= 3:
            return "t = submit_task('tool', 'slow_lookup', {'key': 'a', 'delay': 0.01})\nimport time\ntime.sleep(0.2)"
        if len(messages) <= 5:
            return "x = 1"
        return "final_answer('done')"

    agent = make_agent(ScriptedModel(coordinator), notices=False, additional_authorized_imports=["time"])
    agent.run("no notices")
    assert not any(NOTICE_HEADER in all_text(m) for m in agent.model.received)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "5"])
def test_max_notices_must_be_a_positive_int(make_agent, bad) -> None:
    with pytest.raises(InvalidArgumentError, match="max_notices"):
        make_agent(["final_answer(1)"], max_notices=bad)


def test_a_notice_source_that_raises_does_not_stop_the_agent(make_agent) -> None:
    agent = make_agent(["t = submit_task('tool', 'slow_lookup', {'key': 'a', 'delay': 0.01})",
                        "import time\ntime.sleep(0.2)", "final_answer('fine')"],
                       additional_authorized_imports=["time"])

    def broken() -> str:
        raise RuntimeError("broken notices")

    agent.notices.drain = broken  # the hook holds the bound method: replace what it calls
    assert agent.run("go") == "fine"


# ------------------------------------------------------------------ messages to a running sub-agent

def make_listener(started: threading.Event, log: list[str]) -> CodeAgent:
    """A sub-agent that works step after step until a message arrives, then answers with it."""

    def script(messages) -> str:
        text = latest(messages)
        log.append(text)
        started.set()
        if "New message from the agent that gave you this task" in text:
            said = text.rsplit("\n", 1)[1]
            return f"final_answer('changed my answer: ' + {said!r})"
        if len(messages) > 200:
            return "final_answer('no message came')"
        return "import time\ntime.sleep(0.05)\nanswer = 'original'"

    return CodeAgent(tools=[], model=ScriptedModel(script), name="listener",
                     description="Works until told otherwise.", verbosity_level=0,
                     additional_authorized_imports=["time"], max_steps=100)


def test_a_running_sub_agent_changes_its_answer_when_a_message_arrives(make_agent) -> None:
    started, log = threading.Event(), []
    agent = make_agent(["t = submit_task('agent', 'listener', {'task': 'work on it'})\n"
                        "import time\nwhile 'progress' not in check_task(t):\n    time.sleep(0.02)\n"
                        "print(send_message(t, 'use 2024 figures'))",
                        "print(wait_for_tasks([t]))\nr = get_task_results([t])[t]",
                        "final_answer(r)"],
                       tools=[], managed_agents=[make_listener(started, log)],
                       additional_authorized_imports=["time"])
    answer = agent.run("steer the listener")
    assert answer.endswith("changed my answer: use 2024 figures")
    task_id = agent.last_run.tasks[0].id
    observed = agent.model.received[1]
    assert f"Message queued for {task_id} (listener)" in latest(observed)
    events = agent.task_manager.get(task_id).events
    assert [e.reason for e in events if e.kind == "message"] == ["use 2024 figures"]


def test_a_message_from_python_reaches_the_sub_agent(make_agent) -> None:
    started, log = threading.Event(), []
    gate = threading.Event()
    agent = make_agent(held_coordinator("submit_task('agent', 'listener', {'task': 'work'})", gate), tools=[],
                       managed_agents=[make_listener(started, log)])
    runner, result = run_in_background(agent)
    assert started.wait(10)
    task_id = agent.task_manager.tasks()[0].id
    reply = agent.send_message(task_id, "stop and say hi")
    gate.set()
    runner.join(20)
    assert "reads it at the start of its next step" in reply
    assert result["answer"].endswith("changed my answer: stop and say hi")


def test_messages_to_a_tool_task_a_finished_task_or_an_unknown_id_say_why(make_agent) -> None:
    started, log = threading.Event(), []
    agent = make_agent(["t = submit_task('tool', 'slow_lookup', {'key': 'a', 'delay': 0.3})", "final_answer(1)"],
                       tools=None, managed_agents=[make_listener(started, log)], unfinished_tasks="keep")
    agent.run("go")
    tool_task = agent.task_manager.tasks()[0].id
    with pytest.raises(InvalidArgumentError, match="is a tool task .*only managed agents read messages"):
        agent.send_message(tool_task, "hello")
    agent.task_manager.cancel(tool_task)
    with pytest.raises(InvalidArgumentError, match="is a tool task"):
        agent.send_message(tool_task, "hello")
    with pytest.raises(UnknownTaskError, match="unknown task id 't999'"):
        agent.send_message("t999", "hello")
    with pytest.raises(InvalidArgumentError, match="message is empty"):
        agent.send_message(tool_task, "   ")
    with pytest.raises(InvalidArgumentError, match="unpaired surrogate"):
        agent.send_message(tool_task, "a\udfffb")
    with pytest.raises(InvalidArgumentError, match="at most 20000"):
        agent.send_message(tool_task, "x" * 20_001)


def test_a_message_to_a_finished_agent_task_is_refused(make_agent) -> None:
    from test_agent_managed import make_squarer

    agent = make_agent(["t = submit_task('agent', 'squarer', {'task': 'the square of 3'})\n"
                        "print(wait_for_tasks([t]))", "send_message(t, 'too late')", "final_answer('ok')"],
                       tools=[], managed_agents=[make_squarer()])
    agent.run("go")
    told = latest(agent.model.received[2])
    assert "t1 (squarer) already ended (completed); a message reaches only an agent task" in told


def test_sub_agent_progress_shows_its_step_and_thought_in_check_task_and_list_tasks(make_agent) -> None:
    go = threading.Event()

    def worker(messages) -> str:
        if len(messages) <= 3:
            return "Thought: first I read the sources\n<code>x = 1</code>"
        if len(messages) <= 5:
            return "<code>report_progress('3 of 5 sources read')</code>"
        go.wait(10)
        return "final_answer('done')"

    sub = CodeAgent(tools=[], model=ScriptedModel(worker), name="reader", description="Reads sources.",
                    verbosity_level=0)
    agent = make_agent([
        "t = submit_task('agent', 'reader', {'task': 'read'})\nimport time\n"
        "while 'sources read' not in check_task(t):\n    time.sleep(0.02)\n"
        "c = check_task(t)\nl = list_tasks()\nprint(c)",
        "print(wait_for_tasks([t]))", "final_answer([c, l])"],
        tools=[], managed_agents=[sub], additional_authorized_imports=["time"])

    threads = threading.Thread(target=lambda: (time.sleep(0.5), go.set()))
    threads.start()
    check, listing = agent.run("read with progress")
    threads.join()
    assert "reader finished step" in check and "3 of 5 sources read" in check
    assert "progress: reader finished step" in listing
    assert agent.task_manager.tasks()[0].status is TaskStatus.COMPLETED


def test_first_step_thought_shows_as_progress(make_agent) -> None:
    from async_task_system.agent._live import thought_of

    class Step:
        model_output = "Thought: I will read the file first.\n<code>x=1</code>"

    assert thought_of(Step()) == "I will read the file first."
    Step.model_output = None
    assert thought_of(Step()) == ""


# ------------------------------------------------------------------ a task asks for input

from smolagents import tool  # noqa: E402

from async_task_system.agent import request_input  # noqa: E402


@tool
def write_report(topic: str) -> str:
    """Write a report; asks which year to cover.

    Args:
        topic: what the report is about
    """
    year = request_input(f"Which year should the {topic} report cover?")
    return f"{topic} report for {year}"


def test_a_tool_asks_a_question_and_the_coordinator_answers_it_from_its_notices(make_agent) -> None:
    checks: list[str] = []

    def coordinator(messages) -> str:
        news = latest(messages)
        if len(messages) <= 3:
            return "t = submit_task('tool', 'write_report', {'topic': 'sales'})"
        if "is waiting for input" in news:
            return "print(check_task(t))\nprint(send_message(t, '2024'))"
        if "completed" in news and NOTICE_HEADER in news:
            return "final_answer(get_task_results()[t])"
        if "Observation" in news and "waiting for input" in news:
            checks.append(news)
        return "import time\ntime.sleep(0.05)"

    agent = make_agent(ScriptedModel(coordinator), tools=[write_report], additional_authorized_imports=["time"])
    assert agent.run("write the sales report") == "sales report for 2024"
    texts = [latest(m) for m in agent.model.received]
    asked = next(t for t in texts if "is waiting for input" in t)
    assert "t1 (tool write_report) is waiting for input: 'Which year should the sales report cover?'" in asked
    told = next(t for t in texts if "Answered the question of t1" in t)
    assert "t1 (tool write_report): waiting for input: 'Which year should the sales report cover?'" in told
    kinds = [e.kind for e in agent.task_manager.get("t1").events]
    assert kinds == ["pending", "running", "waiting_for_input", "message", "input_received", "completed"]


def test_a_human_answers_a_waiting_tool_from_python(make_agent) -> None:
    gate = threading.Event()
    agent = make_agent(held_coordinator("submit_task('tool', 'write_report', {'topic': 'costs'})", gate),
                       tools=[write_report])
    runner, result = run_in_background(agent)
    deadline = time.monotonic() + 10
    while agent.task_manager.get_statistics()["waiting_for_input"] == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    info = agent.task_manager.tasks(status="waiting_for_input")[0]
    assert info.status is TaskStatus.WAITING_FOR_INPUT and "costs report" in info.question
    assert "Answered the question of t1" in agent.answer(info.id, "2023")
    gate.set()
    runner.join(20)
    assert result["answer"] == "costs report for 2023"
    with pytest.raises(InvalidArgumentError, match="is not waiting for input .*completed"):
        agent.answer(info.id, "again")


def test_an_unanswered_question_times_out_with_the_task_and_frees_its_thread(make_agent) -> None:
    agent = make_agent(["t = submit_task('tool', 'write_report', {'topic': 'x'}, timeout=0.3)\n"
                        "while 'timeout' not in check_task(t):\n    sleep(0.05)", "final_answer(check_task(t))"],
                       tools=[write_report])
    said = agent.run("go")
    assert "timeout" in said
    tm = agent.task_manager
    deadline = time.monotonic() + 5
    while tm.get_statistics()["abandoned_threads"] and time.monotonic() < deadline:
        time.sleep(0.01)
    stats = tm.get_statistics()
    assert stats["abandoned_threads"] == 0 and stats["waiting_for_input"] == 0
    info = tm.get("t1")
    assert info.status is TaskStatus.TIMEOUT and info.question is None
    kinds = [e.kind for e in info.events]  # the wait woke at the timeout and the thread came back
    assert kinds[-3:] == ["waiting_for_input", "timeout", "late_result_discarded"]


def test_request_input_outside_an_agent_task_says_why() -> None:
    with pytest.raises(RuntimeError, match="only inside a task an AsyncAgent runs"):
        request_input("anyone?")


def test_a_sub_agent_asks_with_its_request_input_tool_and_gets_the_answer(make_agent) -> None:
    def worker(messages) -> str:
        if len(messages) <= 3:
            return "year = request_input('Which year?')\nprint(year)"
        return "final_answer('covering ' + year)"

    sub = CodeAgent(tools=[], model=ScriptedModel(worker), name="analyst", description="Analyses a year.",
                    verbosity_level=0)

    def coordinator(messages) -> str:
        news = latest(messages)
        if len(messages) <= 3:
            return "t = submit_task('agent', 'analyst', {'task': 'analyse'})"
        if "(agent analyst) is waiting for input: 'Which year?'" in news:
            return "send_message(t, '1999')"
        if NOTICE_HEADER in news and "completed" in news:
            return "final_answer(get_task_results()[t])"
        return "import time\ntime.sleep(0.05)"

    agent = make_agent(ScriptedModel(coordinator), tools=[], managed_agents=[sub],
                       additional_authorized_imports=["time"])
    assert agent.run("analyse a year").endswith("covering 1999")


def test_wait_for_tasks_returns_when_a_task_asks_so_the_model_can_answer(make_agent) -> None:
    agent = make_agent(["t = submit_task('tool', 'write_report', {'topic': 'q'})\n"
                        "print(wait_for_tasks([t], max_wait_time=20))",
                        "send_message(t, '2020')\nprint(wait_for_tasks([t], max_wait_time=20))",
                        "final_answer(get_task_results()[t])"], tools=[write_report])
    assert agent.run("go") == "q report for 2020"

    first = last_observation(agent.model.received[1])  # the wait report (a notice follows it)
    assert "waiting_for_input (1): t1 write_report waiting for input: 'Which year should the q report cover?'" \
        in first and "A task waits for your answer: send_message" in first
    assert "Stopped at" not in first  # back because of the question, not the 20 s bound


def test_wait_for_tasks_is_woken_by_the_question_itself_not_by_polling(make_agent) -> None:
    gate, looks = threading.Event(), []

    class GatedReport(Tool):
        name, description, output_type = "gated_report", "Asks a question once the test opens the gate.", "string"
        inputs = {"topic": {"type": "string", "description": "what about"}}

        def forward(self, topic: str) -> str:
            gate.wait(30)
            return f"{topic} for " + request_input("Which year?")

    agent = make_agent(["t = submit_task('tool', 'gated_report', {'topic': 'q'})\n"
                        "print(wait_for_tasks([t], max_wait_time=25))",
                        "send_message(t, '2021')\nprint(wait_for_tasks([t], max_wait_time=25))",
                        "final_answer(get_task_results()[t])"], tools=[GatedReport()])
    asking = agent.board.asking
    agent.board.asking = lambda tid: looks.append(tid) or asking(tid)  # counts how often a wait looks
    runner, result = run_in_background(agent)
    deadline = time.monotonic() + 20
    while not looks and time.monotonic() < deadline:  # the first wait has looked once and sleeps
        time.sleep(0.01)
    time.sleep(0.5)  # a 0.1 s poll would look about five more times meanwhile
    assert len(looks) == 1, f"the wait looked {len(looks)} times before anything happened"
    gate.set()
    runner.join(30)

    assert result["answer"] == "q for 2021"
    report = last_observation(agent.model.received[1])
    assert "waiting_for_input (1): t1 gated_report waiting for input: 'Which year?'" in report
    assert "Stopped at" not in report  # woken by the question, not at the 25 s bound
    kinds = [e.kind for e in agent.task_manager.get("t1").events]
    assert kinds == ["pending", "running", "waiting_for_input", "message", "input_received", "completed"]


def test_an_on_question_callback_that_raises_does_not_lose_the_question(make_agent) -> None:
    agent = make_agent(["t = submit_task('tool', 'write_report', {'topic': 'x'})\nprint(wait_for_tasks([t]))",
                        "send_message(t, '1990')\nprint(wait_for_tasks([t]))",
                        "final_answer(get_task_results()[t])"], tools=[write_report])
    def exits(task_id: str) -> None:
        raise SystemExit("a listener that raises BaseException")

    agent.questions.on_question(lambda task_id: 1 / 0)
    agent.questions.on_question(exits)

    assert agent.run("go") == "x report for 1990"
    assert "waiting for input: 'Which year should the x report cover?'" in last_observation(agent.model.received[1])


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from async_task_system.agent._messages import Mailboxes  # noqa: E402
from async_task_system.agent._messages import message_text as checked_message  # noqa: E402


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.text(), st.integers(), st.none(), st.binary()), max_size=8))
def test_every_message_is_kept_whole_in_order_or_refused_saying_why(messages) -> None:
    boxes = Mailboxes()
    kept = []
    for message in messages:
        try:
            text = checked_message(message)
        except InvalidArgumentError as exc:
            assert "message" in str(exc)
            continue
        boxes.post("t1", text)
        kept.append(message)
    assert boxes.take("t1") == kept and boxes.take("t1") == []
    drained = Mailboxes()
    for text in kept:
        drained.post("t2", text)
    news = drained.drain_for("t2")
    assert (news is None) == (not kept)
    assert all(text in news for text in kept) if kept else True


class Broken:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")

    __str__ = __repr__


@tool
def make_broken(size: int) -> object:
    """Returns something that cannot be printed, or a huge text.

    Args:
        size: 0 for the unprintable object, else the length of the text
    """
    return Broken() if size == 0 else "\x00\udfff" + "x" * size


def test_notices_stay_short_for_unprintable_and_huge_results(make_agent) -> None:
    def coordinator(messages) -> str:
        news = latest(messages)
        if len(messages) <= 3:
            return ("a = submit_task('tool', 'make_broken', {'size': 0})\n"
                    "b = submit_task('tool', 'make_broken', {'size': 10_000_000})\nimport time\ntime.sleep(0.5)")
        if NOTICE_HEADER in news:
            return f"final_answer({news!r})"
        return "import time\ntime.sleep(0.1)"

    agent = make_agent(ScriptedModel(coordinator), tools=[make_broken], additional_authorized_imports=["time"])
    notice = agent.run("go")
    assert "(tool make_broken) completed in" in notice and "<Broken instance at" in notice
    notice.encode("utf-8")  # the control character and the lone surrogate arrive escaped
    assert "[... 10000002 characters in all]" in notice and len(notice) < 1000


from async_task_system.agent import tool as async_tool  # noqa: E402


@async_tool
async def ask_from_a_coroutine(topic: str) -> str:
    """An async tool that (wrongly) asks a blocking question.

    Args:
        topic: what to ask about
    """
    return request_input(f"Which {topic}?")


def test_request_input_in_a_coroutine_task_fails_saying_why_instead_of_stalling_the_loop(make_agent) -> None:
    agent = make_agent(ScriptedModel([
        "t = submit_task('tool', 'ask_from_a_coroutine', {'topic': 'year'})\nprint(wait_for_tasks([t]))",
        "final_answer(check_task(t))",
    ]), tools=[ask_from_a_coroutine])
    answer = agent.run("go")
    info = agent.task_manager.get("t1")
    assert info.status is TaskStatus.FAILED
    assert "cannot run inside a coroutine task" in info.error.message
    assert "failed" in answer


def test_a_second_wait_on_a_shown_question_waits_for_someone_to_answer_it(make_agent) -> None:
    """The first wait returns with the question; a model that waits again without answering (a person
    answers at the CLI or over HTTP) is not sent back at once each time: it waits for the answer."""
    agent = make_agent(["t = submit_task('tool', 'write_report', {'topic': 'sales'})\n"
                        "print(wait_for_tasks([t], max_wait_time=25))",
                        "print(wait_for_tasks([t], max_wait_time=25))",
                        "final_answer(get_task_results()[t])"], tools=[write_report])
    runner, result = run_in_background(agent)
    deadline = time.monotonic() + 20
    while len(agent.model.received) < 2 and time.monotonic() < deadline:  # the second wait has begun
        time.sleep(0.01)
    time.sleep(0.3)
    assert len(agent.model.received) == 2, "the second wait returned without an answer"
    assert agent.answer("t1", "2019")
    runner.join(30)

    assert result["answer"] == "sales report for 2019"
    first, second = (last_observation(m) for m in agent.model.received[1:3])
    assert "waiting_for_input (1)" in first and "A task waits for your answer" in first
    assert "completed (1)" in second and "Stopped at" not in second
