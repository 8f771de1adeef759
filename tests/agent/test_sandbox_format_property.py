"""Property: the sandbox's format is str.format for every template without attribute or index fields,
and refuses every template that has one (at any nesting depth)."""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st
from smolagents.local_python_executor import InterpreterError

from async_task_system.agent import safe_format

TEMPLATES = st.text(alphabet="{}0a1.[]:!r>x ", max_size=24)
ARGS = (3.5, "s", [1, 2])
KWARGS = {"a": 7, "x": "y", "a1": {"k": 1}}


def looks_something_up(template: str) -> bool:
    pending = [template]
    while pending:
        for _, field, spec, _ in string.Formatter().parse(pending.pop()):
            if field is not None and ("." in field or "[" in field):
                return True
            if spec:
                pending.append(spec)
    return False


@settings(max_examples=400, deadline=None)
@given(TEMPLATES)
def test_safe_format_is_str_format_without_lookups(template):
    try:
        refused = looks_something_up(template)
    except ValueError:  # not a format string at all: both refuse it
        refused = None
    try:
        expected: object = str.format(template, *ARGS, **KWARGS)
    except Exception as exc:
        expected = exc
    if refused:
        try:
            safe_format(template, *ARGS, **KWARGS)
        except InterpreterError as exc:
            assert "refused by the sandbox" in str(exc) or "invalid format string" in str(exc)
            return
        raise AssertionError(f"{template!r} looks something up but was formatted")
    try:
        got: object = safe_format(template, *ARGS, **KWARGS)
    except Exception as exc:
        got = exc
    if isinstance(expected, Exception):
        assert isinstance(got, Exception), (template, got)
    else:
        assert got == expected, template
