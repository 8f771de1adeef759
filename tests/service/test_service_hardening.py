"""Honest health, tokens, docs, body limits, whole floats and request deadlines, over real HTTP."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from argparse import Namespace
from pathlib import Path

import httpx
import pytest
from service_harness import TOKEN, free_port

from async_task_system.server import ServiceError, TaskClient, create_app
from async_task_system.server.cli import _read_token
from async_task_system.server.client import retry_delay

pytestmark = pytest.mark.slow
HERE = Path(__file__).parent


# ---------------------------------------------------------------- health


def test_health_is_503_with_retry_after_when_abandoned_threads_hold_every_worker(start_service, tmp_path):
    server = start_service(tmp_path / "stuck.db", SERVICE_MAX_WORKERS="1")  # 1 worker + 1 spare thread
    with server.client() as api:
        for _ in range(2):  # each times out, but its code sleeps on: an abandoned thread
            task = api.post("/tasks", json={"task_type": "stubborn", "parameters": {"seconds": 6},
                                            "timeout_seconds": 0.2}).json()
            assert api.get(f"/tasks/{task['id']}", params={"wait": 10}).json()["status"] == "timeout"
        health = api.get("/health")
        assert health.status_code == 503 and health.headers["retry-after"].isdigit()
        body = health.json()
        assert body["status"] == "stalled" and body["workers_available"] == 0 and body["abandoned_threads"] == 2
        assert "never returned" in body["problems"][0]
        waiting = api.post("/tasks", json={"task_type": "add", "parameters": {"a": 1, "b": 1}}).json()
        assert api.get(f"/tasks/{waiting['id']}", params={"wait": 20}).json()["result"] == 2  # once they return
        assert api.get("/health").json()["workers_available"] == 1


def test_queue_full_answers_503_with_retry_after_and_the_client_retries(start_service, tmp_path):
    server = start_service(tmp_path / "retry.db", SERVICE_MAX_WORKERS="1", SERVICE_MAX_UNFINISHED="1")
    with server.client() as api:
        api.post("/tasks", json={"task_type": "slow_echo", "parameters": {"text": "x", "seconds": 1.5}})
        refused = api.post("/tasks", json={"task_type": "add", "parameters": {"a": 1, "b": 1}})
        assert refused.status_code == 503 and refused.headers["retry-after"].isdigit()
        assert api.get("/health").headers["retry-after"].isdigit()
    with TaskClient(server.url, token=TOKEN, retries=4) as client:
        task = client.submit("add", {"a": 2, "b": 3})  # 503 while the slow task holds the queue, then 202
        assert client.wait(task["id"], timeout=20)["result"] == 5
        client.submit("slow_echo", {"text": "x", "seconds": 60})
    with TaskClient(server.url, token=TOKEN, retries=1) as client, pytest.raises(ServiceError) as caught:
        client.submit("add", {"a": 1, "b": 1})  # bounded: gives up after one retry
    assert caught.value.status_code == 503 and caught.value.body["error"] == "queue_full"


def test_retry_delays_follow_retry_after_and_are_capped():
    assert retry_delay("2", 0, 10) == 2 and retry_delay("3600", 0, 10) == 10
    assert [retry_delay(None, n, 3) for n in range(4)] == [0.5, 1, 2, 3]
    assert retry_delay("Wed, 21 Oct 2015 07:28:00 GMT", 1, 10) == 1 and retry_delay("-5", 0, 10) == 0
    assert retry_delay("nan", 0, 10) == 10


# ---------------------------------------------------------------- tokens and docs


@pytest.mark.parametrize(("token", "words"), [
    ("", "empty or blank"), ("   ", "empty or blank"), ("\n", "empty or blank"),
    ("short-token", "at least 16"), ("a token with spaces in it", "whitespace"),
])
def test_unusable_tokens_are_refused_at_start(tmp_path, token, words):
    with pytest.raises(ValueError, match=words):
        create_app([], token=token, db_path=str(tmp_path / "t.db"))


@pytest.mark.parametrize("limits", [{"retain_finished": -1}, {"retain_seconds": float("nan")},
                                    {"max_page_bytes": 0}, {"body_timeout_seconds": -1}, {"inline_result_bytes": "1"}])
def test_nonsense_limits_are_refused_naming_them(tmp_path, limits):
    with pytest.raises(ValueError, match=next(iter(limits))):
        create_app([], db_path=str(tmp_path / "l.db"), **limits)


def test_a_token_read_with_a_trailing_newline_works(start_service, tmp_path):
    server = start_service(tmp_path / "nl.db", token=TOKEN + "\n")
    with server.client(token=TOKEN) as api:
        assert api.get("/tasks").status_code == 200
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    assert _read_token(Namespace(token=None, token_file=str(token_file))) == TOKEN


def test_docs_need_the_token_beyond_loopback(tmp_path, monkeypatch):
    monkeypatch.delenv("ASYNC_AGENT_TOKEN", raising=False)
    app = create_app([], token=TOKEN, db_path=str(tmp_path / "docs.db"))

    async def ask(base_url: str, path: str, token: str | None) -> int:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url) as client:
            return (await client.get(path, headers=headers)).status_code

    try:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert asyncio.run(ask("http://10.1.2.3:8000", path, None)) == 401, path
            assert asyncio.run(ask("http://10.1.2.3:8000", path, TOKEN)) == 200, path
            assert asyncio.run(ask("http://127.0.0.1:8000", path, None)) == 200, path
    finally:
        app.state.service.close()


def test_docs_are_served_on_loopback(service):
    with service.client(token=None) as anonymous:
        assert anonymous.get("/docs").status_code == 200 and "swagger" in anonymous.get("/docs").text.lower()
        assert "submit_task" in anonymous.get("/openapi.json").text


# ---------------------------------------------------------------- bodies and numbers


def test_a_chunked_body_over_the_limit_gets_413(api):
    def chunks():
        for _ in range(12):
            yield b"[" + b"1," * 50_000 + b"1]"

    response = api.post("/tasks", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and "limited to 1000000 bytes" in response.json()["message"]


def test_whole_floats_are_accepted_for_integer_fields(api):
    response = api.post("/tasks", json={"task_type": "add", "parameters": {"a": 2.0, "b": 40.0}, "priority": 5.0})
    assert response.status_code == 202, response.text
    record = api.get(f"/tasks/{response.json()['id']}", params={"wait": 10}).json()
    assert record["priority"] == 5 and record["result"] == 42 and isinstance(record["result"], int)
    for body, field in (({"task_type": "add", "parameters": {"a": 2.5, "b": 1}}, "parameters.a"),
                        ({"task_type": "add", "parameters": {"a": 1, "b": 1}, "priority": 5.5}, "priority")):
        refused = api.post("/tasks", json=body)
        assert refused.status_code == 422 and refused.json()["field"] == field


# ---------------------------------------------------------------- stalled clients


def _read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_a_stalled_request_body_gets_408_and_the_connection_closes(start_service, tmp_path):
    server = start_service(tmp_path / "stall.db", SERVICE_BODY_TIMEOUT="1")
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(b"POST /tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Authorization: Bearer " + TOKEN.encode() + b"\r\nContent-Length: 100\r\n\r\n{\"task")
        answer = _read_until_closed(sock)  # the server answers and closes; a timeout here fails the test
    assert answer.startswith(b"HTTP/1.1 408") and b"did not arrive within 1 seconds" in answer


def test_the_cli_drops_connections_whose_headers_stall(tmp_path):
    port = free_port()
    env = {**os.environ, "ASYNC_AGENT_TOKEN": TOKEN, "PYTHONPATH": str(HERE), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    log = tmp_path / "cli.log"
    with log.open("wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "async_task_system.server.cli", "--port", str(port), "--db",
                                 str(tmp_path / "cli.db"), "--request-timeout", "1", "--log-level", "warning"],
                                env=env, stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)  # startup only
        with socket.create_connection(("127.0.0.1", port), timeout=20) as silent, \
                socket.create_connection(("127.0.0.1", port), timeout=20) as trickle:
            trickle.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
            assert _read_until_closed(silent) == b"" and _read_until_closed(trickle) == b""
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200  # others still served
    finally:
        proc.terminate()
        proc.wait(15)
    assert "Traceback" not in log.read_text()
