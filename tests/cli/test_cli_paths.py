"""Every documented ``async-agent`` path, run as a user would: the console script in a fresh folder.

The Dask route runs against a real ``dask scheduler`` and ``dask worker`` (see conftest.py); the
real-model route runs LiteLLM against an OpenAI-compatible server on 127.0.0.1.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from cli_helpers import COMMAND, FakeOpenAI, async_agent, free_port, stop, summary_figures, table_rows, without_packages

from async_task_system.cli import ENV_TEMPLATE

ROOT = Path(__file__).resolve().parents[2]

MYPKG_TOOLS = '''
import time
from smolagents import tool

@tool
def lookup(key: str) -> str:
    """Looks a key up in the slow store.

    Args:
        key: the key to look up
    """
    time.sleep(0.2)
    return f"value-of-{key}"

TOOLS = [lookup]
'''

MYPKG_AGENTS = '''
from smolagents import CodeAgent
from async_task_system.testing import ScriptedModel

def make_echo():
    return CodeAgent(tools=[], model=ScriptedModel(["final_answer('echo done')"], token_usage=(5, 3)),
                     name="echo",
                     description="Echoes a fixed answer.", verbosity_level=0)
'''


def make_package(folder: Path) -> None:
    """A user's own package next to where they run the command: mypkg.tools:TOOLS, mypkg.agents:make_echo."""
    (folder / "mypkg").mkdir()
    (folder / "mypkg" / "__init__.py").write_text("")
    (folder / "mypkg" / "tools.py").write_text(MYPKG_TOOLS)
    (folder / "mypkg" / "agents.py").write_text(MYPKG_AGENTS)


def last_lines(proc: subprocess.CompletedProcess[str]) -> str:
    return proc.stderr[-3000:] + proc.stdout[-3000:]


# ----------------------------------------------------------------- Dask

@pytest.mark.slow
def test_run_on_dask_sends_the_demo_analysts_as_factories(dask_scheduler: str, tmp_path: Path) -> None:
    proc = async_agent(["run", "Study the four regions", "--scenario", "composite", "--dask-scheduler",
                        dask_scheduler, "--delay", "0.2", "--think", "0.02", "--quiet"], tmp_path, timeout=180)
    assert proc.returncode == 0, last_lines(proc)
    assert f"on DaskExecutor(scheduler='{dask_scheduler}'" in proc.stdout
    rows = table_rows(proc.stdout)
    assert sorted(rows.values()) == sorted([("agent", "market_analyst", "completed")] * 4
                                           + [("agent", "risk_analyst", "completed")])
    assert "north: revenue" in proc.stdout and "Risk: north:" in proc.stdout
    assert summary_figures(proc.stdout)["tasks"] == "5 (5 completed)"


@pytest.mark.slow
def test_demo_on_dask_runs_all_three_scenarios(dask_scheduler: str, tmp_path: Path) -> None:
    proc = async_agent(["demo", "--quiet", "--delay", "0.1", "--think", "0.02"], tmp_path, timeout=240,
                       env={"DASK_SCHEDULER_ADDRESS": dask_scheduler})
    assert proc.returncode == 0, last_lines(proc)
    assert proc.stdout.count("Run summary") == 3
    assert proc.stdout.count(f"on DaskExecutor(scheduler='{dask_scheduler}'") == 3
    assert "30 (30 completed)" in proc.stdout and proc.stdout.count("5 (5 completed)") == 2


# ----------------------------------------------------------------- settings

def test_env_example_is_what_init_writes_and_sets_nothing() -> None:
    assert (ROOT / ".env.example").read_text() == ENV_TEMPLATE
    settings = [line for line in ENV_TEMPLATE.splitlines() if line.strip() and not line.startswith("#")]
    assert settings == []  # an unedited copy configures nothing


@pytest.mark.slow
def test_an_unedited_copy_of_env_example_runs_the_scripted_demo(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text((ROOT / ".env.example").read_text())
    proc = async_agent(["demo", "--scenario", "gather", "--delay", "0.05", "--think", "0.01", "--quiet"], tmp_path)
    assert proc.returncode == 0, last_lines(proc)
    assert "scripted demo model" in proc.stdout and "MODEL_ID line" in proc.stdout
    assert "Missing credentials" not in proc.stdout + proc.stderr
    assert summary_figures(proc.stdout)["tasks"] == "5 (5 completed)"


def test_empty_settings_mean_not_configured(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("MODEL_ID=\nAPI_KEY=\nBASE_URL=\n")
    proc = async_agent(["demo", "--scenario", "gather", "--delay", "0", "--think", "0", "--quiet"], tmp_path)
    assert proc.returncode == 0, last_lines(proc)
    assert "scripted demo model" in proc.stdout


def test_init_writes_a_commented_env_and_keeps_an_existing_one(tmp_path: Path) -> None:
    proc = async_agent(["init"], tmp_path, timeout=60)
    assert proc.returncode == 0, last_lines(proc)
    written = (tmp_path / ".env").read_text()
    assert written == ENV_TEMPLATE and "# MODEL_ID=" in written and "# API_KEY=" in written
    (tmp_path / ".env").write_text("MODEL_ID=mine\n")
    proc = async_agent(["init"], tmp_path, timeout=60)
    assert proc.returncode == 1 and ".env exists" in proc.stderr and "--force" in proc.stderr
    assert (tmp_path / ".env").read_text() == "MODEL_ID=mine\n"
    proc = async_agent(["init", "--force"], tmp_path, timeout=60)
    assert proc.returncode == 0 and (tmp_path / ".env").read_text() == ENV_TEMPLATE


def test_a_model_without_its_key_gets_one_line_naming_api_key(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("MODEL_ID=openai/gpt-4o-mini\nAPI_KEY=\n")
    proc = async_agent(["demo", "--scenario", "gather"], tmp_path, timeout=90)
    assert proc.returncode == 1, last_lines(proc)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "MODEL_ID=openai/gpt-4o-mini needs an API key: set API_KEY=... in" in lines[0]
    assert ".env" in lines[0] and "Traceback" not in proc.stderr and "\x1b[" not in proc.stdout + proc.stderr


# ----------------------------------------------------------------- missing extras

def test_core_install_with_model_id_names_the_litellm_extra(tmp_path: Path) -> None:
    env = without_packages(tmp_path / "site", "litellm")
    proc = async_agent(["run", "hi", "--model-id", "openai/gpt-4o-mini", "--api-key", "sk-x"], tmp_path,
                       env=env, timeout=90)
    assert proc.returncode == 1, last_lines(proc)
    assert proc.stderr.strip().splitlines() == [
        'async-agent: MODEL_ID=openai/gpt-4o-mini runs through LiteLLM, which is not installed: '
        'pip install "async_task_system[litellm]"']


def test_serve_without_the_server_extra_says_so_once(tmp_path: Path) -> None:
    proc = async_agent(["serve"], tmp_path, env=without_packages(tmp_path / "site", "fastapi"), timeout=60)
    assert proc.returncode == 2, last_lines(proc)
    assert proc.stderr.count('pip install "async_task_system[server]"') == 1
    assert len(proc.stderr.strip().splitlines()) == 1 and "fastapi" in proc.stderr


def test_dask_scheduler_without_the_dask_extra_says_so_once(tmp_path: Path) -> None:
    env = {**without_packages(tmp_path / "site", "distributed", "cloudpickle"),
           "DASK_SCHEDULER_ADDRESS": "tcp://127.0.0.1:9"}
    proc = async_agent(["demo", "--scenario", "gather", "--quiet"], tmp_path, env=env, timeout=90)
    assert proc.returncode == 1, last_lines(proc)
    assert proc.stderr.count('pip install "async_task_system[dask]"') == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("async-agent: --dask-scheduler: DaskExecutor needs")


# ----------------------------------------------------------------- your own tools

@pytest.mark.slow
def test_serve_imports_tools_from_the_working_folder(tmp_path: Path) -> None:
    make_package(tmp_path)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    server = subprocess.Popen([*COMMAND, "serve", "--tools", "mypkg.tools:TOOLS", "--port", str(port),
                               "--db", str(tmp_path / "tasks.db")], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/task-types", timeout=5)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "the service did not start"
                time.sleep(0.3)
        assert response.status_code == 200
        assert [(t["kind"], t["name"]) for t in response.json()] == [("tool", "lookup")]
    finally:
        stop(server)


MAIN_CODE = """Thought: two lookups and the echo agent are independent: I start all three, then collect.
<code>
a = submit_task("tool", "lookup", {"key": "alpha"})
b = submit_task("tool", "lookup", {"key": "beta"})
c = submit_task("agent", "echo", {"task": "Say done."})
print(wait_for_tasks([a, b, c], max_wait_time=20))
r = get_task_results([a, b, c])
final_answer(f"{r[a]} | {r[b]} | {str(r[c]).splitlines()[-1]}")
</code>"""


@pytest.mark.slow
def test_run_with_your_tools_and_agents_on_a_model_endpoint(tmp_path: Path) -> None:
    def reply(messages: list[dict]) -> str:
        answered = sum(1 for m in messages if m.get("role") == "assistant")
        return MAIN_CODE if answered == 0 else "<code>\nfinal_answer('a second call')\n</code>"

    make_package(tmp_path)
    with FakeOpenAI(reply).running() as api:
        (tmp_path / ".env").write_text(f"MODEL_ID=openai/house-model\nAPI_KEY=sk-local-test\nBASE_URL={api.url}\n")
        proc = async_agent(["run", "Look up alpha and beta, and ask echo", "--tools", "mypkg.tools:TOOLS",
                            "--agents", "mypkg.agents:make_echo", "--quiet"], tmp_path, timeout=120)
    assert proc.returncode == 0, last_lines(proc)
    assert "Model: openai/house-model via LiteLLM" in proc.stdout
    assert sorted(table_rows(proc.stdout).values()) == [("agent", "echo", "completed"),
                                                        ("tool", "lookup", "completed"),
                                                        ("tool", "lookup", "completed")]
    assert "value-of-alpha | value-of-beta | echo done" in proc.stdout
    figures = summary_figures(proc.stdout)
    assert figures["tokens label"] == "tokens (input / output)"  # the provider's counts, not an estimate
    assert figures["tokens"] == "16 / 10"  # the endpoint's 11 / 7, and the echo agent's 5 / 3
    assert len(api.requests) == 1 and api.requests[0]["authorization"] == "Bearer sk-local-test"
    assert "sk-local-test" not in proc.stdout + proc.stderr


def test_run_with_tools_but_no_model_says_to_configure_one(tmp_path: Path) -> None:
    make_package(tmp_path)
    proc = async_agent(["run", "hi", "--tools", "mypkg.tools:TOOLS"], tmp_path, timeout=60)
    assert proc.returncode == 1, last_lines(proc)
    assert "--tools needs a real model" in proc.stderr and "MODEL_ID" in proc.stderr


def test_a_tools_spec_that_does_not_import_is_named(tmp_path: Path) -> None:
    proc = async_agent(["run", "hi", "--tools", "nopkg_xyz.tools:TOOLS"], tmp_path, timeout=60)
    assert proc.returncode == 1
    assert "--tools nopkg_xyz.tools:TOOLS: cannot import 'nopkg_xyz.tools' (No module named 'nopkg_xyz')" in proc.stderr
    proc = async_agent(["run", "hi", "--agents", "json"], tmp_path, timeout=60)
    assert proc.returncode == 1 and "--agents takes MODULE:ATTR" in proc.stderr


# ----------------------------------------------------------------- help

def test_help_is_plain_text_and_every_option_says_what_it_takes(tmp_path: Path) -> None:
    top = async_agent(["--help"], tmp_path, timeout=60, columns=100)
    assert top.returncode == 0 and "``" not in top.stdout and ":meth:" not in top.stdout
    assert "async-agent init" in top.stdout and "{demo,run,init,serve}" in top.stdout
    demo = async_agent(["demo", "--help"], tmp_path, timeout=60, columns=100)
    assert "gather: four sources fetched at once" in " ".join(demo.stdout.split())
    run = async_agent(["run", "--help"], tmp_path, timeout=60, columns=100)
    assert "--tools MODULE:ATTR" in run.stdout and "--agents MODULE:ATTR" in run.stdout
    assert "default 4, as in create_async_agent" in " ".join(run.stdout.split())
