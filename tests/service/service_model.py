"""Scripted models for the service test server: the code a real model would write, no API.

The run model reads the prompt: ``add A B, echo TEXT`` (an echo that takes ``seconds``
when the prompt says ``slowly``). Step 1 submits both as background tasks and waits;
step 2 answers with what they returned. ``run code:\n<code>`` runs that code, then answers
``str(result)``. Stateless, so one model serves every run.
"""

from __future__ import annotations

import re

from smolagents import CodeAgent

from async_task_system.testing import ScriptedModel, last_observation, message_text, task_text


def _user_message(messages) -> str | None:
    """The latest message sent to the agent while it ran (``New message ...:`` then the text), or None."""
    for message in reversed(messages):
        text = message_text(message)
        if text.startswith("New message from"):
            return text.split("\n", 1)[1]
    return None


def _run_reply(messages) -> str:
    prompt = task_text(messages)
    if "listen for a message" in prompt:  # waits (0.2 s steps) until a message arrives, then answers with it
        told = _user_message(messages)
        return f"final_answer({told!r})" if told is not None else 'sleep(0.2, "waiting for a message")'
    if "run code:\n" in prompt:  # what a prompt-injected model would write, verbatim
        if not last_observation(messages):
            return prompt.split("run code:\n", 1)[1]
        return "final_answer(str(result))"
    if not last_observation(messages):
        match = re.search(r"add (\d+) (\d+), echo (\w+)", prompt)
        if match is None:  # anything else (schemathesis sends random prompts): answer at once
            return "final_answer('I can only add and echo')"
        a, b, text = match.groups()
        seconds = 4.0 if "slowly" in prompt else 0.2
        return (f't1 = submit_task("tool", "add", {{"a": {a}, "b": {b}}})\n'
                f't2 = submit_task("tool", "slow_echo", {{"text": "{text}", "seconds": {seconds}}})\n'
                f'wait_for_tasks([t1, t2], max_wait_time=20)\n'
                f'results = get_task_results([t1, t2])\n'
                f'print(results)')
    return 'final_answer({"sum": results[t1], "echo": results[t2]})'


def build_model() -> ScriptedModel:
    return ScriptedModel(_run_reply, token_usage=(100, 20))


def build_analyst() -> CodeAgent:
    """A managed agent that writes a one-line report on the ``topic`` it is given."""
    model = ScriptedModel(lambda messages: 'final_answer("report on " + topic)', token_usage=(50, 10))
    return CodeAgent(tools=[], model=model, name="analyst", verbosity_level=0,
                     description="Writes a short report on a topic (additional_args: topic).")


def build_listener() -> CodeAgent:
    """A managed agent that waits (0.2 s steps) until a message arrives, then answers with it."""
    def reply(messages) -> str:
        told = _user_message(messages)
        return f"final_answer({told!r})" if told is not None else "import time\ntime.sleep(0.2)"

    return CodeAgent(tools=[], model=ScriptedModel(reply), name="listener", verbosity_level=0, max_steps=100,
                     additional_authorized_imports=["time"],
                     description="Waits until it is sent a message, then answers with it.")
