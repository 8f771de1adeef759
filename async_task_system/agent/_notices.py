"""Completion notices: at the start of each model step, what of this run's work finished since the last one.

``CompletionNotices.drain()`` is an inbox source (see ``_inbox``): it lists each task of
the run that reached a final state and was neither announced nor shown in a report
(``wait_for_tasks``, ``get_task_results``, ``check_task``) yet (id, kind, name, status,
run time, a short preview of the result or the error), at most ``max_notices`` lines
then "and N more". Each task is announced once. Lines that lead them (``extra``: questions
from tasks) take only the room the completion lines leave in the inbox, so a completion
is never cut off, and at most ``max_notices`` of them. It reads task snapshots only: no
thread, no engine hook, nothing to stop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..engine import TaskInfo, TaskManager, TaskStatus
from ._inbox import MAX_INBOX_CHARS
from ._observation import clip, preview

__all__ = ["CompletionNotices"]

NOTICE_HEADER = "Background task notices (since your last step):"

#: the most characters one line that leads the notices (a question) takes
EXTRA_LINE_CHARS = 500


class CompletionNotices:
    """Announces each finished task of ``run_ids()`` once; bounded to ``max_notices`` lines of
    ``preview_chars`` each."""

    def __init__(self, tm: TaskManager, run_ids: Callable[[], list[str]], *, max_notices: int = 5,
                 preview_chars: int = 150, extra: Callable[[int], list[str]] | None = None,
                 seen: Callable[[str], bool] | None = None) -> None:
        self.tm = tm
        self.run_ids = run_ids
        self.seen = seen  # tasks the model already saw finish (a wait report): not announced again
        self.max_notices = max_notices
        self.preview_chars = preview_chars
        self.extra = extra  # extra(n): at most n lines (and an "and N more" one) to lead the notices
        self._announced: set[str] = set()
        self._lock = threading.Lock()

    def reset(self) -> None:
        """Forget what was announced (a new run)."""
        with self._lock:
            self._announced.clear()

    def drain(self) -> str | None:
        fresh: list[TaskInfo] = []
        with self._lock:
            for task_id in self.run_ids():
                if task_id in self._announced:
                    continue
                try:
                    info = self.tm.get(task_id)
                except KeyError:  # forgotten (retention): nothing to say
                    self._announced.add(task_id)
                    continue
                if info.done:
                    self._announced.add(task_id)
                    if self.seen is None or not self.seen(task_id):
                        fresh.append(info)
        done_lines = self._completion_lines(fresh)
        room = MAX_INBOX_CHARS - len(NOTICE_HEADER) - sum(len(line) + 1 for line in done_lines)
        lines: list[str] = []
        if self.extra is not None:  # the room left, one line of it kept for an "and N more"
            fit = max(0, room // (EXTRA_LINE_CHARS + 1) - 1)
            lines = [clip(line, EXTRA_LINE_CHARS - 50) for line in self.extra(min(self.max_notices, fit))]
        lines += done_lines
        return "\n".join([NOTICE_HEADER, *lines]) if lines else None

    def _completion_lines(self, fresh: list[TaskInfo]) -> list[str]:
        shown = fresh[: self.max_notices]
        lines = [self.line(info) for info in shown]
        if len(fresh) > len(shown):
            more = len(fresh) - len(shown)
            lines.append(f"- and {more} more finished: list_tasks('finished') lists them")
        done = [info.id for info in fresh if info.status is TaskStatus.COMPLETED]
        if done:
            lines.append(f"Results: get_task_results({done!r})" if len(done) <= 10
                         else "Results: get_task_results()")
        return lines

    def line(self, info: TaskInfo) -> str:
        kind = info.metadata.get("task_type", "task")
        took = "" if info.run_time is None else f" in {info.run_time:.1f}s"
        if info.status is TaskStatus.COMPLETED:
            return f"- {info.id} ({kind} {info.name}) completed{took}: {preview(info.result, self.preview_chars)}"
        why = str(info.error) if info.status is TaskStatus.FAILED and info.error is not None \
            else (info.reason or info.status.value)
        return f"- {info.id} ({kind} {info.name}) {info.status.value}{took}: {clip(why, self.preview_chars)}"
