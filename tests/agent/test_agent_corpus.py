"""Model-written snippets, as small and large models write them, run through ``create_async_agent``.

Each snippet gives the right answer, or is refused with an error the model reads in its
next step that names the fix (the snippet's next step applies it and must then answer
right). A silently wrong answer fails the test. The session prints the counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from agent_helpers import (
    CORPUS_TALLY,
    BlockingWait,
    all_observations,
    big_text,
    flaky_fetch,
    observations,
    slow_lookup,
)
from smolagents import tool


@tool
def search(query: str) -> str:
    """Search the web.

    Args:
        query: what to look for
    """
    return f"results for {query}"


@tool
def summarize(text: str) -> str:
    """Summarise a text.

    Args:
        text: the text
    """
    return f"summary({text})"


@tool
def word_count(text: str) -> int:
    """Count the words of a text.

    Args:
        text: the text
    """
    return len(text.split())


@tool
def founding_date(city: str) -> str:
    """When a city was founded, as an ISO date.

    Args:
        city: the city
    """
    return {"Oslo": "1048-05-01", "Lima": "1535-01-18"}.get(city, "1000-01-01")


@tool
def years_since(year: int) -> int:
    """Years from `year` to 2026.

    Args:
        year: a year
    """
    return 2026 - year


@tool
def fetch_json(name: str) -> dict:
    """Fetch a record as a dict.

    Args:
        name: the record
    """
    return {"error": None, "data": [1, 2, 3], "name": name}


@tool
def join_texts(texts: list) -> str:
    """Join texts with ' | '.

    Args:
        texts: the texts
    """
    return " | ".join(str(t) for t in texts)


@tool
def merge(data: dict) -> str:
    """The keys of a dict, sorted and joined.

    Args:
        data: a dict
    """
    return ",".join(sorted(data))


@tool
def rows(n: int) -> list:
    """Make n rows.

    Args:
        n: how many
    """
    return [{"i": i, "text": "x" * 40} for i in range(n)]


@tool
def half(x: float) -> float:
    """Half of x.

    Args:
        x: a number
    """
    return x / 2


@tool
def fail_with(message: str) -> str:
    """Fails with `message`.

    Args:
        message: the error message
    """
    raise RuntimeError(message)


TOOLS = [search, summarize, word_count, founding_date, years_since, fetch_json, join_texts, merge, rows, half,
         fail_with, big_text, flaky_fetch, slow_lookup]


@dataclass
class Snippet:
    name: str
    expect: Any
    runs: list[list[str]]
    fix: tuple[str, ...] = ()  # what the refusal the model reads must say (the next step applies it)
    kwargs: dict[str, Any] = field(default_factory=dict)


def one(name: str, expect: Any, *steps: str, fix: tuple[str, ...] = (), **kwargs: Any) -> Snippet:
    return Snippet(name, expect, [list(steps)], fix, kwargs)


def runs(name: str, expect: Any, *runs_: list[str], fix: tuple[str, ...] = (), **kwargs: Any) -> Snippet:
    return Snippet(name, expect, list(runs_), fix, kwargs)


W = "wait_for_tasks()\n"

PLACEHOLDERS = [
    one("dollar plus variable", 3,
        "t1 = submit_task('tool', 'search', {'query': 'dask'})\n"
        "t2 = submit_task('tool', 'word_count', {'text': '$' + t1})\n" + W +
        "final_answer(get_task_results([t2])[t2])"),
    one("f-string whole value", "summary(results for dask)",
        "t1 = submit_task('tool', 'search', {'query': 'dask'})\n"
        "t2 = submit_task('tool', 'summarize', {'text': f'${t1}'})\n" + W +
        "final_answer(get_task_results()[t2])"),
    one("braces literal id", "summary(results for dask)",
        "t1 = submit_task('tool', 'search', {'query': 'dask'})\n"
        "s = submit_task('tool', 'summarize', {'text': '${t1}'})\n" + W + "final_answer(get_task_results()[s])"),
    one("whole literal id matching its variable", "summary(results for dask)",
        "t1 = submit_task('tool', 'search', {'query': 'dask'})\n"
        "s = submit_task('tool', 'summarize', {'text': '$t1'})\n" + W + "final_answer(get_task_results()[s])"),
    one("the model's own variable name", "summary(results for Paris)",
        "paris = submit_task('tool', 'search', {'query': 'Paris'})\n"
        "s = submit_task('tool', 'summarize', {'text': '$paris'})\n" + W + "final_answer(get_task_results()[s])"),
    one("variable name in braces", "summary(results for Paris)",
        "paris = submit_task('tool', 'search', {'query': 'Paris'})\n"
        "s = submit_task('tool', 'summarize', {'text': '${paris}'})\n" + W + "final_answer(get_task_results()[s])"),
    one("placeholder inside text", "summary(Report: results for dask)",
        "t1 = submit_task('tool', 'search', {'query': 'dask'})\n"
        "s = submit_task('tool', 'summarize', {'text': 'Report: $t1'})\n" + W + "final_answer(get_task_results()[s])"),
    one("f-string inside text", "summary(Report: results for dask.)",
        "t1 = submit_task('tool', 'search', {'query': 'dask'})\n"
        "s = submit_task('tool', 'summarize', {'text': f'Report: ${t1}.'})\n" + W +
        "final_answer(get_task_results()[s])"),
    one("two placeholders in braces", "summary(Compare results for a with results for b)",
        "a = submit_task('tool', 'search', {'query': 'a'})\nb = submit_task('tool', 'search', {'query': 'b'})\n"
        "s = submit_task('tool', 'summarize', {'text': 'Compare ${a} with ${b}'})\n" + W +
        "final_answer(get_task_results()[s])"),
    one("two bare placeholders in text", "summary(results for a and results for b)",
        "a = submit_task('tool', 'search', {'query': 'a'})\nb = submit_task('tool', 'search', {'query': 'b'})\n"
        "s = submit_task('tool', 'summarize', {'text': '$a and $b'})\n" + W + "final_answer(get_task_results()[s])"),
    one("variables named out of order are refused", "summary(results for y)",
        "t2 = submit_task('tool', 'search', {'query': 'x'})\nt1 = submit_task('tool', 'search', {'query': 'y'})\n"
        "s = submit_task('tool', 'summarize', {'text': '$t1'})",
        "report = t1\ns = submit_task('tool', 'summarize', {'text': '$report'})\n" + W +
        "final_answer(get_task_results()[s])",
        fix=("'$t1' is ambiguous", "your variable t1 holds task t2", "report = t1, then '$report'")),
    one("out of order but spelled with '$' + variable", "summary(results for y)",
        "t2 = submit_task('tool', 'search', {'query': 'x'})\nt1 = submit_task('tool', 'search', {'query': 'y'})\n"
        "wait_for_tasks()\nfirst = t1\ns = submit_task('tool', 'summarize', {'text': '$first'})\n" + W +
        "final_answer(get_task_results()[s])"),
    one("resubmitting into t1 after a failure", "summary(<html>http://ok.example</html>)",
        "t1 = submit_task('tool', 'flaky_fetch', {'url': 'http://broken.example'})\n" + W +
        "print(get_task_results()[t1])",
        "t1 = submit_task('tool', 'flaky_fetch', {'url': 'http://ok.example'})\n"
        "s = submit_task('tool', 'summarize', {'text': '$t1'})",
        "s = submit_task('tool', 'summarize', {'text': '$' + t1})\n" + W + "final_answer(get_task_results()[s])",
        fix=("'$t1' is ambiguous", "your variable t1 holds task t2")),
    one("resubmitting, then '$' + t1 as the guidance says", "summary(<html>http://ok.example</html>)",
        "t1 = submit_task('tool', 'flaky_fetch', {'url': 'http://broken.example'})\n" + W,
        "t1 = submit_task('tool', 'flaky_fetch', {'url': 'http://ok.example'})\n"
        "s = submit_task('tool', 'summarize', {'text': '$' + t1})\n" + W + "final_answer(get_task_results()[s])"),
    runs("a second run's t1 is the variable, not run 1's task", "summary(results for second)",
         ["t1 = submit_task('tool', 'search', {'query': 'first'})\n" + W + "final_answer('one')"],
         ["t1 = submit_task('tool', 'search', {'query': 'second'})\n"
          "s = submit_task('tool', 'summarize', {'text': '$t1'})\n" + W + "final_answer(get_task_results()[s])"]),
    runs("naming run 1's task in run 2 is refused", "summary(results for again)",
         ["a = submit_task('tool', 'search', {'query': 'first'})\n" + W + "final_answer('one')"],
         ["s = submit_task('tool', 'summarize', {'text': '$t1'})",
          "b = submit_task('tool', 'search', {'query': 'again'})\n"
          "s = submit_task('tool', 'summarize', {'text': '$' + b})\n" + W + "final_answer(get_task_results()[s])"],
         fix=("belongs to an earlier run", "Submit that work again in this run")),
    runs("a kept task of run 1 can be named in run 2", "summary(value-of-k)",
         ["a = submit_task('tool', 'slow_lookup', {'key': 'k', 'delay': 0.2})\nfinal_answer('later')"],
         ["s = submit_task('tool', 'summarize', {'text': '$t1'})\n" + W + "final_answer(get_task_results()[s])"],
         unfinished_tasks="keep"),
    one("an unknown name is refused listing the forms", "summary(results for q)",
        "a = submit_task('tool', 'search', {'query': 'q'})\ns = submit_task('tool', 'summarize', {'text': '$nothing'})",
        "s = submit_task('tool', 'summarize', {'text': '$' + a})\n" + W + "final_answer(get_task_results()[s])",
        fix=("'$nothing' names no task", "The forms that work", "'$' + t1")),
    one("a variable holding text, not an id, is refused", "summary(results for dask)",
        "query = 'dask'\na = submit_task('tool', 'search', {'query': query})\n"
        "s = submit_task('tool', 'summarize', {'text': '$query'})",
        "s = submit_task('tool', 'summarize', {'text': '$' + a})\n" + W + "final_answer(get_task_results()[s])",
        fix=("'$query' names no task", "neither a task id nor a variable holding one")),
    one("a variable holding a list of ids is refused", "summary(results for a)",
        "ids = [submit_task('tool', 'search', {'query': q}) for q in 'ab']\n"
        "s = submit_task('tool', 'summarize', {'text': '$ids'})",
        "s = submit_task('tool', 'summarize', {'text': '$' + ids[0]})\n" + W + "final_answer(get_task_results()[s])",
        fix=("'$ids' names no task",)),
    one("escaped dollars stay literal", "summary(costs $5, not $x)",
        "s = submit_task('tool', 'summarize', {'text': 'costs $5, not $$x'})\n" + W +
        "final_answer(get_task_results()[s])"),
    one("a dollar before a digit or at the end is text", "summary(pay $5 in $)",
        "s = submit_task('tool', 'summarize', {'text': 'pay $5 in $'})\n" + W + "final_answer(get_task_results()[s])"),
    one("a resolved value is type-checked and the failure names the placeholder", 978,
        "d = submit_task('tool', 'founding_date', {'city': 'Oslo'})\n"
        "y = submit_task('tool', 'years_since', {'year': '$' + d})\n" + W + "r = get_task_results()[y]\nprint(r)",
        "year = int(get_task_results()[d][:4])\ny = submit_task('tool', 'years_since', {'year': year})\n" + W +
        "final_answer(get_task_results()[y])",
        fix=("'$t1' (the result of t1) does not fit", "argument 'year' of years_since must be integer",
             "convert it in your code")),
    one("a float result that is a whole number fits an integer input", 26,
        "h = submit_task('tool', 'half', {'x': 4000})\ny = submit_task('tool', 'years_since', {'year': '$' + h})\n"
        + W + "final_answer(get_task_results()[y])"),
    one("placeholders inside a list", "results for a | results for b | c",
        "a = submit_task('tool', 'search', {'query': 'a'})\nb = submit_task('tool', 'search', {'query': 'b'})\n"
        "j = submit_task('tool', 'join_texts', {'texts': ['$' + a, f'${b}', 'c']})\n" + W +
        "final_answer(get_task_results()[j])"),
    one("text placeholders inside a list", "A: results for a | B",
        "a = submit_task('tool', 'search', {'query': 'a'})\n"
        "j = submit_task('tool', 'join_texts', {'texts': [f'A: ${a}', 'B']})\n" + W +
        "final_answer(get_task_results()[j])"),
    one("placeholders inside a tuple", "results for a | x",
        "a = submit_task('tool', 'search', {'query': 'a'})\n"
        "j = submit_task('tool', 'join_texts', {'texts': ('$' + a, 'x')})\n" + W + "final_answer(get_task_results()[j])"),
    one("placeholders inside a set are refused", "k",
        "a = submit_task('tool', 'search', {'query': 'a'})\n"
        "m = submit_task('tool', 'merge', {'data': {'k': {'$' + a}}})",
        "m = submit_task('tool', 'merge', {'data': {'k': ['$' + a]}})\n" + W + "final_answer(get_task_results()[m])",
        fix=("not inside a set", "pass a list instead")),
    one("a dict result passed whole to an object input", "data,error,name",
        "r = submit_task('tool', 'fetch_json', {'name': 'x'})\nm = submit_task('tool', 'merge', {'data': '$' + r})\n"
        + W + "final_answer(get_task_results()[m])"),
    one("a placeholder nested in a dict value", "k",
        "a = submit_task('tool', 'search', {'query': 'a'})\nm = submit_task('tool', 'merge', {'data': {'k': '$' + a}})\n"
        + W + "final_answer(get_task_results()[m])"),
    one("a dict result inside text is rendered with str", "summary(got {'error': None, 'data': [1, 2, 3], 'name': 'x'})",
        "r = submit_task('tool', 'fetch_json', {'name': 'x'})\n"
        "s = submit_task('tool', 'summarize', {'text': f'got ${r}'})\n" + W + "final_answer(get_task_results()[s])"),
    one("depends_on given as placeholders", "value-of-b",
        "a = submit_task('tool', 'slow_lookup', {'key': 'a', 'delay': 0.1})\n"
        "b = submit_task('tool', 'slow_lookup', {'key': 'b', 'delay': 0}, depends_on=['$' + a])\n" + W +
        "final_answer(get_task_results()[b])"),
    one("an uppercase literal id", "summary(results for q)",
        "t1 = submit_task('tool', 'search', {'query': 'q'})\ns = submit_task('tool', 'summarize', {'text': '$T1'})\n" + W +
        "final_answer(get_task_results()[s])"),
    one("spaces inside the braces", "summary(results for q)",
        "t1 = submit_task('tool', 'search', {'query': 'q'})\n"
        "s = submit_task('tool', 'summarize', {'text': '${ t1 }'})\n" + W + "final_answer(get_task_results()[s])"),
    one("an expression inside the braces is refused", "summary(results for q)",
        "t1 = submit_task('tool', 'search', {'query': 'q'})\n"
        "s = submit_task('tool', 'summarize', {'text': '${t1.upper()}'})",
        "s = submit_task('tool', 'summarize', {'text': '$' + t1})\n" + W + "final_answer(get_task_results()[s])",
        fix=("is not a placeholder", "the forms that work")),
    one("the task's argument as a keyword", "summary(results for q)",
        "a = submit_task('tool', 'search', {'query': 'q'})\ns = submit_task('tool', 'summarize', text='$' + a)\n" + W +
        "final_answer(get_task_results()[s])"),
    one("a bare placeholder as the args", "summary(results for q)",
        "a = submit_task('tool', 'search', 'q')\ns = submit_task('tool', 'summarize', '$' + a)\n" + W +
        "final_answer(get_task_results()[s])"),
    one("args as a JSON string with a placeholder", "summary(results for q)",
        "t1 = submit_task('tool', 'search', {'query': 'q'})\n"
        "s = submit_task('tool', 'summarize', '{\"text\": \"$t1\"}')\n" + W + "final_answer(get_task_results()[s])"),
    one("a dependant of a failed task has no result either", ["cancelled", True],
        "a = submit_task('tool', 'flaky_fetch', {'url': 'http://broken.example'})\n"
        "s = submit_task('tool', 'summarize', {'text': '$' + a})\n" + W + "r = get_task_results()[s]\n"
        "final_answer([r.status, 'broken' in r.error or a in r.error])"),
    one("a three-stage pipeline submitted at once", 3,
        "a = submit_task('tool', 'search', {'query': 'q'})\nb = submit_task('tool', 'summarize', {'text': '$' + a})\n"
        "c = submit_task('tool', 'word_count', {'text': '$' + b})\n" + W + "final_answer(get_task_results()[c])"),
    one("fan-in of three searches into one text", "summary(Combine: results for a; results for b; results for c)",
        "a, b, c = [submit_task('tool', 'search', {'query': q}) for q in 'abc']\n"
        "s = submit_task('tool', 'summarize', {'text': f'Combine: ${a}; ${b}; ${c}'})\n" + W +
        "final_answer(get_task_results()[s])"),
    one("a placeholder in a comprehension's ids", ["summary(results for a)", "summary(results for b)"],
        "ids = [submit_task('tool', 'search', {'query': q}) for q in 'ab']\n"
        "sums = [submit_task('tool', 'summarize', {'text': '$' + i}) for i in ids]\n" + W +
        "res = get_task_results(sums)\nfinal_answer([res[i] for i in sums])"),
    one("a placeholder naming a task of this run that is still queued", "summary(value-of-slow)",
        "a = submit_task('tool', 'slow_lookup', {'key': 'slow', 'delay': 0.3})\n"
        "s = submit_task('tool', 'summarize', {'text': '$' + a})\n" + W + "final_answer(get_task_results()[s])"),
    one("a placeholder that is the whole string with a newline around", "summary(results for q)",
        "a = submit_task('tool', 'search', {'query': 'q'})\ns = submit_task('tool', 'summarize', {'text': 'x\\n$a\\n'})\n"
        + W + "final_answer(get_task_results()[s].replace('\\n', '').replace('x', '', 1))"),
    one("f'{t1}' passes the id, not the result: refused", "summary(results for q)",
        "t1 = submit_task('tool', 'search', {'query': 'q'})\ns = submit_task('tool', 'summarize', {'text': f'{t1}'})",
        "s = submit_task('tool', 'summarize', {'text': '$' + t1})\n" + W + "final_answer(get_task_results()[s])",
        fix=("text='t1' is the id of a task of this run, not its result", "write '$' + t1")),
    one("a bare id variable as the value: refused", "summary(results for q)",
        "a = submit_task('tool', 'search', {'query': 'q'})\ns = submit_task('tool', 'summarize', {'text': a})",
        "s = submit_task('tool', 'summarize', {'text': f'${a}'})\n" + W + "final_answer(get_task_results()[s])",
        fix=("is the id of a task of this run, not its result",)),
    one("an integer task id in depends_on", "value-of-b",
        "a = submit_task('tool', 'slow_lookup', {'key': 'a', 'delay': 0})\n"
        "b = submit_task('tool', 'slow_lookup', {'key': 'b', 'delay': 0}, depends_on=[1])\n" + W +
        "final_answer(get_task_results()[b])"),
]


_last_observations: list[str] = []  # what the last snippet's model saw, step by step


def run_snippet(make_agent: Any, snippet: Snippet, *, count: bool = True) -> None:
    """Run ``snippet``; fail on a wrong answer or a refusal that does not name the fix. ``count``: tally it."""
    steps = [step for run in snippet.runs for step in run]
    kwargs = {"tools": TOOLS, "max_steps": 8, "additional_authorized_imports": ["json"], **snippet.kwargs}
    agent = make_agent(steps, **kwargs)
    answer = None
    for _ in snippet.runs:
        answer = agent.run("Do the task.")
    _last_observations[:] = all_observations(agent)  # for the bounds: the final step's too
    seen = "\n".join(observations(agent))  # what the model read in its next steps
    missing = [words for words in snippet.fix if words not in seen]
    if answer != snippet.expect or missing:
        CORPUS_TALLY["wrong"] += count
        pytest.fail(f"{snippet.name}: answer {answer!r} (expected {snippet.expect!r}); missing {missing}; "
                    f"the model saw:\n{seen[-3000:]}")
    CORPUS_TALLY["refused with a fix" if snippet.fix else "worked"] += count


@pytest.mark.parametrize("snippet", PLACEHOLDERS, ids=[s.name for s in PLACEHOLDERS])
def test_placeholders_as_models_write_them(make_agent, snippet: Snippet) -> None:
    run_snippet(make_agent, snippet)


def test_a_placeholder_with_no_variable_state_still_reads_literal_ids(make_agent) -> None:
    agent = make_agent(["t1 = submit_task('tool', 'search', {'query': 'q'})\n"
                        "s = submit_task('tool', 'summarize', {'text': '$t1'})\n" + W +
                        "final_answer(get_task_results()[s])"], tools=TOOLS)
    agent.board.bind_variables(lambda: 1 / 0)  # an executor whose state cannot be read
    assert agent.run("Go.") == "summary(results for q)"


def test_the_engine_receives_result_of_markers_not_strings(make_agent) -> None:
    from async_task_system import ResultOf
    from async_task_system.agent import ResolvedCall

    agent = make_agent(["a = submit_task('tool', 'search', {'query': 'q'})\n"
                        "b = submit_task('tool', 'summarize', {'text': '$' + a})\n"
                        "c = submit_task('tool', 'summarize', {'text': f'Note: ${a}'})\n" + W + "final_answer(1)"],
                       tools=TOOLS)
    seen = []
    submit = agent.task_manager.submit

    def spy(fn, *args, **kwargs):
        seen.append((fn, kwargs.get("kwargs"), kwargs.get("depends_on")))
        return submit(fn, *args, **kwargs)

    agent.task_manager.submit = spy
    agent.run("Go.")
    assert seen[1][1] == {"text": ResultOf("t1")} and seen[1][2] == ["t1"]
    assert isinstance(seen[2][0], ResolvedCall) and seen[2][1] == {"text": [ResultOf("t1")]}
    assert not any("$" in str(kw) for _, kw, _ in seen)  # no string for the engine to read


class Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")

    __str__ = __repr__


@tool
def odd_values(kind: str) -> Any:
    """Values that are hard to print.

    Args:
        kind: which one
    """
    if kind == "deep":
        value: Any = []
        for _ in range(10_000):
            value = [value]
        return value
    if kind == "unprintable":
        return Unprintable()
    if kind == "surrogate":
        return "a\ud800b\x00c\x1b[31m"
    return [float("nan"), float("inf"), -float("inf"), 10 ** 400]


@tool
def megabyte(i: int) -> str:
    """One megabyte of text.

    Args:
        i: which one
    """
    return str(i % 10) * 1_000_000


FAILURES = [
    one("a real result with an 'error' key is not a failure", [1, 2, 3],
        "r = submit_task('tool', 'fetch_json', {'name': 'x'})\n" + W + "v = get_task_results()[r]\n"
        "final_answer('failed' if isinstance(v, NoResult) else v['data'])"),
    one("a text result that mentions an error is not a failure", "ok: results for error codes",
        "r = submit_task('tool', 'search', {'query': 'error codes'})\n" + W + "v = get_task_results()[r]\n"
        "final_answer('failed' if isinstance(v, NoResult) else 'ok: ' + v)"),
    one("a failed task gives a NoResult with the error", [True, "failed", True],
        "r = submit_task('tool', 'fail_with', {'message': 'quota exceeded'})\n" + W + "v = get_task_results()[r]\n"
        "final_answer([isinstance(v, NoResult), v.status, 'quota exceeded' in v.error])"),
    one("a timed-out task gives a NoResult with status timeout", [True, "timeout"],
        "r = submit_task('tool', 'long_job', {'seconds': 30}, timeout=0.2)\n" + W + "v = get_task_results()[r]\n"
        "final_answer([isinstance(v, NoResult), v.status])"),
    one("a cancelled task gives a NoResult with status cancelled", [True, "cancelled"],
        "r = submit_task('tool', 'long_job', {'seconds': 30})\ncancel_task(r)\n" + W + "v = get_task_results()[r]\n"
        "final_answer([isinstance(v, NoResult), v.status])"),
    one("an unfinished task gives a falsy NoResult", [False, "running"],
        "r = submit_task('tool', 'long_job', {'seconds': 30})\nimport time\n"
        "v = get_task_results()[r]\nwhile v.status == 'pending':\n    v = get_task_results()[r]\n"
        "final_answer([bool(v), v.status])", additional_authorized_imports=["time"]),
    one("code written for the old dict marker still reads the error", "quota exceeded",
        "r = submit_task('tool', 'fail_with', {'message': 'quota exceeded'})\n" + W + "v = get_task_results()[r]\n"
        "final_answer(v['error'].split(': ', 1)[1] if 'error' in v else v)"),
    one("using a failed task's result as data says there is no result", "fallback",
        "r = submit_task('tool', 'fail_with', {'message': 'down'})\n" + W + "v = get_task_results()[r]\n"
        "print(v['data'])",
        "final_answer('fallback')",
        fix=("t1 has no result (failed: RuntimeError: down)", "test isinstance(r, NoResult)")),
    one("if r: skips a failure and keeps a real result", ["results for a"],
        "a = submit_task('tool', 'search', {'query': 'a'})\nb = submit_task('tool', 'fail_with', {'message': 'x'})\n"
        + W + "res = get_task_results()\nfinal_answer([v for v in res.values() if v])"),
    one("resubmit after a failure, the guidance's loop", "<html>http://mirror.example</html>",
        "r = submit_task('tool', 'flaky_fetch', {'url': 'http://broken.example'})\n" + W +
        "v = get_task_results()[r]\nif isinstance(v, NoResult):\n"
        "    r = submit_task('tool', 'flaky_fetch', {'url': 'http://mirror.example'})\n    wait_for_tasks([r])\n"
        "    v = get_task_results()[r]\nfinal_answer(v)"),
]

BOUNDS = [
    one("json.loads on a 60 kB text result", 5000,
        "import json\nr = submit_task('tool', 'rows', {'n': 5000})\n" + W +
        "j = submit_task('tool', 'summarize', {'text': '$' + r})\n" + W + "final_answer(len(get_task_results()[r]))"),
    one("a 60 kB JSON text parses whole", 1500,
        "import json\nr = submit_task('tool', 'big_text', {'size': 60000})\n" + W +
        "text = get_task_results()[r]\nfinal_answer(len(json.dumps([text] * 3)) // 120)"),
    one("printing sixty 1 MB results stays bounded", 60,
        "ids = [submit_task('tool', 'megabyte', {'i': i}) for i in range(60)]\n" + W +
        "res = get_task_results()\nprint(res)\nfinal_answer(sum(len(v) == 1_000_000 for v in res.values()))",
        max_report_chars=6000),
    one("indexing the results dict by position quotes only a preview", 8,
        "ids = [submit_task('tool', 'rows', {'n': 500}) for _ in range(8)]\n" + W +
        "results = get_task_results()\nprint(results[0])",
        "final_answer(len(results))", fix=("Could not index", "preview only"), max_result_chars=1000),
    one("the result of a 10,000-deep list prints", 1,
        "r = submit_task('tool', 'odd_values', {'kind': 'deep'})\n" + W + "res = get_task_results()\nprint(res)\n"
        "final_answer(len(res[r]))"),
    one("a result whose repr raises prints", True,
        "r = submit_task('tool', 'odd_values', {'kind': 'unprintable'})\n" + W + "res = get_task_results()\nprint(res)\n"
        "print(check_task(r))\nfinal_answer(r in res)"),
    one("control characters and a lone surrogate print", 10,
        "r = submit_task('tool', 'odd_values', {'kind': 'surrogate'})\n" + W + "res = get_task_results()\nprint(res)\n"
        "final_answer(len(res[r]))"),
    one("NaN, infinities and a huge int print", 4,
        "r = submit_task('tool', 'odd_values', {'kind': 'numbers'})\n" + W + "print(get_task_results())\n"
        "final_answer(len(get_task_results()[r]))"),
    one("a 50,000-character error is cut in the wait report, with a marker", "ok",
        "r = submit_task('tool', 'fail_with', {'message': 'x' * 50000})\nprint(wait_for_tasks())",
        "final_answer('ok')", fix=("more characters; check_task('t1')]",)),
    one("a multi-line error in the wait report is marked where it is cut", "ok",
        "r = submit_task('tool', 'fail_with', {'message': 'line\\n' * 100})\nprint(wait_for_tasks())\n"
        "print(list_tasks())",
        "final_answer('ok')", fix=("[... cut:",)),
    one("an error quoting 1 MB of args is bounded", "ok",
        "r = submit_task('tool', 'search', {'query': 'q', 'extra': 'x' * 1_000_000})",
        "final_answer('ok')", fix=("unknown argument 'extra'",)),
]

MESSAGES = [
    one("indexing list_tasks() says it returns text", "t1 tool search: completed",
        "a = submit_task('tool', 'search', {'query': 'a'})\n" + W + "print(list_tasks()[0]['id'])",
        "final_answer(list_tasks().splitlines()[1].split(' in ')[0])",
        fix=("list_tasks() returns text (one line per task), not a list",)),
    one("args before the name gives the order", "results for x",
        "t = submit_task({'query': 'x'}, 'search')",
        "t = submit_task('tool', 'search', {'query': 'x'})\n" + W + "final_answer(get_task_results()[t])",
        fix=("submit_task takes (task_type, name, args) in this order", "submit_task('tool', 'search',")),
    one("the name before the type gives the order", "results for x",
        "t = submit_task('search', 'tool', {'query': 'x'})",
        "t = submit_task('tool', 'search', {'query': 'x'})\n" + W + "final_answer(get_task_results()[t])",
        fix=("in this order", "Write: submit_task('tool', 'search', {...})")),
    one("check_task on an unknown id names this run's ids, calmly", "results for a",
        "a = submit_task('tool', 'search', {'query': 'a'})\nprint(check_task('t99'))",
        W + "final_answer(get_task_results()[a])", fix=("unknown task id 't99'; this run's tasks are ['t1']",)),
    one("a long result in check_task is previewed with a pointer", 5000,
        "r = submit_task('tool', 'big_text', {'size': 5000})\n" + W + "print(check_task(r))\n"
        "final_answer(len(get_task_results()[r]))"),
    one("sloppy argument names a small model guesses", "summary(results for q)",
        "a = submit_task(type='tool', tool_name='search', arguments={'query': 'q'})\n"
        "b = submit_task(type='tool', tool_name='summarize', arguments={'text': '$' + a})\n"
        "wait_for_tasks(ids=[a, b])\nfinal_answer(get_task_results(task_id=b)[b])"),
    one("one id instead of a list everywhere", "results for a",
        "a = submit_task('tool', 'search', {'query': 'a'})\nwait_for_tasks(a)\nfinal_answer(get_task_results(a)[a])"),
    one("calling the tool directly still works", "results for now",
        "final_answer(search('now'))"),
]


@pytest.mark.parametrize("snippet", FAILURES, ids=[s.name for s in FAILURES])
def test_failures_are_told_apart_from_real_results(make_agent, snippet: Snippet) -> None:
    snippet.kwargs.setdefault("tools", [*TOOLS, BlockingWait()])
    run_snippet(make_agent, snippet)


@pytest.mark.parametrize("snippet", BOUNDS, ids=[s.name for s in BOUNDS])
def test_values_are_whole_and_observations_bounded(make_agent, snippet: Snippet) -> None:
    snippet.kwargs.setdefault("tools", [*TOOLS, odd_values, megabyte])
    run_snippet(make_agent, snippet)
    budget = snippet.kwargs.get("max_report_chars", 8000)
    assert max(map(len, _last_observations)) < budget + 1500  # the report budget plus smolagents' framing


@pytest.mark.parametrize("snippet", BOUNDS, ids=[s.name for s in BOUNDS])
def test_with_small_limits_every_observation_stays_under_them(make_agent, snippet: Snippet) -> None:
    small = Snippet(snippet.name, snippet.expect, snippet.runs, snippet.fix,
                    {**snippet.kwargs, "max_report_chars": 1500, "max_result_chars": 300})
    run_snippet(make_agent, small, count=False)
    assert max(map(len, _last_observations)) < 1500 + 600, [len(t) for t in _last_observations]


@pytest.mark.parametrize("snippet", MESSAGES, ids=[s.name for s in MESSAGES])
def test_small_mistakes_get_messages_that_name_the_fix(make_agent, snippet: Snippet) -> None:
    run_snippet(make_agent, snippet)


def make_writer():
    """A managed CodeAgent that reports which search results its task text carried."""
    import re

    from smolagents import CodeAgent

    from async_task_system.testing import ScriptedModel, task_text

    def script(messages) -> str:
        found = sorted(set(re.findall(r"results for (\w+)", task_text(messages))))
        return f"final_answer('saw ' + {', '.join(found) or 'nothing'!r})"

    return CodeAgent(tools=[], model=ScriptedModel(script), name="writer", verbosity_level=0,
                     description="Writes a short text from what it is given.")


AGENTS = [
    one("an agent task's result is smolagents' report text", True,
        "w = submit_task('agent', 'writer', {'task': 'Write about results for q'})\n" + W +
        "r = get_task_results()[w]\n"
        "final_answer(r.startswith(\"Here is the final answer from your managed agent 'writer':\") and 'saw q' in r)"),
    one("a placeholder inside an agent's task text", True,
        "s = submit_task('tool', 'search', {'query': 'oslo'})\n"
        "w = submit_task('agent', 'writer', {'task': f'Write about this: ${s}'})\n" + W +
        "final_answer('saw oslo' in get_task_results()[w])"),
    one("a placeholder in an agent's additional_args", True,
        "s = submit_task('tool', 'search', {'query': 'lima'})\n"
        "w = submit_task('agent', 'writer', {'task': 'Write about the data', 'additional_args': {'data': '$' + s}})\n"
        + W + "final_answer('saw lima' in get_task_results()[w])"),
    one("an agent task given as a bare string", True,
        "w = submit_task('agent', 'writer', 'about results for pune')\n" + W +
        "final_answer('saw pune' in get_task_results()[w])"),
    one("a tool's result fed to an agent, the agent's to a tool", 12,
        "s = submit_task('tool', 'search', {'query': 'x'})\n"
        "w = submit_task('agent', 'writer', {'task': 'Use: ${' + s + '}'})\n"
        "n = submit_task('tool', 'word_count', {'text': '$' + w})\n" + W + "final_answer(get_task_results()[n])"),
    one("the agent's name given with task_type 'tool'", True,
        "w = submit_task('tool', 'writer', {'task': 'results for z'})\n" + W +
        "final_answer('saw z' in get_task_results()[w])"),
]

MULTI_STEP = [
    one("submit in one step, collect in the next", "summary(results for a)",
        "a = submit_task('tool', 'search', {'query': 'a'})\ns = submit_task('tool', 'summarize', {'text': '$' + a})",
        "print(wait_for_tasks())", "final_answer(get_task_results([s])[s])"),
    one("print a preview, then use the value in the next step", 30,
        "r = submit_task('tool', 'rows', {'n': 30})\n" + W + "results = get_task_results()\nprint(results)",
        "final_answer(len(results[r]))"),
    one("wait again with the same arguments until done", "value-of-k",
        "k = submit_task('tool', 'slow_lookup', {'key': 'k', 'delay': 0.4})\nprint(wait_for_tasks([k], max_wait_time=0.05))",
        "print(wait_for_tasks([k]))", "final_answer(get_task_results([k])[k])"),
    one("a placeholder to a task submitted two steps earlier", "summary(results for early)",
        "e = submit_task('tool', 'search', {'query': 'early'})", "print(check_task(e))",
        "s = submit_task('tool', 'summarize', {'text': '$e'})\n" + W + "final_answer(get_task_results()[s])"),
    one("return_when='any' then the rest", ["value-of-fast", "value-of-slow"],
        "f = submit_task('tool', 'slow_lookup', {'key': 'fast', 'delay': 0})\n"
        "s = submit_task('tool', 'slow_lookup', {'key': 'slow', 'delay': 0.3})\n"
        "print(wait_for_tasks([f, s], return_when='any'))",
        W + "res = get_task_results([f, s])\nfinal_answer([res[f], res[s]])"),
    one("list the failed tasks, then resubmit them", ["<html>http://a.ok</html>"],
        "a = submit_task('tool', 'flaky_fetch', {'url': 'http://a.broken'})\n" + W + "print(list_tasks('failed'))",
        "a = submit_task('tool', 'flaky_fetch', {'url': 'http://a.ok'})\n" + W +
        "final_answer([v for v in get_task_results([a]).values()])"),
]


@pytest.mark.parametrize("snippet", AGENTS, ids=[s.name for s in AGENTS])
def test_agent_tasks_as_models_write_them(make_agent, snippet: Snippet) -> None:
    snippet.kwargs.setdefault("managed_agents", [make_writer])
    run_snippet(make_agent, snippet)


@pytest.mark.parametrize("snippet", MULTI_STEP, ids=[s.name for s in MULTI_STEP])
def test_multi_step_snippets_keep_their_variables(make_agent, snippet: Snippet) -> None:
    run_snippet(make_agent, snippet)


def test_the_corpus_is_large_enough_and_covers_every_pattern_of_the_issue() -> None:
    snippets = PLACEHOLDERS + FAILURES + BOUNDS + MESSAGES + AGENTS + MULTI_STEP
    assert len(snippets) >= 80
    assert sum(len(s.runs) > 1 or len(s.runs[0]) > 1 for s in snippets) >= 25  # multi-step or multi-run
    code = "\n".join(step for s in snippets for run in s.runs for step in run)
    for pattern in ("'$' + t1", "f'${t1}'", "'${t1}'", "'$t1'", "'Report: $t1'", "'$paris'", "isinstance(v, NoResult)"):
        assert pattern in code, pattern
