"""Rules that must hold for every input: placeholder reading, and the bounded previews of results."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from async_task_system import InvalidArgumentError, ResultOf
from async_task_system.agent import NoResult, TaskResults
from async_task_system.agent._observation import clip, preview
from async_task_system.agent._placeholders import Placeholders, ResolvedCall
from async_task_system.agent._registry import InputCheck, normalize_task_id

RUN = ["t1", "t2", "t3"]


def reader(variables=None, earlier=()) -> Placeholders:
    known = set(RUN) | set(earlier)
    return Placeholders(referable=lambda i: i in RUN, exists=known.__contains__,
                        variables=lambda: variables or {}, normalize=normalize_task_id, run_ids=lambda: list(RUN))


def render(translation, results: dict[str, object]):
    """What the engine and ResolvedCall together hand the tool."""
    def fill(value):
        if isinstance(value, ResultOf):
            return results[value.task_id]
        if isinstance(value, list):
            return [fill(v) for v in value]
        if isinstance(value, tuple):
            return tuple(fill(v) for v in value)
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return value

    call = ResolvedCall(lambda **kw: kw, "echo", translation, InputCheck("echo", {"x": {"type": "any"}}))
    return call(**fill(translation.values))


text = st.text(alphabet=st.characters(codec=None), max_size=60)


@given(text.filter(lambda s: "$" not in s and s not in RUN))
def test_text_without_a_dollar_reaches_the_tool_unchanged(value: str) -> None:
    translation = reader().translate({"x": value})
    assert translation.values == {"x": value} and not translation.refs and not translation.needs_call


@given(text)
def test_doubled_dollars_always_read_as_literal_text(value: str) -> None:
    translation = reader().translate({"x": value.replace("$", "$$")})
    assert not translation.refs
    assert render(translation, {})["x"] == value


@given(st.lists(st.one_of(text.map(lambda s: s.replace("$", "$$")), st.sampled_from(RUN).map(lambda i: "${" + i + "}")),
                max_size=8))
def test_text_with_placeholders_renders_each_result_in_place(parts: list[str]) -> None:
    results = {i: f"<{i}>" for i in RUN}
    translation = reader().translate({"x": "".join(parts)})
    expected = "".join(results[p[2:-1]] if p.startswith("${") and p[2:-1] in RUN else p.replace("$$", "$")
                       for p in parts)
    assert render(translation, results)["x"] == expected
    assert set(translation.refs) == {p[2:-1] for p in parts if p.startswith("${") and p[2:-1] in RUN}


@given(text)
def test_any_text_is_read_or_refused_with_the_forms_that_work(value: str) -> None:
    try:
        reader().translate({"x": value})
    except InvalidArgumentError as exc:
        assert "forms that work" in str(exc)


def test_a_variable_holding_an_id_is_that_task_and_a_clash_is_refused() -> None:
    assert reader({"paris": "t2"}).translate({"x": "$paris"}).values == {"x": ResultOf("t2")}
    assert reader({"t1": "t1"}).translate({"x": "$t1"}).values == {"x": ResultOf("t1")}
    with pytest.raises(InvalidArgumentError, match=r"'\$t1' is ambiguous: t1 is a task of this run, and your "
                                                   r"variable t1 holds task t3"):
        reader({"t1": "t3"}).translate({"x": "$t1"})


def test_a_bare_id_of_this_run_where_a_result_was_meant_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match=r"x='t2' is the id of a task of this run, not its result"):
        reader().translate({"x": "t2"})
    assert reader().translate({"x": "t7"}).values == {"x": "t7"}  # not a task of this run: just text


def test_an_earlier_runs_task_is_refused_unless_the_variable_names_one_of_this_run() -> None:
    with pytest.raises(InvalidArgumentError, match="belongs to an earlier run"):
        reader(earlier=["t9"]).translate({"x": "$t9"})
    assert reader({"t9": "t2"}, earlier=["t9"]).translate({"x": "$t9"}).values == {"x": ResultOf("t2")}


def test_a_render_whose_result_str_raises_fails_that_task() -> None:
    class Broken:
        def __str__(self) -> str:
            raise RuntimeError("no str")

    translation = reader().translate({"x": "see ${t1}"})
    with pytest.raises(RuntimeError, match="no str"):
        render(translation, {"t1": Broken()})


def test_a_retried_attempt_renders_again_from_the_same_values() -> None:
    translation = reader().translate({"x": ["a ${t1}", ("b ${t2}",)]})
    call = ResolvedCall(lambda **kw: kw, "echo", translation, InputCheck("echo", {"x": {"type": "any"}}))
    handed = {"x": [["one"], ([2],)]}
    assert call(**handed) == call(**handed) == {"x": ["a one", ("b 2",)]}
    assert handed == {"x": [["one"], ([2],)]}


def test_args_nested_deeper_than_the_bound_are_refused() -> None:
    value: object = "$t1"
    for _ in range(150):
        value = [value]
    with pytest.raises(InvalidArgumentError, match="nested more than 100 levels"):
        reader().translate({"x": value})


def test_placeholders_inside_tuples_nested_in_lists_render_in_place() -> None:
    translation = reader().translate({"x": [("a ${t1}", 1), {"k": ("$t2",)}]})
    assert render(translation, {"t1": "one", "t2": 2})["x"] == [("a one", 1), {"k": (2,)}]


values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), text, st.binary(max_size=30)),
    lambda inner: st.one_of(st.lists(inner, max_size=30), st.dictionaries(text, inner, max_size=30),
                            st.tuples(inner, inner), st.frozensets(st.integers(), max_size=30)),
    max_leaves=200,
)


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=150)
@given(values, st.integers(1, 500))
def test_a_preview_of_any_value_is_bounded(value: object, limit: int) -> None:
    assert len(preview(value, limit)) <= max(limit, 20) + 40


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=50)
@given(st.dictionaries(st.sampled_from([f"t{i}" for i in range(50)]), values, max_size=50), st.integers(50, 3000))
def test_the_printed_results_dict_is_bounded_and_the_values_stay_whole(results: dict, total: int) -> None:
    shown = TaskResults(results, per_result=200, total=total)
    assert dict(shown) == results
    assert len(repr(shown)) <= total + 400
    assert str(shown) == repr(shown)


@given(text, st.integers(0, 100))
def test_clip_is_bounded_and_marks_what_it_cut(value: str, limit: int) -> None:
    out = clip(value, limit)
    assert out == value if len(value) <= limit else (out.startswith(value[:limit]) and "more characters" in out)


def test_no_result_is_never_equal_to_or_an_instance_like_a_real_result() -> None:
    marker = NoResult("t1", "failed", "boom")
    assert not isinstance({"error": "boom"}, NoResult) and not isinstance("error", NoResult)
    assert not marker and marker["error"] == "boom" and "error" in marker and marker.get("status") == "failed"
    assert marker != {"error": "boom", "status": "failed", "task_id": "t1"}
    with pytest.raises(KeyError, match="t1 has no result"):
        marker["data"]
