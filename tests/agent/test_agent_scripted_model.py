"""``async_task_system.testing.ScriptedModel``: offline agent tests for users."""

from __future__ import annotations

import threading
import time

import pytest
from smolagents import CodeAgent, ToolCallingAgent
from smolagents.models import (
    ChatMessage,
    ChatMessageToolCall,
    ChatMessageToolCallFunction,
    MessageRole,
)

from async_task_system.testing import (
    ScriptedModel,
    ScriptExhaustedError,
    last_observation,
    task_text,
)


def test_replies_play_in_order_as_code_and_the_agent_sees_their_output() -> None:
    model = ScriptedModel(["x = 6 * 7\nprint('x is', x)", "final_answer(x)"], token_usage=(10, 2))
    agent = CodeAgent(tools=[], model=model, verbosity_level=-1)

    assert agent.run("Multiply.") == 42
    assert model.calls == 2
    assert "x is 42" in last_observation(model.received[1])
    assert task_text(model.received[0]).endswith("Multiply.")
    assert agent.monitor.get_total_token_counts().dict() == {"input_tokens": 20, "output_tokens": 4, "total_tokens": 24}


def test_running_out_of_replies_is_a_clear_error() -> None:
    model = ScriptedModel(["x = 1"])
    agent = CodeAgent(tools=[], model=model, verbosity_level=-1)
    with pytest.raises(Exception) as raised:
        agent.run("Go on forever.")
    assert isinstance(raised.value.__cause__, ScriptExhaustedError)
    assert "ScriptedModel has 1 replies and was asked for reply 2" in str(raised.value.__cause__)


def test_a_function_script_reacts_to_what_the_agent_observed_and_estimates_tokens() -> None:
    def script(messages) -> str:
        seen = last_observation(messages)
        return "print(2 + 2)" if not seen else f"final_answer({seen.split('Execution logs:')[1].split()[0]!r})"

    model = ScriptedModel(script)
    agent = CodeAgent(tools=[], model=model, verbosity_level=-1)
    assert agent.run("Add.") == "4"
    usage = model.received  # the estimate grows with what the model was sent
    first, second = (sum(len(str(m.content)) for m in msgs) for msgs in usage)
    assert second > first
    steps = [s for s in agent.memory.steps if getattr(s, "token_usage", None)]
    assert steps[1].token_usage.input_tokens > steps[0].token_usage.input_tokens > 100


def test_a_delay_stands_in_for_model_latency_and_calls_are_counted_across_threads() -> None:
    model = ScriptedModel(lambda messages: "final_answer(1)", delay=0.2)
    start = time.monotonic()
    threads = [threading.Thread(target=model.generate, args=([],)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert model.calls == 4
    assert time.monotonic() - start >= 0.2


def test_a_chat_message_reply_drives_a_tool_calling_agent() -> None:
    call = ChatMessageToolCall(id="c1", type="function",
                               function=ChatMessageToolCallFunction(name="final_answer", arguments={"answer": "hi"}))
    model = ScriptedModel([ChatMessage(role=MessageRole.ASSISTANT, content="", tool_calls=[call])])
    agent = ToolCallingAgent(tools=[], model=model, verbosity_level=-1)
    assert agent.run("Say hi.") == "hi"


@pytest.mark.parametrize("bad, match", [
    ("final_answer(1)", "replies must be a list of replies"),
    (["x"], None),
])
def test_bad_scripts_are_refused(bad, match) -> None:
    if match is None:
        with pytest.raises(ValueError, match="delay must be a number of seconds >= 0"):
            ScriptedModel(bad, delay=-1)
        with pytest.raises(ValueError, match="token_usage must be 'estimate'"):
            ScriptedModel(bad, token_usage="lots")
    else:
        with pytest.raises(TypeError, match=match):
            ScriptedModel(bad)
