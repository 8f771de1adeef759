"""The demo: tools that simulate slow work, and the scripted model's code for three scenarios.

Each scenario is what the examples and ``async-agent demo`` run: the user's task, the
tools (and managed agents) it needs, and the code a model would write for it, step by
step. With a real model (``.env``: ``MODEL_ID``, ``API_KEY``, ``BASE_URL``) the same task
and tools run on LiteLLM; without one, :meth:`Scenario.demo_model` plays the script.

The tools' results are pure functions of their inputs (``clean``, ``analyze``, ``chart``,
``source_records``, ``merge``, ``regional_sales``, ``supply_risk``), so what an agent
reports can be checked against them; the tools add only the simulated wait.
"""

from __future__ import annotations

import os
import random
import re
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smolagents import CodeAgent, Tool
from smolagents.models import ChatMessage, Model
from smolagents.monitoring import LogLevel

__all__ = [
    "SCENARIOS", "Scenario", "scenario", "load_model", "all_tools", "analyst_model", "AnalystFactory", "ModelConfigError",
    "FILES", "SOURCES", "REGIONS",
    "clean", "analyze", "chart", "source_records", "merge", "regional_sales", "supply_risk",
    "CleanFileTool", "AnalyzeDataTool", "MakeChartTool", "FetchSourceTool", "MergeDatasetsTool",
    "RegionalSalesTool", "SupplyRiskTool",
]

FILES = tuple(f"data/sales_{i:02d}.csv" for i in range(1, 11))
# Each source answers at its own speed (seconds, before scaling by the tools' ``delay``).
SOURCES = {"sales_db": 1.0, "weather_api": 1.6, "survey_csv": 0.6, "news_feed": 1.2}
REGIONS = ("north", "south", "east", "west")


def _rng(*key: str) -> random.Random:
    return random.Random(zlib.crc32("/".join(key).encode()))


# ----------------------------------------------------------------- the work itself (pure)

def clean(path: str) -> dict[str, Any]:
    """A raw CSV file's values with its malformed rows dropped."""
    rng = _rng("clean", path)
    raw = [round(rng.uniform(50, 150), 1) for _ in range(24 + rng.randrange(12))]
    dropped = rng.randrange(4)
    return {"path": path, "rows": len(raw) - dropped, "dropped": dropped, "values": raw[dropped:]}


def analyze(data: dict[str, Any]) -> dict[str, Any]:
    """Mean, range and trend (second half vs first half) of a cleaned file."""
    values = data["values"]
    half = len(values) // 2
    first, second = sum(values[:half]) / half, sum(values[half:]) / (len(values) - half)
    return {
        "path": data["path"], "rows": data["rows"], "mean": round(sum(values) / len(values), 1),
        "min": min(values), "max": max(values), "trend": "up" if second > first else "down",
    }


def chart(analysis: dict[str, Any]) -> dict[str, Any]:
    """Where the chart of one analysis would be written, with its headline figures."""
    stem = Path(analysis["path"]).stem
    return {"chart": f"charts/{stem}.png", "path": analysis["path"], "mean": analysis["mean"],
            "trend": analysis["trend"]}


def source_records(source: str) -> dict[str, Any]:
    """Per-region figures from one data source."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; sources: {', '.join(SOURCES)}")
    rng = _rng("source", source)
    return {"source": source, "regions": {r: rng.randrange(100, 1000) for r in REGIONS}}


def merge(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Sum per-region figures over several sources."""
    totals = {r: 0 for r in REGIONS}
    for part in parts:
        for region, value in part["regions"].items():
            totals[region] += value
    top = max(totals, key=totals.get)
    return {"sources": [p["source"] for p in parts], "totals": totals, "top_region": top}


def regional_sales(region: str) -> dict[str, Any]:
    """Revenue and growth of one region."""
    if region not in REGIONS:
        raise ValueError(f"unknown region {region!r}; regions: {', '.join(REGIONS)}")
    rng = _rng("sales", region)
    return {"region": region, "revenue": rng.randrange(200, 900) * 1000,
            "growth": round(rng.uniform(-5, 12), 1)}


def supply_risk(region: str) -> str:
    """A supply-chain risk rating for one region: low, medium or high."""
    if region not in REGIONS:
        raise ValueError(f"unknown region {region!r}; regions: {', '.join(REGIONS)}")
    return ("low", "medium", "high")[_rng("risk", region).randrange(3)]


# ----------------------------------------------------------------- tools (work + a wait)

class _SlowTool(Tool):
    """A tool that waits ``delay`` seconds (simulated I/O) before doing its work."""

    def __init__(self, delay: float = 0.5) -> None:
        super().__init__()
        if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not 0 <= delay < float("inf"):
            raise ValueError(f"delay must be a number of seconds >= 0, got {delay!r}")
        self.delay = float(delay)

    def _wait(self, factor: float = 1.0) -> None:
        time.sleep(self.delay * factor)


class CleanFileTool(_SlowTool):
    name = "clean_file"
    description = ("Loads a raw CSV file and drops its malformed rows (slow: about a second). Returns a dict "
                   "{'path', 'rows', 'dropped', 'values'}. Example: clean_file('data/sales_01.csv')")
    inputs = {"path": {"type": "string", "description": "path of the raw CSV file"}}
    output_type = "object"

    def forward(self, path: str) -> dict:
        self._wait()
        return clean(path)


class AnalyzeDataTool(_SlowTool):
    name = "analyze_data"
    description = ("Computes mean, min, max and trend of a cleaned file (slow). Takes the dict clean_file "
                   "returned; returns {'path', 'rows', 'mean', 'min', 'max', 'trend'}. "
                   "Example: analyze_data(clean_file('data/sales_01.csv'))")
    inputs = {"data": {"type": "object", "description": "the dict returned by clean_file"}}
    output_type = "object"

    def forward(self, data: dict) -> dict:
        self._wait()
        return analyze(data)


class MakeChartTool(_SlowTool):
    name = "make_chart"
    description = ("Draws the chart of one analysis (slow). Takes the dict analyze_data returned; returns "
                   "{'chart', 'path', 'mean', 'trend'}. Example: make_chart(analyze_data(data))")
    inputs = {"analysis": {"type": "object", "description": "the dict returned by analyze_data"}}
    output_type = "object"

    def forward(self, analysis: dict) -> dict:
        self._wait()
        return chart(analysis)


class FetchSourceTool(_SlowTool):
    name = "fetch_source"
    description = (f"Fetches per-region figures from one data source (slow: one to two seconds). Sources: "
                   f"{', '.join(SOURCES)}. Returns {{'source', 'regions': {{region: value}}}}. "
                   f"Example: fetch_source('sales_db')")
    inputs = {"source": {"type": "string", "description": f"one of {', '.join(SOURCES)}"}}
    output_type = "object"

    def forward(self, source: str) -> dict:
        records = source_records(source)  # an unknown source fails at once, not after the wait
        self._wait(SOURCES[source])
        return records


class MergeDatasetsTool(_SlowTool):
    name = "merge_datasets"
    description = ("Merges what fetch_source returned for several sources: sums each region. Returns "
                   "{'sources', 'totals': {region: total}, 'top_region'}. Example: merge_datasets([a, b])")
    inputs = {"parts": {"type": "array", "description": "the dicts returned by fetch_source"}}
    output_type = "object"

    def forward(self, parts: list) -> dict:
        self._wait(0.3)
        return merge(parts)


class RegionalSalesTool(_SlowTool):
    name = "regional_sales"
    description = (f"Revenue and growth (%) of one sales region (slow). Regions: {', '.join(REGIONS)}. "
                   f"Returns {{'region', 'revenue', 'growth'}}. Example: regional_sales('north')")
    inputs = {"region": {"type": "string", "description": f"one of {', '.join(REGIONS)}"}}
    output_type = "object"

    def forward(self, region: str) -> dict:
        self._wait()
        return regional_sales(region)


class SupplyRiskTool(_SlowTool):
    name = "supply_risk"
    description = (f"Supply-chain risk of one region: 'low', 'medium' or 'high' (fast). Regions: "
                   f"{', '.join(REGIONS)}. Example: supply_risk('east')")
    inputs = {"region": {"type": "string", "description": f"one of {', '.join(REGIONS)}"}}
    output_type = "string"

    def forward(self, region: str) -> str:
        self._wait(0.2)
        return supply_risk(region)


# ----------------------------------------------------------------- scripted models

def _code(thought: str, code: str) -> str:
    return f"Thought: {thought}\n<code>\n{code.strip()}\n</code>"


def analyst_model(role: str, *, delay: float = 0.2) -> Model:
    """The composite scenario's sub-agents, scripted: step 1 calls the role's tool for the
    regions named in the task, step 2 gives the final answer.

    The reply depends only on the messages (the step, the regions in the task), so several
    copies of one managed agent can share the model and run at once.
    """
    from .testing import ScriptedModel, task_text

    if role not in ("market_analyst", "risk_analyst"):
        raise ValueError(f"unknown analyst role {role!r}; roles: market_analyst, risk_analyst")

    def reply(messages: list[ChatMessage]) -> str:
        step = sum(1 for m in messages if _role(m) == "assistant")
        task = task_text(messages)
        regions = [r for r in REGIONS if re.search(rf"\b{r}\b", task, re.IGNORECASE)] or list(REGIONS)
        if role == "market_analyst":
            if step == 0:
                return _code(f"I look up the sales of the {regions[0]} region.",
                             f"sales = regional_sales({regions[0]!r})\nprint(sales)")
            return _code("I report revenue and growth.",
                         "final_answer(f\"{sales['region']}: revenue {sales['revenue']}, "
                         "growth {sales['growth']:+.1f}%\")")
        if step == 0:
            return _code("I rate each region's supply risk.",
                         f"risks = {{r: supply_risk(r) for r in {regions!r}}}\nprint(risks)")
        return _code("I report the ratings.",
                     "final_answer(', '.join(f'{r}: {level} risk' for r, level in risks.items()))")

    return ScriptedModel(reply, delay=delay, model_id=f"scripted-{role}")


def _role(message: Any) -> str:
    role = message.get("role") if isinstance(message, dict) else message.role
    return getattr(role, "value", role)


# ----------------------------------------------------------------- scenarios

_ANALYSTS = {
    "market_analyst": (RegionalSalesTool, "Studies the sales of one region. Give it a task naming the region, "
                                          "e.g. 'Summarise sales in the north region.'"),
    "risk_analyst": (SupplyRiskTool, "Rates the supply-chain risk of regions. Give it a task naming the regions."),
}


@dataclass(frozen=True)
class AnalystFactory:
    """Makes a new composite-scenario sub-agent (``market_analyst`` or ``risk_analyst``) per call.

    A factory, not an agent, so it travels to a Dask worker: it holds only the role, the
    model (None: the scripted :func:`analyst_model`, built where the agent runs) and the delays.
    """

    role: str
    model: Model | None = None
    delay: float = 0.5  # seconds per tool call
    think: float = 0.2  # seconds per call of the scripted model

    def __post_init__(self) -> None:
        if self.role not in _ANALYSTS:
            raise ValueError(f"unknown analyst role {self.role!r}; roles: {', '.join(_ANALYSTS)}")

    def __call__(self) -> CodeAgent:
        tool_class, description = _ANALYSTS[self.role]
        model = self.model or analyst_model(self.role, delay=self.think)
        return CodeAgent(tools=[tool_class(self.delay)], model=model, name=self.role, max_steps=4,
                         verbosity_level=LogLevel.ERROR, description=description)


_BATCH_STEPS = (
    _code(
        "The 10 files are independent, and each one goes clean -> analyze -> chart. I submit all 30 tasks "
        "now, chaining each file's stages with '$<id>' placeholders so every stage starts as soon as its "
        "input is ready, then wait for the charts and collect them.",
        """
files = [f"data/sales_{i:02d}.csv" for i in range(1, 11)]
charts = {}
for path in files:
    cleaned = submit_task("tool", "clean_file", {"path": path})
    analysis = submit_task("tool", "analyze_data", {"data": "$" + cleaned})
    charts[path] = submit_task("tool", "make_chart", {"analysis": "$" + analysis})
print(wait_for_tasks(list(charts.values()), max_wait_time=25))
results = get_task_results(list(charts.values()))
made = [results[charts[path]] for path in files]
print([(c["chart"], c["trend"], c["mean"]) for c in made])
""",
    ),
    _code(
        "All 10 charts are made. I summarise the trends.",
        """
rising = [c["path"] for c in made if c["trend"] == "up"]
best = max(made, key=lambda c: c["mean"])
final_answer(f"Made {len(made)} charts ({made[0]['chart']} ... {made[-1]['chart']}). "
             f"Trending up: {len(rising)} of {len(made)} files. Highest mean: {best['path']} ({best['mean']}).")
""",
    ),
)

_GATHER_STEPS = (
    _code(
        "The four sources do not depend on each other: I fetch them all at once and queue the merge to "
        "start as soon as all four are in ('$<id>' placeholders), then wait for the merge alone.",
        """
sources = ["sales_db", "weather_api", "survey_csv", "news_feed"]
fetches = [submit_task("tool", "fetch_source", {"source": s}) for s in sources]
merged = submit_task("tool", "merge_datasets", {"parts": ["$" + t for t in fetches]})
print(wait_for_tasks([merged], max_wait_time=25))
data = get_task_results([merged])[merged]
print(data)
""",
    ),
    _code(
        "The merge is done; I report the totals.",
        """
totals = ", ".join(f"{region} {value}" for region, value in data["totals"].items())
final_answer(f"Merged {len(data['sources'])} sources. Totals: {totals}. Top region: {data['top_region']}.")
""",
    ),
)

_COMPOSITE_STEPS = (
    _code(
        "Each region's market study and the risk review are independent: I start the market_analyst once "
        "per region and the risk_analyst once, all at the same time, then wait for all five.",
        """
regions = ["north", "south", "east", "west"]
studies = {r: submit_task("agent", "market_analyst", {"task": f"Summarise sales in the {r} region."}) for r in regions}
review = submit_task("agent", "risk_analyst",
                     {"task": "Rate the supply risk of the north, south, east and west regions."})
print(wait_for_tasks(list(studies.values()) + [review], max_wait_time=25))
answers = get_task_results(list(studies.values()) + [review])
print(answers)
""",
    ),
    _code(
        "All five sub-agents answered. I combine their reports.",
        """
last_line = lambda answer: str(answer).strip().splitlines()[-1]
lines = [last_line(answers[studies[r]]) for r in regions] + ["Risk: " + last_line(answers[review])]
final_answer("\\n".join(lines))
""",
    ),
)


@dataclass(frozen=True)
class Scenario:
    """One demo scenario: the user's task, its tools and managed agents, and the scripted model's code."""

    name: str
    title: str
    task: str
    tool_classes: tuple[type[_SlowTool], ...]
    steps: tuple[str, ...]  # the demo model's replies, one per model call
    analysts: bool = False  # whether the scenario has the managed agents market_analyst and risk_analyst

    def tools(self, delay: float = 0.5) -> list[Tool]:
        """Fresh instances of the scenario's tools; each waits about ``delay`` seconds per call."""
        return [cls(delay) for cls in self.tool_classes]

    def managed_agents(self, model: Model | None = None, *, delay: float = 0.5,
                       think: float = 0.2) -> list[AnalystFactory]:
        """The scenario's managed agents as zero-argument factories (they run on threads and,
        since a factory pickles, on Dask): on ``model`` (a real model), or on :func:`analyst_model`."""
        if not self.analysts:
            return []
        return [AnalystFactory("market_analyst", model, delay, think),
                AnalystFactory("risk_analyst", model, delay, think)]

    def demo_model(self, *, delay: float = 0.3) -> Model:
        """The scripted model that plays this scenario: ``delay`` seconds per call, with token usage."""
        from .testing import ScriptedModel

        return ScriptedModel(list(self.steps), delay=delay)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            name="batch", title="Batch processing: 10 files through clean -> analyze -> chart",
            task=("Process the 10 files data/sales_01.csv ... data/sales_10.csv: clean each one, analyze it, "
                  "and make its chart. Tell me how many files trend up and which has the highest mean."),
            tool_classes=(CleanFileTool, AnalyzeDataTool, MakeChartTool), steps=_BATCH_STEPS,
        ),
        Scenario(
            name="gather", title="Data gathering: four sources fetched at once, then merged",
            task=("Fetch the regional figures from the four sources sales_db, weather_api, survey_csv and "
                  "news_feed, merge them, and tell me the totals per region and the top region."),
            tool_classes=(FetchSourceTool, MergeDatasetsTool), steps=_GATHER_STEPS,
        ),
        Scenario(
            name="composite", title="Composite analysis: managed agents run side by side",
            task=("Have the market analyst study each of the regions north, south, east and west, have the "
                  "risk analyst rate their supply risk, and combine the reports."),
            tool_classes=(), steps=_COMPOSITE_STEPS, analysts=True,
        ),
    )
}


def scenario(name: str) -> Scenario:
    """The scenario called ``name`` (batch, gather or composite)."""
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r}; scenarios: {', '.join(SCENARIOS)}") from None


class ModelConfigError(ValueError):
    """The configured model cannot be used as set up (no key, or LiteLLM not installed); the message says
    which setting or install command fixes it."""


def load_model(env_file: str | os.PathLike[str] | None = None, *, model_id: str | None = None,
               api_base: str | None = None, api_key: str | None = None) -> Model | None:
    """A ``LiteLLMModel`` from ``.env`` / the environment (``MODEL_ID``, ``API_KEY``, ``BASE_URL``),
    or None when no model is named. ``model_id``, ``api_base`` and ``api_key`` win over both.

    An empty or commented-out setting means "not configured". ``env_file``: read this file
    instead of the nearest ``.env`` above the working directory. The key is read, passed to
    LiteLLM and never written anywhere. Raises ``ModelConfigError`` (one line naming the fix)
    when a model is named but LiteLLM is not installed, or the provider needs a key none gives.
    """
    from dotenv import find_dotenv, load_dotenv

    if env_file is not None and not Path(env_file).is_file():
        raise FileNotFoundError(f"env file {str(env_file)!r} not found; write one with `async-agent init`")
    path = env_file if env_file is not None else find_dotenv(usecwd=True)
    if path:
        load_dotenv(path, override=False)
    model_id = (model_id or os.environ.get("MODEL_ID") or "").strip()
    if not model_id:
        return None
    api_base = (api_base or os.environ.get("BASE_URL") or "").strip() or None
    api_key = (api_key or os.environ.get("API_KEY") or "").strip() or None
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    try:
        import litellm
    except ImportError:
        raise ModelConfigError(
            f"MODEL_ID={model_id} runs through LiteLLM, which is not installed: "
            f'pip install "async_task_system[litellm]"'
        ) from None
    litellm.suppress_debug_info = True  # no "Give Feedback / Get Help" banner (raw escape codes off a terminal)
    if api_key is None and api_base is None:
        missing = _missing_keys(litellm, model_id)
        if missing:
            where = str(path) if path else ".env"
            raise ModelConfigError(
                f"MODEL_ID={model_id} needs an API key: set API_KEY=... in {where} (or pass --api-key; "
                f"{' or '.join(missing)} in the environment works too)"
            )
    from smolagents import LiteLLMModel

    return LiteLLMModel(model_id=model_id, api_base=api_base, api_key=api_key)


def _missing_keys(litellm: Any, model_id: str) -> list[str]:
    """The provider's key variables LiteLLM looks for and does not find (a missing base URL is no
    problem: local servers have a default)."""
    try:
        report = litellm.validate_environment(model=model_id)
    except Exception:  # noqa: BLE001 - an unknown provider: let the call itself say what is wrong
        return []
    return [name for name in report.get("missing_keys", []) if "KEY" in name or "TOKEN" in name]


def all_tools(delay: float = 0.5) -> list[Tool]:
    """Every demo tool once (what ``async-agent run`` gives a real model)."""
    classes: list[type[_SlowTool]] = [CleanFileTool, AnalyzeDataTool, MakeChartTool, FetchSourceTool,
                                      MergeDatasetsTool]
    return [cls(delay) for cls in classes]

