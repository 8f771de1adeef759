"""The LiteLLM path over real HTTP: an AsyncAgent on ``smolagents.LiteLLMModel`` talks to a local
OpenAI-compatible endpoint (uvicorn + FastAPI on 127.0.0.1) that answers with the code a model writes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from async_task_system import create_async_agent
from async_task_system.agent import GUIDANCE
from async_task_system.demo import SOURCES, merge, scenario, source_records

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
fastapi = pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")

API_KEY = "test-not-a-secret"
PROMPT_TOKENS = 1200
COMPLETION_TOKENS = 80


class ChatEndpoint:
    """An OpenAI-compatible ``/chat/completions`` endpoint that replies with scripted messages,
    reports usage, and records every request it gets."""

    def __init__(self, replies: list[str]) -> None:
        self.replies = list(replies)
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        app = fastapi.FastAPI()
        app.post("/chat/completions")(self._complete)
        app.post("/v1/chat/completions")(self._complete)
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True)

    async def _complete(self, request: fastapi.Request) -> dict[str, Any]:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        index = len(self.requests) - 1
        content = self.replies[index] if index < len(self.replies) else "final_answer('out of script')"
        return {
            "id": f"chatcmpl-{index}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "scripted"),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": COMPLETION_TOKENS,
                      "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS},
        }

    def __enter__(self) -> ChatEndpoint:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the local chat endpoint did not start within 10 s")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._socket.close()


def _system_prompt(request: dict[str, Any]) -> str:
    message = request["messages"][0]
    assert message["role"] == "system"
    content = message["content"]
    return content if isinstance(content, str) else "".join(part.get("text", "") for part in content)


@pytest.fixture
def gather_endpoint() -> Iterator[ChatEndpoint]:
    with ChatEndpoint(list(scenario("gather").steps)) as endpoint:
        yield endpoint


@pytest.mark.slow
def test_litellm_model_fans_out_over_http_and_answers(gather_endpoint: ChatEndpoint) -> None:
    from smolagents import LiteLLMModel

    gather = scenario("gather")
    model = LiteLLMModel(model_id="openai/scripted-gpt", api_base=gather_endpoint.url, api_key=API_KEY)
    with create_async_agent(tools=gather.tools(delay=0.2), model=model, max_workers=4) as agent:
        answer = agent.run_with_async_guidance(gather.task)
        tasks = agent.task_manager.tasks()
        run = agent.last_run

    expected = merge([source_records(s) for s in SOURCES])
    totals = ", ".join(f"{region} {value}" for region, value in expected["totals"].items())
    assert answer == f"Merged 4 sources. Totals: {totals}. Top region: {expected['top_region']}."

    # The endpoint got one request per model step, with the key and the tools and guidance in the prompt.
    assert len(gather_endpoint.requests) == 2
    first = gather_endpoint.requests[0]
    assert first["model"] == "scripted-gpt"
    assert gather_endpoint.headers[0]["authorization"] == f"Bearer {API_KEY}"
    system = _system_prompt(first)
    for name in ("submit_task", "wait_for_tasks", "get_task_results", "fetch_source", "merge_datasets"):
        assert name in system
    assert GUIDANCE in system  # run_with_async_guidance put the guidance into the system prompt
    assert gather.task in str(first["messages"])
    # The second request carries what the first step printed: the wait report.
    assert "merge_datasets" in str(gather_endpoint.requests[1]["messages"][-1])

    # The model's code fanned out five tasks that all completed; the merge ran after the fetches.
    by_name = sorted(t.name for t in tasks)
    assert by_name == ["fetch_source"] * 4 + ["merge_datasets"]
    assert all(t.status == "completed" for t in tasks)
    merge_task = next(t for t in tasks if t.name == "merge_datasets")
    assert all(t.finished_at <= merge_task.started_at for t in tasks if t.name == "fetch_source")

    # Token usage reported by the endpoint is what the run counts.
    assert run.model_calls == 2
    assert run.input_tokens == 2 * PROMPT_TOKENS
    assert run.output_tokens == 2 * COMPLETION_TOKENS


@pytest.mark.slow
def test_cli_run_uses_the_model_named_by_flags(gather_endpoint: ChatEndpoint, tmp_path: Path) -> None:
    gather = scenario("gather")
    command = Path(sys.executable).parent / "async-agent"
    env = {k: v for k, v in os.environ.items() if k not in ("MODEL_ID", "API_KEY", "BASE_URL")}
    env.update(LITELLM_LOCAL_MODEL_COST_MAP="True", COLUMNS="160")
    proc = subprocess.run(
        [str(command), "run", gather.task, "--model-id", "openai/scripted-gpt", "--api-base", gather_endpoint.url,
         "--api-key", API_KEY, "--delay", "0.2", "--quiet"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr[-3000:] + out[-3000:]
    assert "Model: openai/scripted-gpt via LiteLLM" in out and "scripted demo model" not in out
    assert len(gather_endpoint.requests) == 2
    assert gather_endpoint.headers[0]["authorization"] == f"Bearer {API_KEY}"
    assert f"Top region: {merge([source_records(s) for s in SOURCES])['top_region']}." in out
    assert f"{2 * PROMPT_TOKENS} / {2 * COMPLETION_TOKENS}" in out  # the summary counts the endpoint's usage
    assert API_KEY not in out + proc.stderr
