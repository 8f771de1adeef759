"""``RunSummary.timeline()``: a Gantt-style picture of one run, in a terminal or a notebook.

One row per model step (what the main agent's model did, and when) and one per task: its queue
wait (light) and its run (solid), coloured by final status, all on the run's time axis. Printed
with rich (``console.print(timeline)``), shown by Jupyter as an SVG figure (``_repr_html_``,
``_repr_svg_``), or as plain text (``str``).
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["ModelStep", "Timeline", "TimelineRow", "STATUS_COLOURS"]

#: Colour of a row by final status (an unfinished task is "running"); model steps are "step".
STATUS_COLOURS = {
    "completed": "#2e9e44", "failed": "#d62728", "timeout": "#ff7f0e", "cancelled": "#8c8c8c",
    "running": "#d4a500", "pending": "#d4a500", "waiting": "#b05cc9", "step": "#1f6fc6",
}
# Characters neither a terminal line nor XML can hold (control characters, lone surrogates).
_UNPRINTABLE = re.compile("[^\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_RICH_STYLES = {"completed": "green", "failed": "red", "timeout": "dark_orange", "cancelled": "grey50",
                "running": "yellow", "pending": "yellow", "waiting": "magenta", "step": "blue"}


@dataclass(frozen=True)
class ModelStep:
    """One step of the main agent: its number, start and end (``time.time()``), its error if any."""

    number: int
    start: float
    end: float | None
    error: str | None = None


@dataclass(frozen=True)
class TimelineRow:
    """One bar: times in seconds from the run's start (``queued`` None for a model step)."""

    label: str
    kind: str  # "step", or the task's type ("tool", "agent", "function")
    status: str  # a TaskStatus value, or "step"
    queued: float | None
    started: float | None
    ended: float

    @property
    def wait(self) -> float:
        return 0.0 if self.queued is None else max(0.0, (self.started if self.started is not None else self.ended)
                                                   - self.queued)

    @property
    def run(self) -> float:
        return 0.0 if self.started is None else max(0.0, self.ended - self.started)


class Timeline:
    """The rows of one run on one time axis of ``length`` seconds."""

    def __init__(self, rows: Iterable[TimelineRow], length: float, title: str = "Run timeline") -> None:
        self.rows = tuple(rows)
        self.length = max(float(length), max((r.ended for r in self.rows), default=0.0), 1e-3)
        self.title = title

    @classmethod
    def of_run(cls, run: Any) -> Timeline:
        """The timeline of a ``RunSummary``."""
        t0 = run.started_at or min([i.created_at for i in run.tasks] + [s.start for s in run.model_steps], default=0.0)
        end = t0 + run.wall_time
        rows: list[TimelineRow] = []
        for step in run.model_steps:
            rows.append(TimelineRow(f"step {step.number}", "step", "failed" if step.error else "step", None,
                                    _finite(step.start - t0), _finite((step.end or end) - t0)))
        for info in sorted(run.tasks, key=lambda i: i.created_at):
            status = info.status.value if info.done else "running"
            started = None if info.started_at is None else _finite(info.started_at - t0)
            ended = _finite((info.finished_at if info.finished_at is not None else end) - t0)
            rows.append(TimelineRow(f"{info.id} {info.name}", str(info.metadata.get("task_type", "function")), status,
                                    _finite(info.created_at - t0), started, ended))
        return cls(rows, run.wall_time)

    # ------------------------------------------------------------- terminal

    def __rich_console__(self, console: Any, options: Any) -> Iterator[Any]:
        from rich.cells import cell_len
        from rich.text import Text

        label_width = min(24, max([cell_len(_clean(r.label)) for r in self.rows] + [4]))
        notes = [_note(row) for row in self.rows]
        stats_width = min(max([len(n) for n in notes] + [10]) + 1, 40)
        width = max(10, options.max_width - label_width - stats_width - 1)
        scale = width / self.length
        yield Text(f"{_clean(self.title)}: {len(self.rows)} rows, {self.length:.2f}s", style="bold", no_wrap=True,
                   overflow="ellipsis")
        for row, note in zip(self.rows, notes, strict=True):
            line = Text(_clean(row.label), no_wrap=True, overflow="ellipsis")
            line.truncate(label_width, pad=True)
            line.append(" ")
            style = _RICH_STYLES.get(row.status, "")
            cells = [" "] * width
            if row.queued is not None:
                for i in range(_cell(row.queued, scale, width), _cell(row.started or row.ended, scale, width)):
                    cells[i] = "░"
            if row.started is not None:
                first = _cell(row.started, scale, width)
                last = max(first + 1, _cell(row.ended, scale, width))
                for i in range(first, min(last, width)):
                    cells[i] = "█"
            line.append("".join(cells), style=style)
            line.append(" " + note, style=style)
            yield line
        ruler = [" "] * (width + 8)
        for value in _ticks(self.length):
            at = _cell(value, scale, width + 1)
            for j, ch in enumerate(f"{value:g}s"):
                if at + j < len(ruler):
                    ruler[at + j] = ch
        yield Text(" " * (label_width + 1) + "".join(ruler).rstrip(), style="dim", no_wrap=True, overflow="crop")
        legend = Text(" " * (label_width + 1) + "░ queued  █ ran  ", style="dim", no_wrap=True, overflow="ellipsis")
        for status in dict.fromkeys(row.status for row in self.rows):
            legend.append(f"{status} ", style=_RICH_STYLES.get(status, ""))
        legend.rstrip()
        yield legend

    def __str__(self) -> str:
        from rich.console import Console

        console = Console(width=100, color_system=None, force_terminal=False, record=True, file=_Null())
        console.print(self)
        return console.export_text()

    # ------------------------------------------------------------- notebook

    def _repr_svg_(self) -> str:
        label_w, bar_w, row_h, top = 180, 560, 20, 46
        height = top + row_h * len(self.rows) + 30
        scale = bar_w / self.length
        out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 230}" height="{height}" '
               f'font-family="sans-serif" font-size="12">',
               f'<text x="4" y="16" font-weight="bold">{html.escape(_clean(self.title))}: {len(self.rows)} rows, '
               f'{self.length:.2f}s</text>']
        x = 4
        for status in ("step", "completed", "failed", "timeout", "cancelled", "running"):
            out.append(f'<rect x="{x}" y="26" width="10" height="10" fill="{STATUS_COLOURS[status]}"/>'
                       f'<text x="{x + 14}" y="35">{status}</text>')
            x += 24 + 7 * len(status)
        out.append(f'<text x="{x}" y="35" fill="#555">(light: queued)</text>')
        for n, row in enumerate(self.rows):
            y = top + n * row_h
            colour = STATUS_COLOURS.get(row.status, "#444")
            label = _clean(row.label)
            tip = html.escape(f"{label}: {row.status}" + ("" if row.kind == "step" else
                              f", waited {row.wait:.2f}s, ran {row.run:.2f}s"))
            out.append(f'<g class="row" data-label="{html.escape(label)}" data-status="{html.escape(row.status)}">'
                       f'<title>{tip}</title>')
            out.append(f'<text x="4" y="{y + 14}">{html.escape(label[:26])}</text>')
            if row.queued is not None and row.wait > 0:
                out.append(f'<rect x="{label_w + row.queued * scale:.1f}" y="{y + 3}" '
                           f'width="{max(1.0, row.wait * scale):.1f}" height="{row_h - 6}" fill="{colour}" '
                           f'fill-opacity="0.3"/>')
            if row.started is not None:
                out.append(f'<rect x="{label_w + row.started * scale:.1f}" y="{y + 3}" '
                           f'width="{max(1.0, row.run * scale):.1f}" height="{row_h - 6}" fill="{colour}"/>')
            note = _note(row)
            out.append(f'<text x="{label_w + bar_w + 8}" y="{y + 14}" fill="#555">{html.escape(note)}</text></g>')
        axis_y = top + row_h * len(self.rows) + 4
        out.append(f'<line x1="{label_w}" y1="{axis_y}" x2="{label_w + bar_w}" y2="{axis_y}" stroke="#999"/>')
        for value in _ticks(self.length):
            tx = label_w + value * scale
            out.append(f'<line x1="{tx:.1f}" y1="{axis_y}" x2="{tx:.1f}" y2="{axis_y + 4}" stroke="#999"/>'
                       f'<text x="{tx:.1f}" y="{axis_y + 16}" text-anchor="middle" fill="#555">{value:g}s</text>')
        out.append("</svg>")
        return "".join(out)

    def _repr_html_(self) -> str:
        return f'<div style="overflow-x:auto">{self._repr_svg_()}</div>'

    def __repr__(self) -> str:
        return f"<Timeline {len(self.rows)} rows, {self.length:.2f}s>"


class _Null:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def _clean(text: str) -> str:
    return _UNPRINTABLE.sub("\ufffd", text)


def _note(row: TimelineRow) -> str:
    if row.kind == "step":
        return f"{row.status} {row.run:.1f}s"
    return f"{row.status} (waited {row.wait:.1f}s, ran {row.run:.1f}s)"


def _finite(value: float) -> float:
    return value if math.isfinite(value) else 0.0


def _cell(seconds: float, scale: float, width: int) -> int:
    return min(width - 1, max(0, int(seconds * scale)))


def _ticks(length: float) -> list[float]:
    """Round tick values from 0 to ``length``: about five of them."""
    raw = length / 5
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    return [round(i * step, 6) for i in range(int(length / step) + 1)]
