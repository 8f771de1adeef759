"""``agent.last_run.timeline()``: the right rows for a known run, in a terminal and as a notebook figure."""

from __future__ import annotations

import io
import math
import re
import xml.etree.ElementTree as ET

from agent_helpers import BlockingWait, flaky_fetch, slow_lookup
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.cells import cell_len
from rich.console import Console

from async_task_system.agent import Timeline, TimelineRow

KNOWN_RUN = [
    "ok = submit_task('tool', 'slow_lookup', {'key': 'a', 'delay': 0.2})\n"
    "bad = submit_task('tool', 'flaky_fetch', {'url': 'http://broken.example'})\n"
    "slow = submit_task('tool', 'long_job', {'seconds': 30})\n"
    "print(wait_for_tasks([ok, bad], max_wait_time=10))",
    "final_answer('done')",
]


def known_timeline(make_agent) -> Timeline:
    # the long job runs until the run ends and cancels it
    agent = make_agent(KNOWN_RUN, tools=[slow_lookup, flaky_fetch, BlockingWait()], max_workers=2)
    assert agent.run("three lookups") == "done"
    return agent.last_run.timeline()


def test_the_rows_of_a_known_run(make_agent):
    timeline = known_timeline(make_agent)
    assert [(r.label, r.kind, r.status) for r in timeline.rows] == [
        ("step 1", "step", "step"), ("step 2", "step", "step"),
        ("t1 slow_lookup", "tool", "completed"), ("t2 flaky_fetch", "tool", "failed"),
        ("t3 long_job", "tool", "cancelled"),
    ]
    step1, step2, ok, bad, slow = timeline.rows
    assert 0 <= step1.started < step1.ended <= step2.started  # the steps follow one another
    assert step1.started <= ok.queued <= ok.started < ok.ended <= step1.ended  # step 1 waited for t1
    assert ok.run >= 0.2 and bad.ended <= step1.ended
    assert slow.ended <= timeline.length + 1e-6  # cancelled at the run's end, not 30 s later


def test_it_prints_in_80_columns_with_a_bar_per_row(make_agent):
    timeline = known_timeline(make_agent)
    out = io.StringIO()
    Console(file=out, width=80, color_system=None).print(timeline)
    lines = out.getvalue().splitlines()
    assert all(len(line) <= 80 for line in lines)
    rows = {m.group(1): line for line in lines if (m := re.match(r"(step \d+|t\d+ \w+) ", line))}
    assert set(rows) == {"step 1", "step 2", "t1 slow_lookup", "t2 flaky_fetch", "t3 long_job"}
    assert "█" in rows["t1 slow_lookup"] and "completed (waited" in rows["t1 slow_lookup"]
    assert "failed" in rows["t2 flaky_fetch"] and "cancelled" in rows["t3 long_job"]
    assert "0s" in lines[-2] and "queued" in lines[-1]
    assert "t1 slow_lookup" in str(timeline)  # plain text too


def test_a_notebook_shows_it_as_an_svg_figure(make_agent):
    timeline = known_timeline(make_agent)
    svg = ET.fromstring(timeline._repr_svg_())
    ns = {"svg": "http://www.w3.org/2000/svg"}
    groups = svg.findall("svg:g", ns)
    assert [(g.get("data-label"), g.get("data-status")) for g in groups] == [
        ("step 1", "step"), ("step 2", "step"), ("t1 slow_lookup", "completed"),
        ("t2 flaky_fetch", "failed"), ("t3 long_job", "cancelled")]
    t1 = groups[2]
    assert "waited" in t1.find("svg:title", ns).text and len(t1.findall("svg:rect", ns)) >= 1
    assert timeline._repr_html_().startswith("<div") and "<svg" in timeline._repr_html_()


times = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=False, width=32))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=40), st.sampled_from(["tool", "agent", "step"]),
                          st.sampled_from(["completed", "failed", "cancelled", "timeout", "running", "odd"]),
                          times, times, st.floats(min_value=-1e6, max_value=1e9)), max_size=12),
       st.floats(min_value=0, max_value=1e9))
def test_any_rows_render_in_both_forms(rows, length):
    def clean(v):
        return None if v is None or not math.isfinite(v) else v

    timeline = Timeline([TimelineRow(label, kind, status, clean(q), clean(s), e)
                         for label, kind, status, q, s, e in rows], length)
    out = io.StringIO()
    Console(file=out, width=60, color_system=None).print(timeline)
    assert all(cell_len(line) <= 60 for line in out.getvalue().splitlines())  # terminal cells, not code points
    ET.fromstring(timeline._repr_svg_())  # well-formed whatever the labels hold


def test_format_counts_in_words_and_marks_estimated_tokens(make_agent):
    from dataclasses import replace

    from async_task_system.agent import Usage

    agent = make_agent(KNOWN_RUN, tools=[slow_lookup, flaky_fetch, BlockingWait()], max_workers=2)
    agent.run("three lookups")
    run = agent.last_run
    assert run.tokens_estimated  # a ScriptedModel's "estimate" token usage
    assert "tokens (estimated):" in run.format() and "0 sub-agents)" in run.format()
    one = replace(run, sub_agent_usage=Usage(model_calls=1, input_tokens=5, output_tokens=2), tokens_estimated=False)
    assert "1 sub-agent);" in one.format() and "tokens: " in one.format()
