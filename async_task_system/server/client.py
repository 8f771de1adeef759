"""A small Python client for the task service (httpx). ``wait()`` long-polls: no busy polling."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

__all__ = ["Event", "ServiceError", "TaskClient"]

FINAL = frozenset({"completed", "failed", "timeout", "cancelled", "lost"})


class ServiceError(Exception):
    """The service answered with an error: ``status_code`` and its JSON ``body`` (``error``, ``message``)."""

    def __init__(self, status_code: int, body: dict[str, Any]) -> None:
        super().__init__(f"{status_code} {body.get('error', '')}: {body.get('message', body)}")
        self.status_code, self.body = status_code, body


@dataclass(frozen=True)
class Event:
    """One event of a task's or run's stream: ``id`` (resume after it), ``kind`` (status, question,
    answer, message, progress, end...) and ``data`` (its JSON object)."""

    id: int
    kind: str
    data: dict[str, Any]


class TaskClient:
    """Talks to one task service. ``token`` defaults to the ``ASYNC_AGENT_TOKEN`` environment variable.

    >>> with TaskClient("http://127.0.0.1:8000") as client:            # doctest: +SKIP
    ...     task = client.submit("add", {"a": 1, "b": 2})
    ...     client.wait(task["id"])["result"]
    3
    """

    def __init__(self, base_url: str, token: str | None = None, *, timeout: float = 30.0,
                 max_poll_seconds: float = 30.0, retries: int = 4, max_backoff_seconds: float = 10.0) -> None:
        token = token if token is not None else os.environ.get("ASYNC_AGENT_TOKEN")
        token = token.rstrip("\r\n") if token else token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.max_poll_seconds = max_poll_seconds
        self.retries, self.max_backoff_seconds = retries, max_backoff_seconds
        self._http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout + max_poll_seconds)

    def submit(self, task_type: str, parameters: dict[str, Any] | None = None, *, description: str = "",
               priority: int = 1, timeout_seconds: float | None = None) -> dict[str, Any]:
        """Queue a task; returns its record (``id``, ``status``...)."""
        body = {"task_type": task_type, "description": description, "parameters": parameters or {},
                "priority": priority, "timeout_seconds": timeout_seconds}
        return self._call("POST", "/tasks", json=body)

    def get(self, task_id: str, wait: float = 0) -> dict[str, Any]:
        """The task's record; with ``wait``, one long-poll of up to that many seconds."""
        return self._call("GET", f"/tasks/{task_id}", params={"wait": wait} if wait else None)

    def list(self, status: str | None = None, *, limit: int = 50, offset: int = 0) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if status:
            params["status"] = status
        return self._call("GET", "/tasks", params=params)

    def cancel(self, task_id: str) -> dict[str, Any]:
        return self._call("DELETE", f"/tasks/{task_id}")

    def result(self, task_id: str) -> Any:
        """A completed task's result alone (``GET /tasks/{id}/result``), however big."""
        return self._call("GET", f"/tasks/{task_id}/result")

    def wait(self, task_id: str, timeout: float | None = None) -> dict[str, Any]:
        """Block until the task ends and return its record, with its result even when it was too
        big to inline; ``TimeoutError`` after ``timeout`` seconds."""
        record = self._wait(f"/tasks/{task_id}", timeout)
        if record.get("result_url"):
            record["result"] = self._call("GET", record["result_url"])
        return record

    def start_run(self, prompt: str, *, max_steps: int | None = None) -> dict[str, Any]:
        """Start an AsyncAgent run on the server; returns its record."""
        return self._call("POST", "/runs", json={"prompt": prompt, "max_steps": max_steps})

    def get_run(self, run_id: str, wait: float = 0) -> dict[str, Any]:
        """The run's record (status, subtasks so far...); with ``wait``, one long-poll."""
        return self._call("GET", f"/runs/{run_id}", params={"wait": wait} if wait else None)

    def cancel_run(self, run_id: str) -> dict[str, Any]:
        return self._call("DELETE", f"/runs/{run_id}")

    def wait_run(self, run_id: str, timeout: float | None = None) -> dict[str, Any]:
        return self._wait(f"/runs/{run_id}", timeout)

    def answer(self, task_id: str, text: str) -> dict[str, Any]:
        """Answer the question a task waits on (``waiting_for_input``); ``ServiceError`` 409 if none."""
        return self._call("POST", f"/tasks/{task_id}/input", json={"text": text})

    def send_message(self, task_id: str, text: str) -> dict[str, Any]:
        """A message to a running managed-agent task (read at its next step), or the answer it waits for."""
        return self._call("POST", f"/tasks/{task_id}/messages", json={"text": text})

    def send_run_message(self, run_id: str, text: str) -> dict[str, Any]:
        """A message to a run's coordinating model (a user message at its next step)."""
        return self._call("POST", f"/runs/{run_id}/messages", json={"text": text})

    def events(self, task_id: str, last_event_id: int | None = None, *, reconnects: int = 10) -> Iterator[Event]:
        """The task's events as they happen, after ``last_event_id``, until its ``end`` event; a dropped
        connection is resumed (``Last-Event-ID``) up to ``reconnects`` times in a row, so no event is
        lost or repeated."""
        return self._events(f"/tasks/{task_id}/events", last_event_id, reconnects)

    def run_events(self, run_id: str, last_event_id: int | None = None, *, reconnects: int = 10) -> Iterator[Event]:
        """A run's events (status, messages, steps, end), as ``events``."""
        return self._events(f"/runs/{run_id}/events", last_event_id, reconnects)

    def _events(self, path: str, last: int | None, reconnects: int) -> Iterator[Event]:
        failures = 0
        while True:
            headers = {"Accept": "text/event-stream"}
            if last is not None:
                headers["Last-Event-ID"] = str(last)
            try:
                with self._http.stream("GET", path, headers=headers) as response:
                    if response.status_code >= 400:
                        response.read()
                        raise ServiceError(response.status_code, _body(response))
                    for event in parse_sse(response.iter_lines()):
                        failures = 0
                        last = event.id
                        yield event
                        if event.kind == "end":
                            return
            except (httpx.TransportError, httpx.RemoteProtocolError):
                failures += 1
                if failures > reconnects:
                    raise
                time.sleep(min(0.2 * 2 ** failures, self.max_backoff_seconds))
            # the stream ended without an end event (the server bounds a stream's life): resume

    def health(self) -> dict[str, Any]:
        """The health body; 200 and 503 (overloaded or stalled: see ``problems``) both return it."""
        response = self._http.get("/health")
        if response.status_code not in (200, 503):
            raise ServiceError(response.status_code, _body(response))
        return response.json()

    def _wait(self, path: str, timeout: float | None) -> dict[str, Any]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = self.max_poll_seconds if deadline is None else deadline - time.monotonic()
            record = self._call("GET", path, params={"wait": round(max(0.0, min(left, self.max_poll_seconds)), 3)})
            if record["status"] in FINAL:
                return record
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"{path} is still {record['status']} after {timeout}s")

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        """One request; a 503 (nothing was done: queue full or no worker free) is retried up to
        ``retries`` times, after the server's ``Retry-After`` or an exponential backoff."""
        for attempt in range(self.retries + 1):
            response = self._http.request(method, path, **kwargs)
            if response.status_code != 503 or attempt == self.retries:
                break
            time.sleep(retry_delay(response.headers.get("retry-after"), attempt, self.max_backoff_seconds))
        if response.status_code >= 400:
            raise ServiceError(response.status_code, _body(response))
        return response.json()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> TaskClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def retry_delay(retry_after: str | None, attempt: int, cap: float) -> float:
    """Seconds before retry ``attempt`` (0-based): the server's ``Retry-After`` if it gave a
    number, else 0.5 s doubling; never over ``cap``."""
    try:
        delay = float(retry_after) if retry_after is not None else 0.5 * 2 ** attempt
    except ValueError:  # an HTTP date, or garbage: back off on our own
        delay = 0.5 * 2 ** attempt
    return max(0.0, min(delay if delay == delay else cap, cap))


def parse_sse(lines: Iterator[str]) -> Iterator[Event]:
    """Events from the lines of a ``text/event-stream`` (comments and ``retry:`` skipped)."""
    fields: dict[str, str] = {}
    data: list[str] = []
    for line in lines:
        if not line:
            if data and "id" in fields:
                yield Event(int(fields["id"]), fields.get("event", "message"), json.loads("\n".join(data)))
            fields, data = {}, []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            data.append(value)
        elif name in ("id", "event"):
            fields[name] = value


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"error": "not_json", "message": response.text[:500]}
    return body if isinstance(body, dict) else {"error": "unexpected", "message": str(body)[:500]}
