"""Passing a dependency's result into a task's arguments.

Two spellings, resolved when every dependency has completed:

* ``ResultOf("t1")`` anywhere in ``args``/``kwargs`` (inside lists, tuples, dicts) is
  replaced by task t1's result, whatever its type.
* In a string, ``"$t1"`` as the *whole* string is replaced by the result object;
  ``"${t1}"`` inside a longer string is replaced by ``str(result)``
  (``"summarise: ${t1}"``). This is the form a model writes.

A task that names another through a placeholder depends on it: ``depends_on`` is
filled in for you.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["ResultOf", "find_references", "resolve"]


@dataclass(frozen=True, slots=True)
class ResultOf:
    """Stands for the result of task ``task_id`` in another task's arguments."""

    task_id: str


def _patterns(id_prefix: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    ident = re.escape(id_prefix) + r"\d+"
    return re.compile(rf"\$({ident})"), re.compile(rf"\$\{{({ident})\}}")


class _Resolver:
    def __init__(self, id_prefix: str) -> None:
        self.whole, self.inline = _patterns(id_prefix)

    def references(self, value: Any, found: set[str]) -> None:
        if isinstance(value, ResultOf):
            found.add(value.task_id)
        elif isinstance(value, str):
            if "$" in value:
                whole = self.whole.fullmatch(value)
                if whole:
                    found.add(whole.group(1))
                else:
                    found.update(self.inline.findall(value))
        elif isinstance(value, (list, tuple, set, frozenset)):
            for item in value:
                self.references(item, found)
        elif isinstance(value, Mapping):
            for item in value.values():
                self.references(item, found)

    def resolve(self, value: Any, results: Mapping[str, Any]) -> Any:
        if isinstance(value, ResultOf):
            return results[value.task_id]
        if isinstance(value, str):
            if "$" not in value:
                return value
            whole = self.whole.fullmatch(value)
            if whole and whole.group(1) in results:
                return results[whole.group(1)]
            return self.inline.sub(
                lambda m: str(results[m.group(1)]) if m.group(1) in results else m.group(0), value
            )
        if isinstance(value, list):
            return [self.resolve(v, results) for v in value]
        if isinstance(value, tuple):
            return tuple(self.resolve(v, results) for v in value)
        if isinstance(value, dict):
            return {k: self.resolve(v, results) for k, v in value.items()}
        return value


_resolvers: dict[str, _Resolver] = {}


def _resolver(id_prefix: str) -> _Resolver:
    resolver = _resolvers.get(id_prefix)
    if resolver is None:
        resolver = _resolvers[id_prefix] = _Resolver(id_prefix)
    return resolver


def find_references(args: Any, kwargs: Any, id_prefix: str) -> set[str]:
    """The task ids that ``args`` and ``kwargs`` refer to through placeholders."""
    found: set[str] = set()
    resolver = _resolver(id_prefix)
    resolver.references(args, found)
    resolver.references(kwargs, found)
    return found


def resolve(value: Any, results: Mapping[str, Any], id_prefix: str) -> Any:
    """A copy of ``value`` with every placeholder replaced from ``results``."""
    return _resolver(id_prefix).resolve(value, results)
