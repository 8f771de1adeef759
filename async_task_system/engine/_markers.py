"""Passing a dependency's result into a task's arguments: the ``ResultOf`` marker.

Where a marker is recognised:

* as an argument itself: an item of ``args``, a value of ``kwargs``;
* at any depth inside plain ``list``, ``tuple`` and ``dict`` (values) found there.

Those three types are rebuilt with the results in place, once each (shared containers stay
shared); every container that holds no marker is passed as the very same object. A marker
inside a type the engine does not rebuild (``set``, ``frozenset``, a dict *key*, a subclass of
list/tuple/dict such as a namedtuple, ``defaultdict`` or ``OrderedDict``), or inside a
container that contains itself, is refused at submit. Other objects are not looked into.

Strings are never scanned or rewritten: spellings such as ``"$t1"`` belong to the layer
that reads them (the agent layer turns them into markers).

Cost: a marker registers itself while it exists (``live_markers()``); while no marker exists
in the process no argument can hold one, so ``submit`` does not look at its arguments at
all. Otherwise the scan looks only into containers and skips a container whose items are
all of types that cannot hold a marker (``set(map(type, items))``, at C speed).
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from ..errors import InvalidArgumentError

__all__ = ["ResultOf", "MarkerPlan", "live_markers", "find_markers", "resolve_markers"]

_live: weakref.WeakValueDictionary[int, ResultOf] = weakref.WeakValueDictionary()
_serial = itertools.count()


@dataclass(frozen=True, slots=True, weakref_slot=True)
class ResultOf:
    """Stands for the result of task ``task_id`` in another task's arguments (and adds the dependency)."""

    task_id: str

    def __post_init__(self) -> None:
        if not isinstance(self.task_id, str):
            raise InvalidArgumentError(
                f"ResultOf takes a task id (str) such as 't1', got {type(self.task_id).__name__}"
            )
        if type(self.task_id) is not str:  # a str subclass: its __hash__/__eq__ must never run under the lock
            object.__setattr__(self, "task_id", str.__str__(self.task_id))
        _live[next(_serial)] = self

    def __reduce__(self) -> tuple[type[ResultOf], tuple[str]]:
        # A copy or an unpickled marker is built through __init__, so it registers as live:
        # otherwise, with no other marker alive, submit would skip the scan and pass it literally.
        return (ResultOf, (self.task_id,))


def live_markers() -> int:
    """How many ``ResultOf`` objects exist in this process (0 means no argument can hold one)."""
    return len(_live)


_REBUILT = (list, tuple, dict)
# Containers looked into: markers found inside those not rebuilt are refused.
_SEEN_INTO = (list, tuple, dict, set, frozenset)


class MarkerPlan(NamedTuple):
    """Where a task's arguments hold markers: the ids they name, the containers to rebuild."""

    task_ids: tuple[str, ...]
    holders: frozenset[int]  # id() of every list/tuple/dict that holds a marker, at any depth


def _may_hold(kind: type) -> bool:
    return kind is ResultOf or issubclass(kind, (ResultOf, *_SEEN_INTO))


def _interesting(items: Any) -> bool:
    """Whether any of ``items`` may be or hold a marker (one C-speed pass over their types)."""
    return any(_may_hold(kind) for kind in set(map(type, items)))


def _entries(value: Any) -> list[tuple[Any, Any, bool]]:
    """(key, child, rebuildable-place) for the children of a container worth looking at."""
    kind = type(value)
    if isinstance(value, Mapping):
        out = []
        if _interesting(value.values()):
            out += [(k, v, kind is dict) for k, v in value.items() if _may_hold(type(v))]
        if _interesting(value.keys()):
            out += [("<key>", k, False) for k in value.keys() if _may_hold(type(k))]
        return out
    if not _interesting(value):
        return []
    rebuilt = kind is list or kind is tuple
    return [(i, v, rebuilt) for i, v in enumerate(value) if _may_hold(type(v))]


def _path(frames: list[list[Any]], key: Any) -> str:
    """Where a marker sits, as ``args[0]['x']`` (keys of other types are named by type)."""
    keys = [frame[3] for frame in frames[2:]] + [key]
    where = frames[1][3] if len(frames) > 1 else key
    if len(frames) == 1:
        keys = []
    text = str(where)
    for part in keys:
        if part == "<key>":
            text += " (as a dict key)"
        elif type(part) in (int, str):
            text += f"[{part!r}]"
        else:
            text += f"[<{type(part).__name__}>]"
    return text[:200]


def find_markers(args: tuple[Any, ...], kwargs: dict[str, Any]) -> MarkerPlan | None:
    """Where ``args``/``kwargs`` hold markers, or None if nowhere. Raises ``InvalidArgumentError``
    for a marker where it cannot be resolved. Iterative: 10,000-deep nesting is fine."""
    if not _live:
        return None
    root = (args, kwargs)
    ids: dict[str, None] = {}
    holders: set[int] = set()
    done: dict[int, bool] = {}  # id -> holds a marker
    on_path: set[int] = {id(root)}
    back_edges: set[int] = set()
    # frame: [container, entries iterator, holds a marker, key in parent, rebuildable place]
    frames: list[list[Any]] = [[root, iter([("args", args, True), ("kwargs", kwargs, True)]), False, None, True]]
    while frames:
        frame = frames[-1]
        for key, child, rebuildable in frame[1]:
            if isinstance(child, ResultOf):
                if not rebuildable or type(child) is not ResultOf:
                    where = type(frame[0]).__name__ if key != "<key>" else "dict key"
                    raise InvalidArgumentError(
                        f"a ResultOf marker at {_path(frames, key)} is inside a {where}, which the "
                        "engine does not rebuild; markers are resolved only as an argument or inside plain "
                        "list, tuple and dict values: convert the container (e.g. list(...)), or pass the "
                        "result in through depends_on and read it in the task"
                    )
                ids[child.task_id] = None
                frame[2] = True
                continue
            cid = id(child)
            if cid in on_path:
                back_edges.add(cid)
                continue
            if cid in done:
                frame[2] = frame[2] or done[cid]
                continue
            on_path.add(cid)
            frames.append([child, iter(_entries(child)), False, key, rebuildable])
            break
        else:
            frames.pop()
            node, _, holds, key, rebuildable = frame
            on_path.discard(id(node))
            done[id(node)] = holds
            if holds:
                if type(node) not in _REBUILT or not rebuildable:
                    if type(node) in _REBUILT:  # a plain container in a place not rebuilt: name the place
                        where = "dict key" if key == "<key>" else type(frames[-1][0]).__name__
                    else:
                        where = type(node).__name__
                    raise InvalidArgumentError(
                        f"a ResultOf marker is inside a {where} at {_path(frames, key)}, "
                        "which the engine does not rebuild; markers are resolved only as an argument or "
                        "inside plain list, tuple and dict values: convert it (e.g. list(...)) first"
                    )
                holders.add(id(node))
                if frames:
                    frames[-1][2] = True
    if not ids:
        return None
    if back_edges & holders:
        raise InvalidArgumentError(
            "the arguments hold a ResultOf marker inside a container that contains itself; such a "
            "value cannot be rebuilt with the result in place: pass the result without the cycle"
        )
    holders.discard(id(root))
    return MarkerPlan(tuple(ids), frozenset(holders))


def _children(node: Any) -> Any:
    return node.items() if type(node) is dict else enumerate(node)


def _build(node: Any, out: list[tuple[Any, Any]]) -> Any:
    kind = type(node)
    if kind is dict:
        return dict(out)
    values = [value for _, value in out]
    return values if kind is list else tuple(values)


def resolve_markers(value: Any, plan: MarkerPlan, results: Mapping[str, Any]) -> Any:
    """``value`` with each marker replaced by its result; only the containers in ``plan`` are
    rebuilt (once each), the rest is passed as the same objects. Iterative."""
    if isinstance(value, ResultOf):
        return results[value.task_id]
    holders = plan.holders
    if id(value) not in holders:
        return value
    memo: dict[int, Any] = {}
    # frame: [container, children iterator, rebuilt entries, key awaiting a child]
    frames: list[list[Any]] = [[value, iter(_children(value)), [], None]]
    while frames:
        frame = frames[-1]
        out = frame[2]
        for key, child in frame[1]:
            if isinstance(child, ResultOf):
                out.append((key, results[child.task_id]))
                continue
            cid = id(child)
            if cid in holders:
                if cid in memo:
                    out.append((key, memo[cid]))
                    continue
                frame[3] = key
                frames.append([child, iter(_children(child)), [], None])
                break
            out.append((key, child))
        else:
            frames.pop()
            built = memo[id(frame[0])] = _build(frame[0], out)
            if not frames:
                return built
            frames[-1][2].append((frames[-1][3], built))
    raise AssertionError("unreachable")  # pragma: no cover
