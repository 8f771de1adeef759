"""Placeholders as models write them, turned into ``ResultOf`` markers before a task is submitted.

The engine interprets no strings: it fills in ``ResultOf("t1")`` markers inside lists,
tuples and dicts. Models write ``'$t1'``, ``'$' + t1``, ``f'${t1}'``, ``'${t1}'``,
``'Report: $t1'`` and ``'$paris'`` (their own variable). This module reads all of them:

* ``$name`` / ``${name}`` where ``name`` is a variable of the model's code holding a task
  id means that task; otherwise ``name`` must be a task id of this run (or a kept one).
  A literal id and a same-named variable that disagree are refused, naming both.
* a whole-string placeholder becomes ``ResultOf(id)``: the task gets the result object;
* text with placeholders inside becomes a ``ResolvedCall`` that renders the text itself
  from the results the engine hands it (``str(result)`` per placeholder);
* ``$$`` is a literal ``$``; ``$`` before a digit or a space is left alone (``'$5'``);
* a bare id of this run (``f'{t1}'``, the id where its result was meant) is refused.

After the engine fills the markers in, ``ResolvedCall`` checks each value that came
from a placeholder against the tool's inputs and fails the task naming the placeholder.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..engine import ResultOf
from ..errors import InvalidArgumentError
from ._observation import preview

__all__ = ["Placeholders", "Translation", "ResolvedCall", "TextTemplate"]

# ``$$`` (an escaped dollar), ``${name}`` or ``$name``
_TOKEN = re.compile(r"\$\$|\$\{([^}]*)\}|\$([A-Za-z_]\w*)")
_NAME = re.compile(r"[A-Za-z_]\w*")
_MAX_DEPTH = 100
FORMS = ("'$' + t1 or f'${t1}' (t1 being the variable submit_task's id went into), '$t1' as the whole value, "
         "'... ${t1} ...' inside text; write $$ for a literal dollar sign")

Path = tuple[Any, ...]


@dataclass(frozen=True)
class TextTemplate:
    """Text with placeholders: ``pieces`` around ``len(pieces) - 1`` results, joined with ``str``."""

    pieces: tuple[str, ...]

    def render(self, results: list[Any] | tuple[Any, ...]) -> str:
        out = [self.pieces[0]]
        for value, piece in zip(results, self.pieces[1:], strict=True):
            out.append(value if isinstance(value, str) else str(value))
            out.append(piece)
        return "".join(out)


@dataclass(frozen=True)
class Translation:
    """What ``Placeholders.translate`` made of a task's arguments."""

    values: dict[str, Any]  # for the engine: ResultOf markers, lists of them where text is rendered
    refs: tuple[str, ...]  # the task ids referred to, in order of first mention
    texts: tuple[tuple[Path, TextTemplate], ...]  # where text must be rendered, and how
    whole: tuple[tuple[str, str, str], ...]  # (argument, spelled placeholder, task id) for top-level markers

    @property
    def needs_call(self) -> bool:
        return bool(self.texts or self.whole)


class Placeholders:
    """Reads placeholders against what the board knows: this run's ids, kept ids, the model's variables.

    ``referable(id)`` says whether a task id may be named; ``exists(id)`` whether it was ever
    submitted on this board (to tell "an earlier run" from "unknown"); ``variables()`` the
    model's interpreter state (``{}`` when it cannot be read); ``normalize`` a task id.
    """

    def __init__(self, *, referable: Callable[[str], bool], exists: Callable[[str], bool],
                 variables: Callable[[], Mapping[str, Any]], normalize: Callable[[Any], str],
                 run_ids: Callable[[], list[str]]) -> None:
        self._referable = referable
        self._exists = exists
        self._variables = variables
        self._normalize = normalize
        self._run_ids = run_ids

    def translate(self, values: Mapping[str, Any]) -> Translation:
        refs: dict[str, None] = {}
        texts: list[tuple[Path, TextTemplate]] = []
        whole: list[tuple[str, str, str]] = []
        variables = _Lazy(self._variables)  # read only if a placeholder turns up

        def walk(value: Any, path: Path) -> Any:
            if len(path) > _MAX_DEPTH:
                raise InvalidArgumentError(f"the args are nested more than {_MAX_DEPTH} levels deep; pass flatter data")
            if isinstance(value, str):
                return text(value, path)
            if isinstance(value, ResultOf):
                refs[self._task(value.task_id, repr(value), variables)] = None
                return value
            if isinstance(value, dict):
                for key in value:
                    if isinstance(key, str) and "$" in key and any(m.group(0) != "$$" for m in _TOKEN.finditer(key)):
                        raise InvalidArgumentError(
                            f"the dict key {preview(key, 80)} looks like a placeholder, but placeholders are "
                            "replaced only in values, never in keys: put the result in a value (e.g. "
                            "{'name': ..., 'value': '$' + t1}), or write $$ for a literal dollar sign"
                        )
                keys = [_unescape(k) for k in value]  # the path names the key the tool will see
                return {key: walk(v, (*path, key)) for key, v in zip(keys, value.values(), strict=True)}
            if isinstance(value, list):
                return [walk(v, (*path, i)) for i, v in enumerate(value)]
            if isinstance(value, tuple):
                return tuple(walk(v, (*path, i)) for i, v in enumerate(value))
            if isinstance(value, (set, frozenset)) and any(isinstance(v, str) and "$" in v for v in value):
                raise InvalidArgumentError(
                    f"placeholders work inside lists, tuples and dicts, not inside a {type(value).__name__}: "
                    f"pass a list instead"
                )
            return value

        def text(value: str, path: Path) -> Any:
            if "$" not in value:
                if len(value) < 16 and self._referable(value) and self._as_id(value, exact=True) == value:
                    # f'{t1}' or a bare t1: the id string where the result was meant
                    raise InvalidArgumentError(
                        f"{preview('/'.join(map(str, path)), 80)[1:-1]}={value!r} is the id of a task of this run, not its result: "
                        f"to pass its result write '$' + t1 (t1 being the variable holding {value!r}) or "
                        f"f'${{t1}}'"
                    )
                return value
            pieces, ids, buf, pos = [], [], [], 0
            for match in _TOKEN.finditer(value):
                buf.append(value[pos:match.start()])
                pos = match.end()
                if match.group(0) == "$$":
                    buf.append("$")
                    continue
                name = match.group(1) if match.group(1) is not None else match.group(2)
                task_id = self._task(name, match.group(0), variables)
                refs[task_id] = None
                pieces.append("".join(buf))
                buf = []
                ids.append(task_id)
            buf.append(value[pos:])
            pieces.append("".join(buf))
            if not ids:
                return pieces[0]  # only escaped dollars: plain text
            if len(ids) == 1 and pieces == ["", ""]:
                if len(path) == 1:
                    whole.append((path[0], value, ids[0]))
                return ResultOf(ids[0])
            texts.append((path, TextTemplate(tuple(pieces))))
            return [ResultOf(i) for i in ids]

        out = {key: walk(value, (key,)) for key, value in values.items()}
        return Translation(out, tuple(refs), tuple(texts), tuple(whole))

    def task_of(self, spelled: str) -> str:
        """The task id one placeholder (``'$t1'``, ``'${search}'``) stands for."""
        match = _TOKEN.fullmatch(spelled.strip())
        if match is None or match.group(0) == "$$":
            raise InvalidArgumentError(f"{preview(spelled, 80)} is not a placeholder: the forms that work are {FORMS}")
        name = match.group(1) if match.group(1) is not None else match.group(2)
        return self._task(name, spelled, _Lazy(self._variables))

    def _task(self, name: str, spelled: str, variables: Mapping[str, Any]) -> str:
        """The task id ``name`` stands for, or an error naming what went wrong and the fix."""
        name = name.strip()
        spelled = preview(spelled, 80)  # a repr, at most about 80 characters
        if not _NAME.fullmatch(name):
            raise InvalidArgumentError(f"{spelled} is not a placeholder: the forms that work are {FORMS}")
        literal = self._as_id(name)
        held = variables.get(name)
        from_var = self._as_id(held, exact=True) if isinstance(held, str) and held != name else None
        lit_ok = literal is not None and self._referable(literal)
        var_ok = from_var is not None and self._referable(from_var)
        if lit_ok and var_ok and literal != from_var:
            raise InvalidArgumentError(
                f"{spelled} is ambiguous: {literal} is a task of this run, and your variable {name} holds "
                f"task {from_var}. Name the task through a variable not named like an id: "
                f"report = {name}, then '$report' (or submit into such variables: report = submit_task(...))"
            )
        if var_ok:
            return from_var  # type: ignore[return-value]
        if lit_ok:
            return literal  # type: ignore[return-value]
        earlier = next((i for i in (literal, from_var) if i is not None and self._exists(i)), None)
        if earlier is not None:
            raise InvalidArgumentError(
                f"{spelled} names task {earlier}, which belongs to an earlier run of this agent: its result "
                f"is not passed on. Submit that work again in this run (or build the agent with "
                f"unfinished_tasks='keep' to keep tasks across runs)"
            )
        ids = self._run_ids()
        known = f"this run's tasks are {', '.join(ids[:10])}{' ...' if len(ids) > 10 else ''}" if ids \
            else "no task was submitted in this run yet"
        raise InvalidArgumentError(
            f"{spelled} names no task: {name!r} is neither a task id nor a variable holding one ({known}). "
            f"The forms that work: {FORMS}"
        )

    def _as_id(self, value: str, *, exact: bool = False) -> str | None:
        """The task id ``value`` spells, if such a task was submitted (``exact``: no case or space forgiven)."""
        try:
            task_id = self._normalize(value)
        except InvalidArgumentError:
            return None
        if exact and task_id != value:
            return None
        return task_id if self._exists(task_id) else None


class _Lazy(Mapping):
    """The model's variables, read at the first lookup (``{}`` if the executor's state cannot be read)."""

    def __init__(self, read: Callable[[], Mapping[str, Any]]) -> None:
        self._read = read
        self._data: Mapping[str, Any] | None = None

    def _get(self) -> Mapping[str, Any]:
        if self._data is None:
            try:
                self._data = self._read() or {}
            except Exception:  # noqa: BLE001 - an executor whose state cannot be read: literal ids only
                self._data = {}
        return self._data

    def __getitem__(self, key: str) -> Any:
        return self._get()[key]

    def __iter__(self) -> Any:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())


class ResolvedCall:
    """Runs ``fn`` with text placeholders rendered and placeholder values checked against its inputs.

    The engine hands it the arguments with every ``ResultOf`` filled in; what was text
    becomes text again; a value from a whole-string placeholder that does not fit the
    tool's input fails the task with a reason naming the placeholder. Pickles if ``fn`` does.
    """

    def __init__(self, fn: Callable[..., Any], target: str, translation: Translation,
                 check: Callable[[str, Any], Any]) -> None:
        self.fn = fn
        self.target = target
        self.texts = translation.texts
        self.whole = translation.whole
        self.check = check
        self.__name__ = getattr(fn, "__name__", target)

    def __call__(self, **kwargs: Any) -> Any:
        for path, template in self.texts:
            kwargs = _with(kwargs, path, template.render(_get(kwargs, path)))
        for key, spelled, task_id in self.whole:
            try:
                kwargs[key] = self.check(key, kwargs[key])
            except InvalidArgumentError as exc:
                raise InvalidArgumentError(
                    f"{spelled!r} (the result of {task_id}) does not fit: {exc}. Get the result with "
                    f"get_task_results, convert it in your code, and submit again with the value"
                ) from None
        return self.fn(**kwargs)

    def unpack_remote(self, ok: bool, value: Any) -> tuple[bool, Any]:
        unpack = getattr(self.fn, "unpack_remote", None)
        return unpack(ok, value) if unpack is not None else (ok, value)

    def __repr__(self) -> str:
        return f"<ResolvedCall {self.target!r}>"


def _unescape(key: Any) -> Any:
    """A dict key with ``$$`` gets its literal ``$``, as values do (keys hold no placeholders)."""
    return key.replace("$$", "$") if isinstance(key, str) and "$$" in key else key


def _get(container: Any, path: Path) -> Any:
    for key in path:
        container = container[key]
    return container


def _with(container: Any, path: Path, value: Any) -> Any:
    """A copy of ``container`` with ``value`` at ``path``: what the engine handed over is never changed,
    so a retried attempt renders from the same values again."""
    if not path:
        return value
    key, rest = path[0], path[1:]
    if isinstance(container, dict):
        copy: Any = dict(container)
    else:
        copy = list(container)
    copy[key] = _with(container[key], rest, value)
    return tuple(copy) if isinstance(container, tuple) else copy
