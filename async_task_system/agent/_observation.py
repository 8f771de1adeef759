"""What reaches the model's context: whole values for its code, bounded text for its eyes.

``get_task_results`` returns a ``TaskResults``: a real ``dict`` of whole results (code can
``json.loads`` a 60 kB text or index a 500-row list), whose ``repr``/``str`` - what a
``print`` or a smolagents error quoting it shows - is a preview bounded by
``Limits.max_result_chars`` per result and ``Limits.max_report_chars`` in all, with a note
on how to see more. A task without a result maps to a ``NoResult``, a type of its own
that no real result can be: ``isinstance(r, NoResult)`` is the test.
"""

from __future__ import annotations

import reprlib
from typing import Any

__all__ = ["NoResult", "TaskResults", "clip", "preview"]


def clip(text: str, limit: int, *, hint: str = "") -> str:
    """``text`` cut to about ``limit`` characters, with a marker saying how much was cut and ``hint``."""
    if len(text) <= limit:
        return text
    marker = f" [... cut: {len(text) - limit} more characters{'; ' + hint if hint else ''}]"
    return text[: max(0, limit)] + marker


def preview(value: Any, limit: int) -> str:
    """A repr of ``value`` of at most about ``limit`` characters, whatever the value (even one whose repr breaks)."""
    if isinstance(value, str):
        if len(value) > limit:
            return repr(value[:limit]) + f" [... {len(value)} characters in all]"
        return repr(value)
    short = reprlib.Repr()  # keyword arguments only from Python 3.12
    short.maxlevel, short.maxlong = 4, 60
    short.maxdict = short.maxlist = short.maxtuple = short.maxset = short.maxfrozenset = short.maxdeque = 12
    short.maxstring = short.maxother = max(limit, 20)
    try:
        text = short.repr(value)
    except Exception as exc:  # noqa: BLE001 - a broken __repr__ must not break the report
        text = f"<{type(value).__name__} whose repr failed: {type(exc).__name__}>"
    if len(text) > limit:
        return text[:limit] + f" [... {type(value).__name__}, repr cut]"
    return text


class NoResult:
    """What ``get_task_results`` gives for a task that did not complete (yet).

    Not a dict, not a string: ``isinstance(r, NoResult)`` is true for this and for no real
    result. ``task_id``, ``status`` (failed, timeout, cancelled, running, ...) and ``error``
    (why there is no result) say what happened; it is falsy, so ``if r:`` skips it too.
    ``r['error']`` reads as ``r.error``; indexing it for anything else says there is no result.
    """

    __slots__ = ("task_id", "status", "error")

    def __init__(self, task_id: str, status: str, error: str) -> None:
        self.task_id, self.status, self.error = task_id, status, error

    def __bool__(self) -> bool:
        return False

    # Code written for a dict-shaped marker (r['error'], 'error' in r) still reads it; anything else
    # says there is no result instead of a bare KeyError.
    def __getitem__(self, key: Any) -> str:
        if key in self.__slots__:
            return getattr(self, key)
        raise KeyError(f"{self.task_id} has no result ({self.status}: {clip(self.error, 200)}); "
                       f"test isinstance(r, NoResult) before using a result")

    def __contains__(self, key: Any) -> bool:
        return key in self.__slots__

    def get(self, key: Any, default: Any = None) -> Any:
        return getattr(self, key) if key in self.__slots__ else default

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NoResult) and (self.task_id, self.status, self.error) == (
            other.task_id, other.status, other.error)

    def __hash__(self) -> int:
        return hash((self.task_id, self.status))

    def __repr__(self) -> str:
        return f"NoResult({self.task_id} {self.status}: {self.error})"

    __str__ = __repr__

    def __reduce__(self) -> tuple[Any, ...]:
        return (NoResult, (self.task_id, self.status, self.error))


class TaskResults(dict):
    """``{task_id: result}`` with whole results, whose printed form is a bounded preview."""

    def __init__(self, results: dict[str, Any], *, per_result: int, total: int) -> None:
        super().__init__(results)
        self._per_result = per_result
        self._total = total

    def __repr__(self) -> str:
        lines, used, shown = [], 0, 0
        for task_id, value in self.items():
            line = f"{task_id!r}: {preview(value, self._per_result)}"
            if used + len(line) > self._total and shown:
                break
            line = clip(line, self._total)
            lines.append(line)
            used += len(line) + 2
            shown += 1
        body = "{" + ",\n ".join(lines) + "}"
        cut = shown < len(self) or any("..." in line for line in lines)  # reprlib and clip both mark cuts so
        if shown < len(self):
            body += f"\n[... {len(self) - shown} more of {len(self)} results not shown]"
        if cut:
            body += ("\n[preview only: your code has the whole values; print(results['t1'][:2000]) or len(...) "
                     "to look closer, or pass a result on as '$' + t1]")
        return body

    __str__ = __repr__

    def __missing__(self, key: Any) -> Any:
        # results[0] or results['t9']: a bare KeyError: 0 does not tell a model what the keys are.
        ids = list(self)
        shown = ", ".join(ids[:10]) + (" ..." if len(ids) > 10 else "") if ids else "none"
        how = ("it maps task ids to results, not positions: index it with an id, e.g. results[t1] "
               "(t1 being the variable submit_task's id went into), or use list(results.values())"
               if isinstance(key, int) else
               "ask for that task's result with get_task_results([id]) (the id submit_task returned)")
        raise KeyError(f"{preview(key, 40)} is not a key of these results (their task ids: {shown}); {how}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (dict, (dict(self),))  # travels as a plain dict
