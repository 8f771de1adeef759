"""The task service: registered tools and agents run on a ``TaskManager``; every status
change is written to the ``Store``; long-polls are woken when a record becomes final.

Knows nothing of HTTP: ``_app`` maps requests onto these methods.
Runs: each run's agent executes the model's code in a child process (``code_in_subprocess``,
on unless ``agent_kwargs`` give a ``python_executor``), so heavy arithmetic or a sleep in it
cannot stall the server; a run has a wall-clock limit (``run_timeout_seconds``), and a cancel
or the limit kills the child at once and frees the run's slot.

Ids come from the engine with a per-boot prefix (``t3_17`` is task 17 of the third
start on this store), so they never collide across restarts.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from ..engine import TaskInfo, TaskManager, TaskStatus
from ..engine import MAX_SECONDS, TaskObserver, check_name_resources, check_resources
from ..errors import InvalidArgumentError, UnknownTaskError
from ..tracing import default_observers
from ._encoding import encode_result, find_unstorable
from ._events import END, end_event, event_of
from ._registry import ParameterError, Registry
from ._store import FINAL, Store

_log = logging.getLogger(__name__)

__all__ = ["DEFAULT_RUN_TIMEOUT", "NotDeliverableError", "RunsUnavailableError", "TaskService"]

DEFAULT_RUN_TIMEOUT = 600.0  # seconds of wall-clock time per run, model calls included

_ENGINE_STATES = {"pending", "waiting", "running", "completed", "failed", "timeout", "cancelled"}


class RunsUnavailableError(RuntimeError):
    """``POST /runs`` on a server started without a model."""


class NotDeliverableError(RuntimeError):
    """An answer or message that reaches nobody: the task or run ended, waits for no answer, or is a
    tool task (the message says which)."""


_MAX_EARLY_MESSAGES = 100  # messages kept for a run that has not started
_FINAL_KINDS = frozenset(s.value for s in TaskStatus if s.is_final)


class _Persist(TaskObserver):
    """Writes the start of each attempt, and each event of a task's log (status changes, questions,
    progress notes), to the store. Final states arrive through ``add_done_callback`` (every task
    reaches one, even one cancelled before it started), which writes the record and its end event."""

    def __init__(self, service: TaskService, table: str) -> None:
        self.service, self.table = service, table

    def on_event(self, task_id: str, event: Any, info: TaskInfo | None) -> None:
        if event.kind in _FINAL_KINDS or event.kind == "message":
            return  # final: TaskService._done; messages: written (whole) by the service that delivered them
        with self.service._write_lock:
            if event.kind == "running":
                fields: dict[str, Any] = {"status": "running"}
                if self.table == "tasks":
                    fields["attempts"] = event.attempt
                if event.attempt <= 1:
                    fields["started_at"] = event.time
                self.service._write(self.table, task_id, fields)
            elif event.kind in ("waiting_for_input", "input_received"):
                status = "waiting_for_input" if event.kind == "waiting_for_input" else "running"
                self.service._write(self.table, task_id, {"status": status})
            self.service.add_event(task_id, *event_of(event))


class TaskService:
    """Runs registered tools/agents for REST callers and keeps their records durable."""

    def __init__(
        self,
        *,
        tools: Iterable[Any] = (),
        managed_agents: Iterable[Any] = (),
        model: Any = None,
        db_path: str = "async_agent.db",
        max_workers: int = 4,
        max_unfinished: int = 1000,
        max_result_bytes: int = 1_000_000,
        max_concurrent_runs: int = 1,
        agent_kwargs: dict[str, Any] | None = None,
        inline_result_bytes: int = 64_000,
        retain_finished: int | None = 10_000,
        retain_seconds: float | None = 7 * 86_400,
        run_timeout_seconds: float | None = DEFAULT_RUN_TIMEOUT,
        name_resources: dict[str, dict[str, float]] | None = None,
    ) -> None:
        run_timeout_seconds = _check_run_timeout(run_timeout_seconds)
        self.registry = Registry(tools, managed_agents)
        name_resources = check_name_resources(name_resources)
        unknown = sorted(set(name_resources) - set(self.registry.names))
        if unknown:
            raise InvalidArgumentError(f"name_resources names {', '.join(map(repr, unknown))}, which are not "
                                       f"registered here; registered: {', '.join(self.registry.names) or '(none)'}")
        self.model = model
        self.agent_kwargs = dict(agent_kwargs or {})
        if "python_executor" not in self.agent_kwargs:
            self.agent_kwargs.setdefault("code_in_subprocess", True)
        self.run_timeout_seconds = run_timeout_seconds
        self.max_result_bytes = max_result_bytes
        self.inline_result_bytes = inline_result_bytes
        self.retain_finished, self.retain_seconds = retain_finished, retain_seconds
        self.store = Store(db_path)
        self.store.prune(retain_finished, retain_seconds)
        self._finished_since_prune, self._last_prune = 0, time.monotonic()
        self._write_lock = threading.RLock()  # submit + insert, and observer writes, in order
        self._prune_lock = threading.Lock()
        self._final_wakers = _Wakers()  # long-polls waiting for a record to become final
        self._live_runs: dict[str, Any] = {}  # run id -> AsyncAgent while it runs
        self._run_inbox: dict[str, list[str]] = {}  # run id -> messages sent before its agent existed
        self._event_wakers = _Wakers()  # event streams waiting for a record's next event
        boot = self.store.boot
        self.manager = TaskManager(
            max_workers, max_unfinished=max_unfinished,
            max_finished=1000, result_ttl=300, observers=[*default_observers(), _Persist(self, "tasks")],
            id_prefix=f"t{boot}_", name_resources=name_resources,
        )
        self.run_manager = TaskManager(
            max_concurrent_runs, max_unfinished=max(10, max_unfinished // 10), max_finished=100, result_ttl=300,
            observers=[*default_observers(), _Persist(self, "runs")], id_prefix=f"r{boot}_",
        )
        from ..agent import InputRequests, Mailboxes

        self.mailboxes = Mailboxes()  # messages to managed-agent tasks (POST /tasks/{id}/messages)
        self.questions = InputRequests(self.manager)  # request_input() of tasks (POST /tasks/{id}/input)

    # ------------------------------------------------------------------ tasks

    def submit(self, task_type: str, description: str, parameters: dict[str, Any], priority: int,
               timeout_seconds: float | None, resources: dict[str, Any] | None = None) -> dict[str, Any]:
        """Check, queue and record a task; raises ``TaskTypeError``, ``ParameterError``, ``QueueFullError``.
        ``resources`` (``{"GPU": 1}``): what it needs; None: its name's default (``name_resources``)."""
        if resources is not None:
            try:
                resources = check_resources(resources)
            except InvalidArgumentError as exc:
                raise ParameterError("resources", str(exc)) from None
        for field, value in (("description", description), ("parameters", parameters)):
            problem = find_unstorable(value, field)
            if problem is not None:
                raise ParameterError(problem[0], f"{problem[0]} {problem[1]}")
        runnable = self.registry.resolve(task_type, description, parameters)
        from ..agent import live_scope

        with self._write_lock, live_scope(self.mailboxes, self.questions, self._note_progress):
            task_id = self.manager.submit(
                runnable.call, name=runnable.name, priority=priority, timeout=timeout_seconds,
                metadata={"task_type": runnable.kind, "description": description}, resources=resources,
            )
            info = self.manager.get(task_id)
            record = {
                "id": task_id, "task_type": task_type, "kind": runnable.kind, "description": description,
                "parameters": parameters, "priority": priority, "timeout_seconds": timeout_seconds,
                "status": info.status.value, "created_at": info.created_at, "started_at": info.started_at,
                "attempts": info.attempts, "result": None, "result_encoding": None, "error": None,
                "finished_at": None, "reason": "", "resources": info.resources,
            }
            if info.done:  # it ended before the record existed: write the end now (the callback's is a no-op)
                record.update(self._final_fields("tasks", info))
            self.store.insert_task(record)
            self.manager.add_done_callback(task_id, lambda info: self._done("tasks", info))
        return self.get(task_id)

    def get(self, task_id: str) -> dict[str, Any] | None:
        """The record; a result over ``inline_result_bytes`` is left out and named by ``result_url``."""
        return self._with_question(_with_result_url(self.store.get_task(task_id, self.inline_result_bytes)))

    def _with_question(self, record: dict[str, Any] | None) -> dict[str, Any] | None:
        if record is not None:
            record["question"] = self.questions.question(record["id"]) if record["status"] not in FINAL else None
        return record

    # ------------------------------------------------------------------ live: answers, messages, events

    def answer(self, task_id: str, text: Any) -> dict[str, Any] | None:
        """Answer the question task ``task_id`` waits on; None if the id is unknown. Raises
        ``InvalidArgumentError`` (bad text) or ``NotDeliverableError`` (it waits for no answer)."""
        return self._deliver(task_id, text, answer_only=True)

    def send_message(self, task_id: str, text: Any) -> dict[str, Any] | None:
        """A message to managed-agent task ``task_id`` (read at its next step), or the answer to the
        question it waits on; None if the id is unknown. Raises as ``answer``."""
        return self._deliver(task_id, text, answer_only=False)

    def _deliver(self, task_id: str, text: Any, *, answer_only: bool) -> dict[str, Any] | None:
        from ..agent import deliver_message, message_text

        record = self.get(task_id)
        if record is None:
            return None
        text = message_text(text)
        status = record["status"]
        if status in FINAL:
            raise NotDeliverableError(f"task {task_id} ({record['task_type']}) already ended ({status}); "
                                      "nothing reads answers or messages any more")
        if answer_only and not self.questions.is_open(task_id):
            raise NotDeliverableError(f"task {task_id} ({record['task_type']}) is not waiting for input (it is "
                                      f"{status}); answer only a task whose status is waiting_for_input")
        try:
            detail = deliver_message(self.manager, self.mailboxes, task_id, text, self.questions)
        except (InvalidArgumentError, UnknownTaskError) as exc:
            raise NotDeliverableError(str(exc).replace("send_message", "POST /tasks/{id}/messages")) from None
        kind = "answer" if detail.startswith("Answered") else "message"
        self.add_event(task_id, kind, {"time": time.time(), "text": text})
        return {"id": task_id, "delivered": kind, "detail": detail, "status": self.get(task_id)["status"]}

    def send_run_message(self, run_id: str, text: Any) -> dict[str, Any] | None:
        """A message to run ``run_id``'s coordinating model (a user message at its next step); None if
        the id is unknown. Raises ``InvalidArgumentError`` (bad text) or ``NotDeliverableError`` (ended)."""
        from ..agent import message_text

        record = self.store.get_run(run_id)
        if record is None:
            return None
        text = message_text(text)
        with self._write_lock:
            record = self.store.get_run(run_id)
            if record["status"] in FINAL:
                raise NotDeliverableError(f"run {run_id} already ended ({record['status']}); a message reaches "
                                          "only a run that has not finished. Start a new run with it")
            agent = self._live_runs.get(run_id)
            if agent is None:  # not started yet: its agent gets it when it is built
                inbox = self._run_inbox.setdefault(run_id, [])
                if len(inbox) >= _MAX_EARLY_MESSAGES:
                    raise NotDeliverableError(f"run {run_id} has not started and already has {len(inbox)} "
                                              "messages waiting; send more once it runs")
                inbox.append(text)
                detail = "Message queued for the run; its model reads it at its first step."
            else:
                try:
                    detail = agent.tell(text)
                except (InvalidArgumentError, RuntimeError) as exc:  # a full box; the agent shutting down
                    raise NotDeliverableError(f"run {run_id}: {exc}") from None
            self.add_event(run_id, "message", {"time": time.time(), "text": text})
        return {"id": run_id, "delivered": "message", "detail": detail, "status": record["status"]}

    def _note_progress(self, task_id: str, note: str) -> None:
        """The progress sink of service tasks: a note goes into the task's event log (and the store)."""
        with contextlib.suppress(Exception):  # a note must never fail the task
            self.manager.record_event(task_id, "progress", note)

    def add_event(self, key: str, kind: str, data: dict[str, Any] | str) -> None:
        """Append an event (``data``: a dict, or an end event's JSON text) and wake the streams of ``key``."""
        text = data if isinstance(data, str) else json.dumps({"id": key, **data}, ensure_ascii=False,
                                                             allow_nan=False, default=str)
        self.store.add_event(key, kind, text)
        self._event_wakers.wake(key)

    def events_after(self, key: str, after: int, limit: int) -> tuple[list[tuple[int, str, str]], bool]:
        return self.store.events_after(key, after, limit)

    def watch_events(self, key: str, wake: Callable[[], None]) -> None:
        """Call ``wake()`` (from any thread) whenever an event of ``key`` is stored."""
        self._event_wakers.add(key, wake)

    def unwatch_events(self, key: str, wake: Callable[[], None]) -> None:
        self._event_wakers.remove(key, wake)

    def list(self, status: str | None, limit: int, offset: int, max_bytes: int) -> dict[str, Any]:
        """A page of records, newest first, bounded by ``limit`` and about ``max_bytes``."""
        items, total = self.store.list_tasks(status, limit, offset, max_bytes=max_bytes,
                                             inline_bytes=self.inline_result_bytes)
        following = offset + len(items)
        return {"items": [self._with_question(_with_result_url(r)) for r in items], "total": total, "limit": limit, "offset": offset,
                "next_offset": following if following < total else None}

    def cancel(self, task_id: str) -> dict[str, Any] | None:
        """Cancel an unfinished task (idempotent); None if the id is unknown."""
        record = self.get(task_id)
        if record is None:
            return None
        if record["status"] not in FINAL:
            try:
                self.manager.cancel(task_id, reason="cancelled through the API (DELETE /tasks)")
            except UnknownTaskError:
                pass  # already final and pruned from memory: the store has it
            record = self.get(task_id)
        return record

    # ------------------------------------------------------------------ runs

    def start_run(self, prompt: str, max_steps: int | None) -> dict[str, Any]:
        """Queue an AsyncAgent run on ``prompt``; raises ``RunsUnavailableError`` without a model."""
        if self.model is None:
            raise RunsUnavailableError(
                "this server was started without a model, so it cannot run agents; "
                "start it with create_app(model=...) (or `async-agent serve --model module:attr`)")
        with self._write_lock:
            # A closure, not args: the run record keeps no copy of the prompt in its call.
            run_id = self.run_manager.submit(lambda: self._run_agent(prompt, max_steps), name="run",
                                             timeout=self.run_timeout_seconds)
            info = self.run_manager.get(run_id)
            record = {"id": run_id, "prompt": prompt, "status": info.status.value,
                      "created_at": info.created_at, "started_at": info.started_at}
            if info.done:
                record.update(self._final_fields("runs", info))
            self.store.insert_run(record)
            self.run_manager.add_done_callback(run_id, lambda info: self._done("runs", info))
        return self.get_run(run_id)

    def cancel_run(self, run_id: str) -> dict[str, Any] | None:
        """Cancel an unfinished run (idempotent): its agent stops at its next step and its
        subtasks are cancelled. None if the id is unknown."""
        record = self.store.get_run(run_id)
        if record is None:
            return None
        if record["status"] not in FINAL:
            with contextlib.suppress(UnknownTaskError):
                self.run_manager.cancel(run_id, reason="cancelled through the API (DELETE /runs)")
            record = self.store.get_run(run_id)
        return record

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        """The run's record; while it runs, its subtasks are read live from its agent."""
        record = self.store.get_run(run_id)
        agent = self._live_runs.get(run_id)
        if record is not None and agent is not None and record["status"] not in FINAL:
            record["subtasks"] = _subtasks(agent)
        return record

    def _run_agent(self, prompt: str, max_steps: int | None) -> dict[str, Any]:
        """In a run worker: a fresh AsyncAgent per run, run with the background-task guidance."""
        # The agent layer is imported only when runs are used.
        from smolagents.memory import ActionStep

        from ..agent import create_async_agent
        from ..engine import cancel_token, current_task

        run_id = current_task().task_id
        agent = create_async_agent(tools=self.registry.tools, managed_agents=self.registry.managed_agents,
                                   model=self.model, **self.agent_kwargs)
        with self._write_lock:
            self._live_runs[run_id] = agent
            for text in self._run_inbox.pop(run_id, ()):
                agent.tell(text)
        agent.agent.step_callbacks.register(ActionStep, lambda step, agent=None: self._note_run_step(run_id, step))
        token = cancel_token()
        if token is not None:  # cancelled or timed out: end its code now, stop the agent, cancel its subtasks
            token.add_callback(lambda reason: _end_run(agent, reason))
        try:
            run_kwargs = {} if max_steps is None else {"max_steps": max_steps}
            return {"output": agent.run_with_async_guidance(prompt, **run_kwargs)}
        finally:
            with self._write_lock:
                self._live_runs.pop(run_id, None)
                self._run_inbox.pop(run_id, None)
            summary = agent.last_run
            if summary is not None:
                usage = summary.usage
                self.store.update_run(
                    run_id, subtasks=[_subtask(info) for info in summary.tasks], steps=summary.steps,
                    token_usage={"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens,
                                 "total_tokens": usage.input_tokens + usage.output_tokens})
            agent.shutdown(wait=False)

    def _note_run_step(self, run_id: str, step: Any) -> None:
        with contextlib.suppress(Exception):  # progress must never stop the run
            self.run_manager.record_event(run_id, "progress", f"finished step {step.step_number}")

    # ------------------------------------------------------------------ waiting

    def watch(self, key: str, wake: Callable[[], None]) -> None:
        """Call ``wake()`` (from any thread) when the record ``key`` becomes final."""
        self._final_wakers.add(key, wake)

    def unwatch(self, key: str, wake: Callable[[], None]) -> None:
        self._final_wakers.remove(key, wake)

    # ------------------------------------------------------------------ status

    def health(self) -> dict[str, Any]:
        """Counts, and whether new work can start: ``overloaded`` (the queue is at its bound) or
        ``stalled`` (threads of timed-out or cancelled work that never returned hold every worker,
        so nothing queued can start) are unhealthy; ``problems`` says which and why."""
        stats = self.manager.get_statistics()
        available = _workers_available(self.manager, stats)
        overloaded = stats["unfinished"] >= self.manager.max_unfinished
        problems = []
        if overloaded:
            problems.append(f"the queue is full ({stats['unfinished']} unfinished tasks, max_unfinished "
                            f"{self.manager.max_unfinished}): new tasks are refused")
        if available == 0:
            problems.append(f"all {stats['max_workers']} workers are held by {stats['abandoned_threads']} threads "
                            "of tasks that timed out or were cancelled but never returned: no task can start")
        body: dict[str, Any] = {
            "problems": problems, "unfinished": stats["unfinished"],
            "max_unfinished": self.manager.max_unfinished, "running": stats["running"],
            "max_workers": stats["max_workers"], "workers_available": available,
            "abandoned_threads": stats["abandoned_threads"],
            "counts": {s: stats[s] for s in sorted(_ENGINE_STATES)},
        }
        if self.model is not None:
            body["runs_available"] = _workers_available(self.run_manager, self.run_manager.get_statistics())
            if body["runs_available"] == 0:
                problems.append("every run slot is held by a run that ended but whose thread never returned: "
                                "no run can start")
        body["status"] = "overloaded" if overloaded else ("stalled" if problems else "ok")
        return body

    def close(self) -> None:
        """Cancel what is unfinished (recorded as cancelled), stop the managers, close the store."""
        for manager in (self.run_manager, self.manager):
            manager.shutdown(wait=False, cancel_pending=True)
            for info in manager.tasks(status="running"):
                manager.cancel(info.id, reason="the server shut down while it was running")
        self.store.close()

    # ------------------------------------------------------------------ helpers

    def _done(self, table: str, info: TaskInfo) -> None:
        """A task or run reached its final state: write it, then wake its long-polls. Whatever
        the result holds, the record is finalized (worst case as failed, naming why)."""
        fields: dict[str, Any] = {"status": info.status.value, "reason": info.reason}
        try:
            fields = self._final_fields(table, info)
            agent = self._live_runs.get(info.id) if table == "runs" else None
            if agent is not None:  # ended while its agent still runs (cancel, timeout): keep what it did
                fields["subtasks"] = _subtasks(agent)
            self._write(table, info.id, fields)
        except Exception as exc:  # noqa: BLE001 - a record must never stay unfinished
            _log.exception("could not record the end of %s", info.id)
            fields = {
                "status": "failed", "finished_at": info.finished_at or time.time(),
                "reason": f"it ended ({info.status.value}) but its outcome could not be stored",
                "error": {"type": type(exc).__name__, "message": f"the outcome could not be stored: {exc}"}}
            self._write(table, info.id, fields)
        finally:
            url = f"/tasks/{info.id}/result" if table == "tasks" else f"/runs/{info.id}"
            with contextlib.suppress(Exception):  # the record is written; a stream then ends on its status
                self.add_event(info.id, END, end_event(info.id, fields, url))
            self._final_wakers.wake(info.id)
        self._maybe_prune()

    def _write(self, table: str, key: str, fields: dict[str, Any]) -> None:
        with self._write_lock:
            if table == "tasks":
                self.store.update_task(key, **fields)
            else:
                self.store.update_run(key, **fields)

    def _maybe_prune(self) -> None:
        """Retention, every 100 finished records (fewer for a small ``retain_finished``) or every
        60 s, in the thread that finished one."""
        with self._prune_lock:
            self._finished_since_prune += 1
            every = 100 if self.retain_finished is None else max(1, min(100, self.retain_finished // 10))
            due = self._finished_since_prune >= every or time.monotonic() - self._last_prune > 60
            if due:
                self._finished_since_prune, self._last_prune = 0, time.monotonic()
        if due:
            try:
                with self._write_lock:  # not between a task's first events and its record (see submit)
                    self.store.prune(self.retain_finished, self.retain_seconds)
            except Exception:  # noqa: BLE001 - retention is housekeeping; the next round retries
                _log.exception("pruning finished records failed")

    def _final_fields(self, table: str, info: TaskInfo) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "status": info.status.value, "reason": info.reason, "finished_at": info.finished_at,
            "error": None if info.error is None else {"type": info.error.type, "message": info.error.message},
        }
        if table == "tasks":
            fields["attempts"] = info.attempts
            if info.status.value == "completed":
                fields["result"], fields["result_encoding"] = encode_result(info.result, self.max_result_bytes)
        elif info.status.value == "completed":
            output = info.result["output"]
            fields["final_answer"], fields["answer_encoding"] = encode_result(output, self.max_result_bytes)
        return fields


class _Wakers:
    """Wake-up callbacks by record key: added and removed by waiters, called from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_key: dict[str, list[Callable[[], None]]] = {}

    def add(self, key: str, wake: Callable[[], None]) -> None:
        with self._lock:
            self._by_key.setdefault(key, []).append(wake)

    def remove(self, key: str, wake: Callable[[], None]) -> None:
        with self._lock:
            wakes = self._by_key.get(key)
            if wakes and wake in wakes:
                wakes.remove(wake)
                if not wakes:
                    del self._by_key[key]

    def wake(self, key: str) -> None:
        with self._lock:
            wakes = list(self._by_key.get(key, ()))
        for wake in wakes:
            wake()


def _with_result_url(record: dict[str, Any] | None) -> dict[str, Any] | None:
    """A record whose result was left out (too big to inline) names the route that serves it."""
    if record is not None:
        omitted = record["result"] is None and record.get("result_bytes") and record["status"] == "completed"
        record["result_url"] = f"/tasks/{record['id']}/result" if omitted else None
    return record


def _workers_available(manager: TaskManager, stats: dict[str, Any]) -> int:
    """Workers that could start a task now or once a running one ends: the engine's pool
    holds ``max_workers`` plus spare threads, and abandoned threads use the spare first."""
    capacity = manager.executor.capacity
    if capacity is None:
        return stats["max_workers"]
    return max(0, min(stats["max_workers"], capacity - stats["abandoned_threads"]))


def _check_run_timeout(value: Any) -> float | None:
    """None (no limit) or a positive number of seconds up to ``MAX_SECONDS``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= MAX_SECONDS:
        raise InvalidArgumentError(f"run_timeout_seconds must be a number of seconds > 0 and <= {MAX_SECONDS:.0f} (one year), "
                         f"or None for no limit, got {value!r}")
    return float(value)


def _end_run(agent: Any, reason: str) -> None:
    """From the cancelling thread: kill the run's code process (if any), stop the agent, cancel its tasks."""
    agent.interrupt(reason)
    agent.shutdown(wait=False)


def _subtasks(agent: Any) -> list[dict[str, Any]]:
    """The running agent's background tasks, oldest first."""
    return [_subtask(info) for info in reversed(agent.task_manager.tasks())]


def _subtask(info: TaskInfo) -> dict[str, Any]:
    return {"id": info.id, "name": info.name, "status": info.status.value, "reason": info.reason,
            "run_time": info.run_time}
