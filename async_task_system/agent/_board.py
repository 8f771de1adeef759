"""The agent's task board: what the model-facing tools do, on one TaskManager.

Every method checks what the model wrote, forgives harmless variations and answers
in short text written for a model. Everything that blocks is bounded by
``Limits.max_wait_seconds``; every report returned into the model's context is bounded
by ``Limits.max_report_chars`` (results previewed at ``max_result_chars`` each, tasks
named at ``max_listed_tasks`` per line), while code gets results whole.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..engine import FINAL_STATES, TaskInfo, TaskManager, TaskStatus, check_seconds
from ..errors import InvalidArgumentError, UnknownTaskError
from ._observation import NoResult, TaskResults, clip, preview
from ._placeholders import Placeholders, ResolvedCall
from ._registry import TaskRegistry, normalize_task_id, normalize_task_ids

__all__ = ["Limits", "TaskBoard", "NoResult", "TaskListing"]

_RETURN_WHEN = {"all": "ALL_COMPLETED", "all_completed": "ALL_COMPLETED", "any": "FIRST_COMPLETED",
                "first": "FIRST_COMPLETED", "first_completed": "FIRST_COMPLETED"}
_TYPE_ALIASES = ("type", "kind", "task_kind")
_NAME_ALIASES = ("tool_name", "agent_name", "task_name", "tool", "agent", "function")
_ARGS_ALIASES = ("arguments", "params", "parameters", "kwargs", "inputs", "tool_args", "task_args", "input")
_STATUS_FILTERS = {"finished": FINAL_STATES, "done": FINAL_STATES,
                   "unfinished": frozenset(TaskStatus) - FINAL_STATES}


@dataclass(frozen=True)
class Limits:
    """Bounds on what the model's calls may cost in time and context."""

    #: the longest one call may block (wait_for_tasks, sleep), in seconds
    max_wait_seconds: float = 30.0
    #: the most characters of one result shown in a preview (print(results), check_task); code gets it whole
    max_result_chars: int = 4000
    #: the most tasks listed by list_tasks or named per line of a wait report
    max_listed_tasks: int = 20
    #: the most characters one call puts into the context: a report, a results preview, an error it raises
    max_report_chars: int = 8000

    def __post_init__(self) -> None:
        # bounded: the tools' descriptions format it as a float (10**400 raised OverflowError there)
        check_seconds("max_wait_seconds", self.max_wait_seconds, allow_none=False)
        for name in ("max_result_chars", "max_listed_tasks", "max_report_chars"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidArgumentError(f"{name} must be an int >= 1, got {value!r}")


class TaskListing(str):
    """What ``list_tasks`` returns: text, one line per task; indexing it says so instead of giving a letter."""

    def __getitem__(self, key: Any) -> str:
        if isinstance(key, slice):
            return str.__getitem__(self, key)
        raise TypeError(
            "list_tasks() returns text (one line per task), not a list: print(list_tasks()) to read it; "
            "for results use get_task_results() (a dict by task id)"
        )


def _seconds(name: str, value: Any, *, allow_zero: bool = True, cap: bool = True) -> float:
    """A number of seconds from the model: also written as text ('5', '5s'); ``cap``: a huge or
    infinite one means as long as allowed (every wait is bounded anyway). The check is the engine's."""
    if isinstance(value, str):
        try:
            value = float(value.strip().rstrip("s"))
        except ValueError:
            pass
    return check_seconds(name, value, allow_zero=allow_zero, allow_none=False, cap=cap)


class _Waiting:
    """One wait in progress: the ids still unfinished, its rule, and the event that wakes it.
    ``pending`` is changed under the board's lock."""

    __slots__ = ("pending", "total", "first", "woken")

    def __init__(self, ids: list[str], *, first: bool) -> None:
        self.pending = set(ids)
        self.total = len(self.pending)
        self.first = first
        self.woken = threading.Event()

    def finished(self, task_id: str) -> bool:
        """``task_id`` ended; whether this wait may return now."""
        if task_id not in self.pending:
            return False
        self.pending.discard(task_id)
        return self.satisfied()

    def satisfied(self) -> bool:
        return not self.pending or (self.first and len(self.pending) < self.total)


def _asks(info: TaskInfo) -> str:
    return f"waiting for input: {preview(info.question, 200)}; answer with send_message('{info.id}', '...')"


def _ago(seconds: float | None) -> str:
    return "?" if seconds is None else f"{seconds:.1f}s"


class TaskBoard:
    """The state behind the model-facing tools: one TaskManager, what may run, the current run."""

    def __init__(self, task_manager: TaskManager, registry: TaskRegistry, limits: Limits | None = None) -> None:
        self.tm = task_manager
        self.registry = registry
        self.limits = limits or Limits()
        self._lock = threading.Lock()
        self._run_ids: list[str] = []
        self._run_set: set[str] = set()  # the same ids, for lookups (always updated together)
        self._deadline: float | None = None  # monotonic end of the current run, if it has a timeout
        self._progress: dict[str, str] = {}
        self._stop = threading.Event()  # set at shutdown: ends every sleep at once
        self._submitted: set[str] = set()  # every id this board submitted, in any run
        self._kept: set[str] = set()  # ids of earlier runs a placeholder may still name (unfinished_tasks="keep")
        self._seen_done: set[str] = set()  # finished tasks a report already showed the model (no notice needed)
        #: whether a task waits for an answer (``watch_questions``): a wait for it returns at once
        self.asking: Callable[[str], bool] | None = None
        self._question_of: Callable[[str], str | None] = lambda task_id: None  # its open question's text
        self._waits: set[_Waiting] = set()  # the waits in progress (wait_or_question), woken when they may return
        self._watched: set[str] = set()  # unfinished ids with a done-callback (_ended) registered
        #: questions a wait report has shown (task id, question): a later wait waits for the answer
        self._shown_questions: set[tuple[str, str]] = set()
        self._variables: Callable[[], Mapping[str, Any]] = dict  # the model's interpreter state, if readable
        self.placeholders = Placeholders(
            referable=self._referable, exists=self._submitted.__contains__, variables=lambda: self._variables(),
            normalize=lambda v: normalize_task_id(v, self.tm.id_prefix), run_ids=lambda: self.run_ids,
        )

    # ------------------------------------------------------------------ the run

    @property
    def run_ids(self) -> list[str]:
        """Ids of the tasks submitted since ``begin_run()``, in submission order."""
        with self._lock:
            return list(self._run_ids)

    def begin_run(self, deadline: float | None = None, *, keep_ids: bool = False) -> None:
        """Start a run: forget the last run's ids; ``deadline`` (monotonic) bounds every wait."""
        with self._lock:
            if not keep_ids:
                self._run_ids, self._run_set = [], set()
                self._seen_done = set()
            self._deadline = deadline

    def keep_ids(self, ids: list[str]) -> None:
        """Let later runs' placeholders name these tasks (the ``"keep"`` policy)."""
        with self._lock:
            self._kept.update(ids)

    def bind_variables(self, variables: Callable[[], Mapping[str, Any]]) -> None:
        """Where to read the model's variables, so ``'$name'`` can mean the task id ``name`` holds."""
        self._variables = variables

    def _referable(self, task_id: str) -> bool:
        with self._lock:
            return task_id in self._kept or task_id in self._run_set

    def past_deadline(self) -> bool:
        deadline = self._deadline
        return deadline is not None and time.monotonic() >= deadline

    def _bound(self) -> tuple[float, str]:
        """How long one call may block now, and what sets that bound (for the model's report)."""
        bound, why = self.limits.max_wait_seconds, f"the {self.limits.max_wait_seconds:g}s limit per call"
        deadline = self._deadline
        if deadline is not None:
            left = max(0.0, deadline - time.monotonic())
            if left < bound:
                bound, why = left, "the run's time limit"
        return bound, why

    def note_progress(self, task_id: str, note: str) -> None:
        with self._lock:
            self._progress[task_id] = note
            if len(self._progress) > 10_000:  # bounded: drop the oldest notes
                for key in list(self._progress)[:1000]:
                    del self._progress[key]

    def close(self) -> None:
        self._stop.set()
        self.wake()

    def watch_questions(self, questions: Any) -> None:
        """Let waits return as soon as a task asks a question: ``questions`` (``InputRequests``)
        says which tasks ask (``is_open``, ``question``) and calls back when one starts to (``on_question``)."""
        self.asking, self._question_of = questions.is_open, questions.question
        questions.on_question(self.wake)

    def wake(self, *_: Any) -> None:
        """Wake every wait to look again (a task asked a question, the board closed)."""
        with self._lock:
            waits = list(self._waits)
        for waiting in waits:
            waiting.woken.set()

    def seen_done(self, task_id: str) -> bool:
        """Whether a wait report, results or check_task already showed the model this task finished."""
        with self._lock:
            return task_id in self._seen_done

    def _saw(self, infos: list[TaskInfo]) -> None:
        with self._lock:
            self._seen_done.update(info.id for info in infos if info.done)

    # ------------------------------------------------------------------ tools

    def submit(self, task_type: Any, name: Any = None, args: Any = None, priority: Any = None,
               timeout: Any = None, depends_on: Any = None, **task_kwargs: Any) -> str:
        task_type, name, args = self._guessed_names(task_type, name, args, task_kwargs)
        if isinstance(task_type, Mapping) and isinstance(name, str):
            kind = "agent" if name in self.registry.names("agent") else "tool"
            raise InvalidArgumentError(
                f"submit_task takes (task_type, name, args) in this order; you gave the args first. "
                f"Write: submit_task('{kind}', {preview(name, 60)}, {{...your args...}})"
            )
        if not self._is_kind(task_type) and self._is_registered(task_type):
            # submit_task("search", {"query": ...}): the task type was left out; the name says it all.
            if args is not None and name is not None:
                kind = self.registry.resolve("tool", task_type).kind
                raise InvalidArgumentError(
                    f"submit_task takes (task_type, name, args) in this order; got {task_type!r}, "
                    f"{preview(name, 60)}, {preview(args, 200)}. Write: submit_task('{kind}', {task_type!r}, {{...}})"
                )
            task_type, name, args = "tool", task_type, args if args is not None else name
        entry, values = self.registry.validate(task_type, name, args, **task_kwargs)
        translation = self.placeholders.translate(values)
        if priority is None:
            priority = 0
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise InvalidArgumentError(f"priority must be an int (higher starts first), got {priority!r}")
        if timeout is not None:
            timeout = _seconds("timeout", timeout, allow_zero=False, cap=False)  # refused past one year
        deps = [] if depends_on is None else self._dependencies(depends_on)
        self._check_known(deps)
        deps += [ref for ref in translation.refs if ref not in deps]
        fn = self.registry.callable_for(entry)
        if translation.needs_call:
            fn = ResolvedCall(fn, entry.name, translation, self.registry.checker(entry))
        task_id = self.tm.submit(
            fn, kwargs=translation.values, name=entry.name, priority=priority, timeout=timeout, depends_on=deps,
            metadata={"task_type": entry.kind, "tool": entry.name},
        )
        with self._lock:
            self._run_ids.append(task_id)
            self._run_set.add(task_id)
            self._submitted.add(task_id)
        return task_id

    def wait(self, task_ids: Any = None, max_wait_time: Any = None, return_when: Any = "all") -> str:
        ids = self._ids(task_ids, unfinished_default=True)
        # With no ids: wait for this run's unfinished tasks, report on all of them (failures included).
        report_ids = self.run_ids if task_ids is None or task_ids == [] else ids
        mode = _RETURN_WHEN.get(str(return_when).strip().lower()) if return_when is not None else "ALL_COMPLETED"
        if mode is None:
            raise InvalidArgumentError(f"return_when must be 'all' or 'any', got {return_when!r}")
        bound, why = self._bound()
        asked = self.limits.max_wait_seconds if max_wait_time is None else _seconds("max_wait_time", max_wait_time)
        limit = min(asked, bound)
        if not report_ids:
            return "No tasks to wait for: this run has submitted none yet."
        start = time.monotonic()
        done, not_done = self._wait_or_question(ids, limit, mode) if ids else (set(), set())
        waited = time.monotonic() - start
        infos = self._infos(report_ids, strict=False)
        self._saw(infos)
        with self._lock:
            self._shown_questions.update((i.id, i.question) for i in infos if i.question is not None)
        finished = sum(1 for info in infos if info.done)
        scope = "" if report_ids is ids else f"; this run's {len(infos)} tasks"
        lines = [f"Waited {waited:.1f}s for {len(ids)} task{'' if len(ids) == 1 else 's'} "
                 f"(return_when='{'all' if mode == 'ALL_COMPLETED' else 'any'}'){scope}: "
                 f"{finished} finished, {len(infos) - finished} unfinished."]
        by_status: dict[str, list[TaskInfo]] = {}
        for info in infos:
            by_status.setdefault(info.status.value, []).append(info)
        for status in ("waiting_for_input", "completed", "failed", "timeout", "cancelled", "running", "pending",
                       "waiting"):
            group = by_status.get(status, [])
            if group:
                lines.append(f"{status} ({len(group)}): " + self._line(group, status))
        if any(info.status is TaskStatus.WAITING_FOR_INPUT for info in infos):
            lines.append("A task waits for your answer: send_message(task_id, answer), then wait again (a wait "
                         "without answering waits for someone else to answer, up to max_wait_time).")
        elif not_done:
            if asked > bound:
                lines.append(f"Stopped at {why} (you asked max_wait_time={asked:g}); the unfinished tasks keep "
                             f"running" + (": call wait_for_tasks again to keep waiting." if bound else "."))
            elif mode == "ALL_COMPLETED" or not done:
                lines.append(f"Stopped at max_wait_time={limit:g}s; the unfinished tasks keep running.")
        completed = [i.id for i in by_status.get("completed", [])]
        if completed:
            lines.append(f"Next: get_task_results({self._short_list(completed)})")
        return self._report("\n".join(lines), "check_task(id) for one task")

    def _wait_or_question(self, ids: list[str], limit: float, mode: str) -> tuple[set[str], set[str]]:
        """``tm.wait``, but back as soon as one of ``ids`` waits for input (the model must answer it).

        Event-driven, and woken only when it may return: one done-callback per task takes the
        task out of every wait's pending set and wakes a wait whose rule is met; a new question
        (``watch_questions``) and ``close()`` wake them all."""
        asking = self.asking
        if asking is None:
            return self.tm.wait(ids, timeout=limit, return_when=mode)
        waiting = _Waiting(ids, first=mode == "FIRST_COMPLETED")
        with self._lock:
            self._waits.add(waiting)
        try:
            self._watch(ids)
            end = time.monotonic() + limit
            while True:
                with self._lock:
                    pending = list(waiting.pending)
                if waiting.satisfied() or any(asking(tid) and self._new_question(tid) for tid in pending):
                    break
                left = end - time.monotonic()
                if left <= 0 or self._stop.is_set():
                    break
                waiting.woken.wait(left)
                waiting.woken.clear()  # then look again: what woke it is still there to see
        finally:
            with self._lock:
                self._waits.discard(waiting)
        return self.tm.wait(ids, timeout=0, return_when=mode)

    def _new_question(self, task_id: str) -> bool:
        """Whether ``task_id``'s open question is one no wait report has shown yet (a shown one is
        waited out: the model, or a person at the CLI or over HTTP, is answering it)."""
        question = self._question_of(task_id)
        with self._lock:
            return question is not None and (task_id, question) not in self._shown_questions

    def _watch(self, ids: list[str]) -> None:
        """One done-callback per task, ever (not one per wait); a final task's runs at once."""
        with self._lock:
            new = [tid for tid in dict.fromkeys(ids) if tid not in self._watched]
            self._watched.update(new)
        for tid in new:
            try:
                self.tm.add_done_callback(tid, self._ended)
            except UnknownTaskError:  # forgotten, so finished: tm.wait counts it as done
                self._ended_id(tid)

    def _ended(self, info: TaskInfo) -> None:
        self._ended_id(info.id)

    def _ended_id(self, task_id: str) -> None:
        with self._lock:
            self._watched.discard(task_id)
            ready = [w for w in self._waits if w.finished(task_id)]
        for waiting in ready:
            waiting.woken.set()

    def sleep(self, seconds: Any, reason: Any = None) -> str:
        asked = _seconds("seconds", seconds)
        bound, why = self._bound()
        start = time.monotonic()
        self._stop.wait(min(asked, bound))
        slept = time.monotonic() - start
        note = f" (cut to {why})" if asked > bound else ""
        why = f" ({reason})" if reason else ""
        return f"Slept {slept:.1f}s{why}{note}. Tip: wait_for_tasks returns as soon as tasks finish."

    def results(self, task_ids: Any = None, offset: Any = None) -> TaskResults:
        start = 0
        if offset is not None:
            if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
                raise InvalidArgumentError(f"offset must be an int >= 0 (a character position), got {offset!r}")
            start = offset
        ids = self._ids(task_ids, unfinished_default=False)
        out: dict[str, Any] = {}
        infos = self._infos(ids)
        self._saw(infos)
        for info in infos:
            if info.status is TaskStatus.COMPLETED:
                value = info.result
                out[info.id] = value[start:] if start and isinstance(value, str) else value  # whole, never cut
            else:
                why = clip(self._why(info), self.limits.max_result_chars, hint=f"check_task('{info.id}')")
                out[info.id] = NoResult(info.id, info.status.value, why)
        return TaskResults(out, per_result=self.limits.max_result_chars, total=self.limits.max_report_chars)

    def check(self, task_id: Any) -> str:
        tid = self._one_id(task_id)
        self._check_known([tid])
        info = self._infos([tid])[0]
        self._saw([info])
        kind = info.metadata.get("task_type", "task")
        head = f"{info.id} ({kind} {info.name}"
        head += f", priority {info.priority})" if info.priority else ")"
        attempts = f"attempt {info.attempts} of {info.max_retries + 1}" if info.attempts else "not started"
        now = time.time()
        if info.status is TaskStatus.RUNNING:
            text = f"{head}: running for {_ago(now - (info.started_at or now))}, {attempts}"
        elif info.status is TaskStatus.WAITING_FOR_INPUT:
            text = f"{head}: {_asks(info)}"
        elif info.status is TaskStatus.WAITING:
            text = f"{head}: waiting for {', '.join(info.depends_on)} to complete"
        elif info.status is TaskStatus.PENDING:
            text = f"{head}: queued for {_ago(now - info.created_at)} ({attempts})"
        elif info.status is TaskStatus.COMPLETED:
            shown = preview(info.result, 200)
            text = f"{head}: completed in {_ago(info.run_time)}; result: {shown}"
            if "..." in shown:  # preview marks what it cut
                text += f" (get_task_results(['{info.id}']) gives it whole)"
        else:
            text = f"{head}: {info.status.value} after {_ago(info.run_time)}, {attempts}: " \
                   f"{clip(self._why(info), 500)}"
        with self._lock:
            note = self._progress.get(info.id)
        if note and not info.done:
            text += f"; progress: {note}"
        return self._report(text)

    def list(self, status: Any = None, limit: Any = None) -> str:
        cap = self.limits.max_listed_tasks
        if limit is None:
            limit = cap
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidArgumentError(f"limit must be an int >= 1, got {limit!r}")
        limit = min(limit, cap)
        if status is None or str(status).strip().lower() in ("all", ""):
            infos = self.tm.tasks()
        else:
            key = str(status).strip().lower()
            wanted = _STATUS_FILTERS.get(key)
            if wanted is None:
                try:
                    wanted = frozenset({TaskStatus(key)})
                except ValueError:
                    accepted = ", ".join([s.value for s in TaskStatus] + sorted(_STATUS_FILTERS))
                    raise InvalidArgumentError(f"unknown status {status!r}; accepted: {accepted}") from None
            infos = [i for i in self.tm.tasks() if i.status in wanted]
        if not infos:
            return TaskListing("No tasks" + (f" with status {preview(status, 40)}." if status else " yet."))
        now = time.time()
        lines = [f"{len(infos)} task{'s' if len(infos) > 1 else ''}, newest first"
                 + (f" (showing {limit}; list_tasks(status=...) to filter)" if len(infos) > limit else "") + ":"]
        for info in infos[:limit]:
            detail = info.status.value
            if info.status is TaskStatus.RUNNING:
                detail += f" {_ago(now - (info.started_at or now))}"
                with self._lock:
                    note = self._progress.get(info.id)
                if note:  # a sub-agent's step and thought, or what report_progress said
                    detail += f"; progress: {clip(note, 120)}"
            elif info.status is TaskStatus.WAITING_FOR_INPUT:
                detail = _asks(info)
            elif info.done and info.status is not TaskStatus.COMPLETED:
                detail += f": {clip(self._why(info), 120, hint=f'check_task({info.id!r})')}"
            elif info.status is TaskStatus.COMPLETED:
                detail += f" in {_ago(info.run_time)}"
            lines.append(f"{info.id} {info.metadata.get('task_type', 'task')} {info.name}: {detail}")
        return TaskListing(self._report("\n".join(lines), "list_tasks(status=..., limit=...) to narrow"))

    def cancel(self, task_id: Any) -> str:
        ids = normalize_task_ids(task_id, self.tm.id_prefix, what="task_id")
        lines = []
        for tid in ids:
            self._check_known([tid])
            was = self.tm.get(tid).status
            if self.tm.cancel(tid, reason="cancelled by the agent"):
                lines.append(f"Cancelled {tid} (it was {was.value}).")
            else:
                lines.append(f"{tid} had already ended ({was.value}); nothing to cancel.")
        return self._report(" ".join(lines))

    # ------------------------------------------------------------------ helpers

    def _report(self, text: str, hint: str = "") -> str:
        return clip(text, self.limits.max_report_chars, hint=hint)

    def _guessed_names(self, task_type: Any, name: Any, args: Any, extra: dict[str, Any]) -> tuple[Any, Any, Any]:
        """submit_task(type='tool', tool_name='search', arguments={...}): the names a model guesses."""
        if task_type is None:
            task_type = next((extra.pop(k) for k in _TYPE_ALIASES if k in extra), None)
        if name is None:
            name = next((extra.pop(k) for k in _NAME_ALIASES if k in extra), None)
        if task_type is None and name is not None:
            task_type = "tool"  # the name decides the kind
        if args is None and name is not None:
            try:
                takes = self.registry.resolve("tool", name).inputs
            except InvalidArgumentError:
                takes = {}
            key = next((k for k in _ARGS_ALIASES if k in extra and k not in takes), None)
            if key is not None:
                args = extra.pop(key)
        if task_type is None:
            raise InvalidArgumentError(
                "submit_task needs what to run: submit_task('tool', 'name', {...}) or submit_task('agent', 'name', "
                f"{{'task': '...'}}); {self.registry.listing()}"
            )
        return task_type, name, args

    def _dependencies(self, value: Any) -> list[str]:
        """depends_on as ids; '$t1' or '$search' there (as in args) names a task too."""
        items = list(value) if isinstance(value, (list, tuple)) else [value]
        named = [self.placeholders.task_of(v) if isinstance(v, str) and v.strip().startswith("$") else v
                 for v in items]
        return normalize_task_ids(named, self.tm.id_prefix, what="depends_on")

    def _is_kind(self, value: Any) -> bool:
        try:
            self.registry.kind_of(value)
            return True
        except InvalidArgumentError:
            return False

    def _is_registered(self, value: Any) -> bool:
        try:
            self.registry.resolve("tool", value)
            return True
        except InvalidArgumentError:
            return False

    def _one_id(self, value: Any) -> str:
        if isinstance(value, (list, tuple)) and len(value) == 1:
            value = value[0]
        return normalize_task_id(value, self.tm.id_prefix)

    def _ids(self, value: Any, *, unfinished_default: bool) -> list[str]:
        if value is None or value == []:
            ids = self.run_ids
            if unfinished_default:
                ids = [i.id for i in self._infos(ids, strict=False) if not i.done]
            return ids
        ids = normalize_task_ids(value, self.tm.id_prefix)
        self._check_known(ids)
        return ids

    def _check_known(self, ids: list[str]) -> None:
        for tid in ids:
            try:
                self.tm.get(tid)
            except UnknownTaskError:
                known = self.run_ids
                listing = (f"this run's tasks are {self._short_list(known)}" if known
                           else "no task was submitted in this run")
                raise UnknownTaskError(f"unknown task id {tid!r}; {listing}. Use the ids submit_task returned.") from None

    def _infos(self, ids: list[str], strict: bool = True) -> list[TaskInfo]:
        out = []
        for tid in ids:
            try:
                out.append(self.tm.get(tid))
            except UnknownTaskError:
                if strict:
                    raise
        return out

    def _short_list(self, ids: list[str]) -> str:
        cap = self.limits.max_listed_tasks
        shown = ids if len(ids) <= cap else ids[:cap]
        more = "" if len(ids) <= cap else f" + {len(ids) - cap} more"
        return f"[{', '.join(repr(i) for i in shown)}]{more}"

    def _line(self, infos: list[TaskInfo], status: str) -> str:
        cap = self.limits.max_listed_tasks
        now = time.time()
        parts = []
        for info in infos[:cap]:
            if status == "completed":
                parts.append(f"{info.id} {info.name} in {_ago(info.run_time)}")
            elif status in ("failed", "timeout", "cancelled"):
                parts.append(f"{info.id} {info.name}: {clip(self._why(info), 200, hint=f'check_task({info.id!r})')}")
            elif status == "running":
                parts.append(f"{info.id} {info.name} running {_ago(now - (info.started_at or now))}")
            elif status == "waiting_for_input":
                parts.append(f"{info.id} {info.name} {_asks(info)}")
            elif status == "waiting":
                parts.append(f"{info.id} {info.name} waiting for {', '.join(info.depends_on)}")
            else:
                parts.append(f"{info.id} {info.name} queued")
        if len(infos) > cap:
            parts.append(f"... and {len(infos) - cap} more")
        return "; ".join(parts)

    @staticmethod
    def _why(info: TaskInfo) -> str:
        if info.status is TaskStatus.FAILED and info.error is not None:
            return str(info.error)
        if info.done:
            return info.reason or info.status.value
        return f"not finished yet: wait_for_tasks(['{info.id}']) first"
