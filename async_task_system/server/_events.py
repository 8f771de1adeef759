"""A task's or run's event log as the service stores and streams it (Server-Sent Events).

Each stored event has a sequence number (the SSE ``id:``, unique across the store, growing),
a kind (the SSE ``event:``) and a JSON object (the SSE ``data:``, one line) that always holds
``id`` (the task or run) and ``time``. Kinds:

- ``status``: ``status`` (pending, waiting, running, ...), ``reason``, ``attempt``
- ``question``: the task waits for input; ``question``. An ``answer`` and a ``status`` running follow
  (in either order: the answer wakes the task's thread while the service records it)
- ``answer`` / ``message``: ``text``, what was sent through the service
- ``progress``: ``note``, from ``report_progress`` or a sub-agent's step
- ``end``: the last event: ``status`` (final), ``reason``, ``error``, and the result (``result`` and
  ``result_encoding``; for a run ``final_answer``) when it is at most ``INLINE_EVENT_BYTES``, else
  ``result_url`` naming where it is served.
"""

from __future__ import annotations

import json
import time
from typing import Any

__all__ = ["INLINE_EVENT_BYTES", "END", "end_event", "event_of", "sse_frame"]

END = "end"
#: the largest result (JSON text, bytes) an end event carries; bigger ones are named by result_url
INLINE_EVENT_BYTES = 16_000

_STATUS_KINDS = frozenset({"pending", "waiting", "running", "retry_scheduled"})


def event_of(event: Any) -> tuple[str, dict[str, Any]]:
    """``(kind, data)`` for an engine ``TaskEvent`` (a status change or an annotation)."""
    data: dict[str, Any] = {"time": event.time}
    if event.kind == "waiting_for_input":
        return "question", {**data, "status": "waiting_for_input", "question": event.reason}
    if event.kind == "input_received":
        return "status", {**data, "status": "running", "reason": event.reason, "attempt": event.attempt}
    if event.kind == "progress":
        return "progress", {**data, "note": event.reason}
    if event.kind in _STATUS_KINDS:
        return "status", {**data, "status": event.kind, "reason": event.reason, "attempt": event.attempt}
    return event.kind, {**data, "reason": event.reason}  # retries, late results, other annotations


def end_event(key: str, fields: dict[str, Any], url: str) -> str:
    """The end event's JSON text from a record's final ``fields``; the result (already JSON text)
    inline when small, else ``result_url`` (``url``)."""
    data = {"id": key, "time": fields.get("finished_at") or time.time(), "status": fields.get("status"),
            "reason": fields.get("reason", ""), "error": fields.get("error")}
    text = json.dumps(data, ensure_ascii=False, allow_nan=False)[:-1]
    for name, encoding in (("result", "result_encoding"), ("final_answer", "answer_encoding")):
        value = fields.get(name)
        if value is None:
            continue
        if len(value.encode("utf-8", "surrogatepass")) <= INLINE_EVENT_BYTES:
            return f'{text}, "{name}": {value}, "result_encoding": {json.dumps(fields.get(encoding))}}}'
        return f'{text}, "result_url": {json.dumps(url)}}}'
    return text + "}"


def sse_frame(seq: int, kind: str, data_json: str) -> bytes:
    """One SSE event; ``data_json`` is one line of JSON (json.dumps escapes newlines)."""
    return f"id: {seq}\nevent: {kind}\ndata: {data_json}\n\n".encode("utf-8", "backslashreplace")
