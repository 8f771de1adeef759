"""The three examples and the README quickstart run on the scripted demo model and report the right answers."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from async_task_system.demo import (
    FILES,
    REGIONS,
    SOURCES,
    analyze,
    chart,
    clean,
    merge,
    regional_sales,
    source_records,
    supply_risk,
)

ROOT = Path(__file__).resolve().parents[2]


def run_python(args: list[str], cwd: Path, timeout: float = 120) -> str:
    """Run Python with no model configured (no .env above ``cwd``, no MODEL_ID); return its stdout."""
    env = {k: v for k, v in os.environ.items() if k not in ("MODEL_ID", "API_KEY", "BASE_URL")}
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    env["COLUMNS"] = "200"
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, \
        f"exit {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    return proc.stdout


def answer_of(stdout: str) -> str:
    assert "Answer:" in stdout, stdout[-2000:]
    return stdout.rsplit("Answer:", 1)[1].strip()


def expected_batch_answer() -> str:
    made = [chart(analyze(clean(path))) for path in FILES]
    rising = [c for c in made if c["trend"] == "up"]
    best = max(made, key=lambda c: c["mean"])
    return (f"Made 10 charts (charts/sales_01.png ... charts/sales_10.png). Trending up: {len(rising)} of 10 "
            f"files. Highest mean: {best['path']} ({best['mean']}).")


def expected_gather_answer() -> str:
    merged = merge([source_records(s) for s in SOURCES])
    totals = ", ".join(f"{region} {value}" for region, value in merged["totals"].items())
    return f"Merged 4 sources. Totals: {totals}. Top region: {merged['top_region']}."


@pytest.mark.slow
def test_batch_processing_example_chains_30_tasks_and_reports_the_charts(tmp_path: Path) -> None:
    out = run_python([str(ROOT / "examples" / "batch_processing.py")], tmp_path)
    assert "scripted demo model" in out
    for stage in ("clean_file", "analyze_data", "make_chart"):
        assert re.search(rf"^{stage}\s+10 completed$", out, re.MULTILINE), out[-2000:]
    assert re.search(r"^30 tasks; one after another they would take [\d.]+s; the run took [\d.]+s with 2 model calls$",
                     out, re.MULTILINE), out[-2000:]
    assert answer_of(out) == expected_batch_answer()


@pytest.mark.slow
def test_data_gathering_example_merges_four_sources(tmp_path: Path) -> None:
    out = run_python([str(ROOT / "examples" / "data_gathering.py")], tmp_path)
    assert "scripted demo model" in out
    rows = re.findall(r"^t\d+\s+(\w+)\s+(\w+)\s+waited", out, re.MULTILINE)
    assert sorted(rows) == sorted([("fetch_source", "completed")] * 4 + [("merge_datasets", "completed")])
    assert answer_of(out) == expected_gather_answer()


@pytest.mark.slow
def test_composite_analysis_example_runs_one_agent_four_times_with_distinct_answers(tmp_path: Path) -> None:
    out = run_python([str(ROOT / "examples" / "composite_analysis.py")], tmp_path)
    assert "scripted demo models" in out
    rows = re.findall(r"^t\d+\s+(\w+)\s+(\w+)\s+ran", out, re.MULTILINE)
    assert sorted(rows) == sorted([("market_analyst", "completed")] * 4 + [("risk_analyst", "completed")])
    lines = answer_of(out).splitlines()
    # Each copy of market_analyst answered for its own region (answers not swapped or shared).
    for region, line in zip(REGIONS, lines):
        sales = regional_sales(region)
        assert line.endswith(f"{region}: revenue {sales['revenue']}, growth {sales['growth']:+.1f}%"), line
    risks = ", ".join(f"{r}: {supply_risk(r)} risk" for r in REGIONS)
    assert lines[4].startswith("Risk:") and lines[4].endswith(risks)
    # Sub-agent model calls count in the run's total: 2 manager calls + 5 agents x 2 calls.
    assert "with 12 model calls (sub-agents included)" in out


def readme_quickstart() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("<!-- section:quickstart -->", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "the README's quickstart has no python example"
    return match.group(1)


@pytest.mark.slow
def test_readme_quickstart_runs(tmp_path: Path) -> None:
    script = tmp_path / "quickstart.py"
    script.write_text(readme_quickstart())
    out = run_python([str(script)], tmp_path)
    assert out.strip().splitlines()[-1] == expected_gather_answer()
