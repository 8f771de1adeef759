"""`async-agent serve` (async_task_system.server.cli:main): safe defaults, operator-chosen tools."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from service_harness import free_port

from async_task_system.server.cli import main

HERE = Path(__file__).parent


def test_refuses_to_listen_beyond_loopback_without_a_token(monkeypatch, capsys):
    monkeypatch.delenv("ASYNC_AGENT_TOKEN", raising=False)
    assert main(["--host", "0.0.0.0", "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert "refusing to listen on 0.0.0.0 without a token" in err and "ASYNC_AGENT_TOKEN" in err


def test_an_empty_token_is_refused(monkeypatch, capsys):
    assert main(["--token", "", "--port", "1"]) == 2
    assert "the token is empty" in capsys.readouterr().err


@pytest.mark.parametrize(("spec", "words"), [
    ("no_colon", "takes MODULE:ATTR"),
    ("no_such_module_xyz:TOOLS", "cannot import 'no_such_module_xyz'"),
    ("json:NO_SUCH_ATTR", "has no attribute 'NO_SUCH_ATTR'"),
])
def test_bad_tool_specs_are_refused_with_the_reason(spec, words, capsys):
    assert main(["--tools", spec, "--port", "1"]) == 2
    assert words in capsys.readouterr().err


CLI_TOKEN = "cli-token-0123456789abcdef"


@contextlib.contextmanager
def serving(tmp_path: Path, *args: str) -> Iterator[str]:
    """``async-agent serve --tools service_app:TOOLS ARGS`` in a real process; yields its URL once it answers."""
    port = free_port()
    env = {**os.environ, "ASYNC_AGENT_TOKEN": CLI_TOKEN, "PYTHONPATH": str(HERE),
           "LITELLM_LOCAL_MODEL_COST_MAP": "True", "SERVICE_DB": str(tmp_path / "unused.db")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "async_task_system.server.cli", "--port", str(port), "--db",
         str(tmp_path / "cli.db"), "--tools", "service_app:TOOLS", "--log-level", "warning", *args],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            try:
                httpx.get(f"{url}/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)  # startup only
        yield url
    finally:
        proc.terminate()
        proc.wait(15)
        proc.stderr.close()


@pytest.mark.slow
def test_serves_the_tools_the_operator_chose(tmp_path):
    with serving(tmp_path) as url:
        assert httpx.get(f"{url}/task-types").status_code == 401
        names = [t["name"] for t in httpx.get(f"{url}/task-types",
                                               headers={"Authorization": f"Bearer {CLI_TOKEN}"}).json()]
        assert names == ["add", "ask_user", "divide", "make_set", "odd_value", "slow_echo", "stubborn"]
        assert (tmp_path / "cli.db").exists()


def test_a_database_another_server_holds_is_refused_with_the_reason(tmp_path, capsys):
    from async_task_system.server import Store

    held = Store(tmp_path / "held.db")
    try:
        assert main(["--db", str(tmp_path / "held.db"), "--port", "1"]) == 2
    finally:
        held.close()
    err = capsys.readouterr().err
    assert "already served by another process" in err and "its own --db" in err


@pytest.mark.parametrize(("content", "code"), [("short\n", 2), ("", 2)])
def test_a_token_file_is_checked_like_any_token(tmp_path, capsys, content, code):
    token_file = tmp_path / "token"
    token_file.write_text(content)
    assert main(["--token-file", str(token_file), "--port", "1"]) == code
    assert "token is" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf", "soon", "1e400"])
def test_a_run_timeout_that_is_not_a_positive_number_is_refused(value, capsys):
    assert main(["--run-timeout", value, "--port", "1"]) == 2
    assert "--run-timeout must be a number of seconds > 0, or 'none'" in capsys.readouterr().err


def test_a_run_timeout_beyond_a_year_is_refused_by_the_service(capsys, tmp_path):
    assert main(["--run-timeout", "1e9", "--port", "1", "--db", str(tmp_path / "x.db")]) == 2
    assert "run_timeout_seconds must be a number of seconds > 0 and <= 31536000" in capsys.readouterr().err


@pytest.mark.slow
def test_serve_run_timeout_stops_a_run_and_kills_its_code(tmp_path):
    """`--run-timeout 3`: a run whose code sleeps 60 s ends as timeout, naming the limit, long before."""
    with serving(tmp_path, "--model", "service_model:build_model", "--run-timeout", "3") as url, \
            httpx.Client(base_url=url, headers={"Authorization": f"Bearer {CLI_TOKEN}"}, timeout=60) as api:
        run = api.post("/runs", json={"prompt": "run code:\nimport time\ntime.sleep(60)\nresult = 1"}).json()
        start = time.monotonic()
        record = api.get(f"/runs/{run['id']}", params={"wait": 45}).json()
        took = time.monotonic() - start
    assert record["status"] == "timeout", record
    assert "3s" in record["reason"], record
    assert took < 40  # not the code's 60 s sleep


@pytest.mark.parametrize(("spec", "words"), [
    ("render", "takes NAME=RESOURCE:QTY"),
    ("add=GPU:lots", "the quantity of 'GPU' must be a number"),
    ("add=GPU:-1", "must be a finite number > 0"),
    ("nosuch=GPU:1", "'nosuch', which are not registered here"),
])
def test_bad_name_resources_are_refused_with_the_reason(spec, words, tmp_path, capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    assert main(["--tools", "service_app:TOOLS", "--db", str(tmp_path / "r.db"), "--port", "1",
                 "--name-resources", spec]) == 2
    assert words in capsys.readouterr().err


@pytest.mark.slow
def test_name_resources_are_the_default_of_a_task_type_and_a_body_overrides_them(tmp_path):
    with serving(tmp_path, "--name-resources", "add=GPU:1,licence") as url:
        headers = {"Authorization": f"Bearer {CLI_TOKEN}"}
        default = httpx.post(f"{url}/tasks", json={"task_type": "add", "parameters": {"a": 1, "b": 2}},
                             headers=headers).json()
        assert default["resources"] == {"GPU": 1.0, "licence": 1.0}
        own = httpx.post(f"{url}/tasks", json={"task_type": "add", "parameters": {"a": 1, "b": 2},
                                               "resources": {"GPU": 2}}, headers=headers).json()
        assert own["resources"] == {"GPU": 2.0}
        none = httpx.post(f"{url}/tasks", json={"task_type": "add", "parameters": {"a": 1, "b": 2},
                                                "resources": {}}, headers=headers).json()
        assert none["resources"] == {}
        done = httpx.get(f"{url}/tasks/{default['id']}", params={"wait": 20}, headers=headers).json()
        assert done["status"] == "completed" and done["resources"] == {"GPU": 1.0, "licence": 1.0}
        for bad, words in (({"GPU": -1}, "finite number > 0"), ({"GPU": "one"}, "finite number > 0"),
                           ({"": 1}, "a resource name"), ([1], "Input should be a valid dictionary")):
            refused = httpx.post(f"{url}/tasks", json={"task_type": "add", "parameters": {"a": 1, "b": 2},
                                                       "resources": bad}, headers=headers)
            assert refused.status_code == 422 and words in refused.json()["message"], refused.json()
            assert refused.json()["field"] == "resources"
