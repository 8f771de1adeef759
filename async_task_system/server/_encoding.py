"""What a record can hold: JSON that is valid UTF-8, of bounded depth and size.

Inputs that break these rules are refused (``find_unstorable``, a 422 naming the field);
results and error texts, which the caller did not write, are stored anyway, escaped and
marked (``encode_result``, ``clean_text``), so no value can lose or freeze a record.
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["MAX_DEPTH", "clean_text", "encode_result", "find_unstorable", "to_json"]

MAX_DEPTH = 64  # containers inside containers; far beyond real tool inputs, far below the recursion limit


def find_unstorable(value: Any, field: str) -> tuple[str, str] | None:
    """``(path, problem)`` of the first string that is not valid Unicode text (a lone
    surrogate), number that is NaN or infinite, or nesting deeper than ``MAX_DEPTH``;
    None if ``value`` can be stored as JSON."""
    stack: list[tuple[Any, str, str, int]] = [(value, field, field, 0)]  # worklist, not recursion
    while stack:
        item, path, top, depth = stack.pop()  # top: the input the item sits in (named for deep values)
        if isinstance(item, str):
            bad = _lone_surrogate(item)
            if bad is not None:
                return path, (f"contains the lone surrogate U+{ord(bad):04X}, which is not text (send UTF-8 "
                              "text; a surrogate pair must be complete, or base64-encode binary data)")
        elif isinstance(item, float) and not math.isfinite(item):
            return path, f"is {item}, which JSON cannot carry (send a finite number, or a string)"
        elif isinstance(item, (dict, list)):
            if depth >= MAX_DEPTH:
                return top, f"is nested deeper than {MAX_DEPTH} levels of arrays/objects"
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in pairs:
                if isinstance(key, str) and _lone_surrogate(key) is not None:
                    return path, f"has a key with a lone surrogate U+{ord(_lone_surrogate(key)):04X}"
                child_path = f"{path}.{key}"
                stack.append((child, child_path, child_path if depth == 0 else top, depth + 1))
    return None


def encode_result(value: Any, max_bytes: int) -> tuple[str, str]:
    """``(json_text, encoding)`` for any value, never raising:

    - ``json``: the value as returned;
    - ``escaped``: JSON whose strings held lone surrogates, written as ``\\udXXX`` text;
    - ``repr``: not JSON (a set, NaN, an object, or nesting over ``MAX_DEPTH``): its ``repr()``;
    - ``truncated``: over ``max_bytes``, cut with a note.
    """
    text, encoding = _as_json(value)
    if text is None:
        text, encoding = json.dumps(clean_text(_safe_repr(value)), ensure_ascii=False), "repr"
    if len(text.encode()) > max_bytes:
        shown = (text if encoding in ("json", "escaped") else json.loads(text))[: max_bytes // 4]
        text = json.dumps(clean_text(f"{shown}... [cut: the result was over {max_bytes} bytes]"), ensure_ascii=False)
        encoding = "truncated"
    return text, encoding


def clean_text(text: str) -> str:
    """``text`` with each lone surrogate written as its ``\\udXXX`` escape (storable UTF-8)."""
    return text if _lone_surrogate(text) is None else text.encode("utf-8", "backslashreplace").decode("utf-8")


def to_json(value: Any) -> str | None:
    """JSON text of a value this service built (error info, subtasks, usage); None stays None."""
    if value is None:
        return None
    text, _ = _as_json(value)
    return text if text is not None else json.dumps(clean_text(_safe_repr(value)))


def _as_json(value: Any) -> tuple[str | None, str]:
    if find_unstorable_depth(value):
        return None, "repr"
    try:
        text = json.dumps(value, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return None, "repr"
    if _lone_surrogate(text) is None:
        return text, "json"
    return json.dumps(_escaped(value), allow_nan=False, ensure_ascii=False), "escaped"


def find_unstorable_depth(value: Any) -> bool:
    """True if ``value`` nests containers deeper than ``MAX_DEPTH`` (checked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list, tuple)):
            if depth >= MAX_DEPTH:
                return True
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False


def _escaped(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(k) if isinstance(k, str) else k: _escaped(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_escaped(v) for v in value]
    return value


def _lone_surrogate(text: str) -> str | None:
    try:
        text.encode("utf-8")
        return None
    except UnicodeEncodeError as exc:
        return text[exc.start]


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except BaseException as exc:  # noqa: BLE001 - a broken __repr__ (even one raising SystemExit) must not lose the record
        try:
            return f"<unrepresentable {type(value).__name__}: {type(exc).__name__}>"
        except BaseException:  # noqa: BLE001 - a type whose name cannot be read
            return "<unrepresentable value>"
