"""``async-agent``: demo and run on the scripted model in a subprocess, the live table and the summary."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import async_agent, summary_figures, table_rows

from async_task_system.demo import SOURCES, merge, source_records


@pytest.mark.slow
def test_demo_gather_shows_the_task_table_the_answer_and_the_summary(tmp_path: Path) -> None:
    proc = async_agent(["demo", "--scenario", "gather", "--delay", "0.3", "--think", "0.05"], tmp_path)
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr[-3000:] + out[-3000:]
    assert "scripted demo model" in out and "No LLM is called" in out
    # The live table's last frame: every task with its type, name and final status.
    final = table_rows(out)
    assert sorted(final.values()) == sorted([("tool", "fetch_source", "completed")] * 4
                                            + [("tool", "merge_datasets", "completed")])
    merged = merge([source_records(s) for s in SOURCES])
    assert f"Top region: {merged['top_region']}." in out
    figures = summary_figures(out)
    assert figures["tasks"] == "5 (5 completed)"
    # After the summary, the run's timeline: two model steps and the five tasks.
    timeline = out[out.index("Run timeline: 7 rows"):]
    assert [line.split()[0] for line in timeline.splitlines()[1:8]] == ["step", "step", "t1", "t2", "t3", "t4", "t5"]
    assert figures["model calls"] == "2 (0 by sub-agents)"
    assert figures["tokens label"] == "tokens (input / output), estimated"  # the scripted model's estimate
    tokens_in, tokens_out = (int(n.lstrip("~")) for n in figures["tokens"].split(" / "))
    assert tokens_in > 1000 and tokens_out > 50  # the scripted model's estimate of the prompt and its code
    # Four fetches of 0.6 to 1.6 x 0.3 s and the merge: their run times add up.
    serial = float(figures["the same tasks one after another"].rstrip("s"))
    assert serial >= 0.3 * (sum(SOURCES.values()) + 0.3) - 0.05


@pytest.mark.slow
def test_demo_runs_all_three_scenarios_by_default(tmp_path: Path) -> None:
    proc = async_agent(["demo", "--delay", "0.1", "--think", "0.02", "--quiet"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    out = proc.stdout
    for title in ("Batch processing", "Data gathering", "Composite analysis"):
        assert title in out
    assert out.count("Run summary") == 3
    assert "30 (30 completed)" in out and "5 (5 completed)" in out
    assert "market_analyst" in out and "risk_analyst" in out


@pytest.mark.slow
def test_run_plays_the_chosen_script_and_says_the_model_is_scripted(tmp_path: Path) -> None:
    proc = async_agent(["run", "Process my ten sales files", "--scenario", "batch", "--delay", "0.1",
                        "--think", "0.02", "--quiet"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    out = proc.stdout
    assert "Process my ten sales files" in out
    assert "plays the 'batch' scenario" in out
    assert "Made 10 charts" in out
    assert summary_figures(out)["tasks"] == "30 (30 completed)"


def test_bad_scenario_is_refused_with_the_choices(tmp_path: Path) -> None:
    proc = async_agent(["demo", "--scenario", "nope"], tmp_path, timeout=60)
    assert proc.returncode == 2
    assert "invalid choice: 'nope'" in proc.stderr and "batch" in proc.stderr and "composite" in proc.stderr


def test_run_reads_the_model_from_dotenv_and_reports_an_unreachable_api(tmp_path: Path) -> None:
    # A .env naming a model on a closed port: the CLI uses LiteLLM (not the scripted model), says which
    # model, and exits 1 with the API error instead of a traceback. The key is not echoed.
    (tmp_path / ".env").write_text("MODEL_ID=openai/not-a-model\nAPI_KEY=sk-test-not-a-secret\n"
                                   "BASE_URL=http://127.0.0.1:9/v1\n")
    proc = async_agent(["run", "say hi", "--quiet"], tmp_path, timeout=120)
    assert proc.returncode == 1, proc.stderr[-3000:] + proc.stdout[-3000:]
    assert "Model: openai/not-a-model via LiteLLM" in proc.stdout
    assert "scripted demo model" not in proc.stdout
    assert any(line.startswith("The run failed: ") for line in proc.stdout.splitlines())  # its own line
    assert "\x1b[" not in proc.stdout + proc.stderr and "Give Feedback" not in proc.stdout + proc.stderr
    assert "sk-test-not-a-secret" not in proc.stdout + proc.stderr


def test_missing_env_file_is_named(tmp_path: Path) -> None:
    proc = async_agent(["demo", "--env-file", "prod.env"], tmp_path, timeout=60)
    assert proc.returncode == 1
    assert "env file 'prod.env' not found" in proc.stderr


def test_bad_numbers_are_refused_with_what_is_accepted(tmp_path: Path) -> None:
    proc = async_agent(["run", "hi", "--max-workers", "0"], tmp_path, timeout=60)
    assert proc.returncode == 2 and "--max-workers: expected a whole number >= 1, got '0'" in proc.stderr
    proc = async_agent(["demo", "--delay", "-1"], tmp_path, timeout=60)
    assert proc.returncode == 2 and "--delay: expected a number of seconds >= 0, got '-1'" in proc.stderr


def test_serve_delegates_to_the_service_cli(tmp_path: Path) -> None:
    proc = async_agent(["serve", "--help"], tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "usage:" in proc.stdout.lower()
