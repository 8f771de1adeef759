"""What tracing costs the engine: throughput of no-op tasks with and without task spans.

Arms, run side by side in one process, interleaved, several rounds (the median counts):
  no observers       TaskManager(observers=[]): no tracing hooks at all (the floor)
  default, idle      TaskManager(): the default observer, no tracer provider configured
  SDK, simple        an SDK TracerProvider, SimpleSpanProcessor -> in-memory exporter
  SDK, batch         an SDK TracerProvider, BatchSpanProcessor -> an exporter that drops spans
                     (what setup_tracing(batch=True) does, minus the network)
  bare span, batch   the floor of any span per task: an observer that only starts a span, makes
                     it current around the attempt and ends it (no attributes, no events), batch
  SDK, batch @REV    with --baseline REV: TaskSpanObserver as it was at git revision REV (before/after
                     in one process, paired)
Workloads: N no-op tasks (the engine's own cost per task dominates), and tasks that
sleep 1, 3 and 10 ms (closer to real tools, which take milliseconds to minutes).
Measured: wall time (throughput) and the process's CPU time over all threads, exporter included
(steadier than wall time on a shared machine: it is the work tracing adds).

    .venv/bin/python benchmarks/tracing.py [--tasks 10000] [--rounds 9] [--baseline REV] [--out FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.util
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Callable, Iterator
from pathlib import Path

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from async_task_system import TaskManager
from async_task_system.engine import CancelToken, TaskCall, TaskEvent, TaskInfo, TaskObserver, TaskStatus
from async_task_system.tracing import TaskSpanObserver

ROOT = Path(__file__).resolve().parents[1]


class _DropExporter(SpanExporter):
    def __init__(self) -> None:
        self.count = 0

    def export(self, spans) -> SpanExportResult:
        self.count += len(spans)
        return SpanExportResult.SUCCESS


class _BareSpanObserver(TaskObserver):
    """The least a span per task can cost: start, current during the attempt, end."""

    def __init__(self, provider: TracerProvider) -> None:
        self._tracer = provider.get_tracer("floor")

    def on_event(self, task_id, event, info) -> None:
        pass

    @contextlib.contextmanager
    def attempt_scope(self, call) -> Iterator[None]:
        span = self._tracer.start_span("task")
        with trace.use_span(span, end_on_exit=True):
            yield


def observer_at(revision: str) -> type[TaskObserver]:
    """TaskSpanObserver from ``async_task_system/tracing/_spans.py`` at a git revision."""
    source = subprocess.run(["git", "show", f"{revision}:async_task_system/tracing/_spans.py"],
                            cwd=ROOT, check=True, capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "_spans_baseline.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("async_task_system.tracing._spans_baseline", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.TaskSpanObserver


def _noop() -> None:
    return None


def make_arms(baseline: str | None = None) -> dict[str, tuple[Callable[[], TaskManager], Callable[[], int]]]:
    """Arm name -> (build a manager, count the spans it produced since the last call)."""
    memory = InMemorySpanExporter()
    simple = TracerProvider()
    simple.add_span_processor(SimpleSpanProcessor(memory))
    dropped = _DropExporter()
    batch = TracerProvider()
    batch_processor = BatchSpanProcessor(dropped, max_queue_size=100_000, max_export_batch_size=2048)
    batch.add_span_processor(batch_processor)

    def memory_count() -> int:
        n = len(memory.get_finished_spans())
        memory.clear()
        return n

    def dropped_count() -> int:
        batch_processor.force_flush()
        n, dropped.count = dropped.count, 0
        return n

    arms = {
        "no observers": (lambda: TaskManager(4, observers=[]), lambda: 0),
        "default, idle": (lambda: TaskManager(4), lambda: 0),
        "bare span, batch": (lambda: TaskManager(4, observers=[_BareSpanObserver(batch)]), dropped_count),
        "SDK, simple": (lambda: TaskManager(4, observers=[TaskSpanObserver(simple)]), memory_count),
        "SDK, batch": (lambda: TaskManager(4, observers=[TaskSpanObserver(batch)]), dropped_count),
    }
    if baseline:
        before = observer_at(baseline)
        arms[f"SDK, batch @{baseline}"] = (lambda: TaskManager(4, observers=[before(batch)]), dropped_count)
    return arms


def run_once(build: Callable[[], TaskManager], fn: Callable[[], None], n: int,
             settle: Callable[[], int]) -> tuple[float, float, int]:
    """Wall seconds from the first submit until all ``n`` tasks are final; CPU seconds of the
    whole process (every thread) from building the manager until its spans are exported;
    how many spans it exported."""
    gc.collect()
    cpu = time.process_time()
    with build() as tm:
        start = time.perf_counter()
        ids = [tm.submit(fn) for _ in range(n)]
        tm.wait(ids)
        elapsed = time.perf_counter() - start
    spans = settle()  # flushes the batch processor: its exporting thread's CPU counts too
    return elapsed, time.process_time() - cpu, spans


def bench(fn: Callable[[], None], n: int, rounds: int, baseline: str | None) -> dict[str, dict[str, float]]:
    """Per arm: median and best wall time, median CPU time, and the medians over rounds of
    the wall time relative to "no observers" and of the extra CPU time over it, both paired
    with "no observers" in the same round (the machine's drift cancels out)."""
    arms = make_arms(baseline)
    walls: dict[str, list[float]] = {name: [] for name in arms}
    cpus: dict[str, list[float]] = {name: [] for name in arms}
    spans: dict[str, int] = {}
    for build, settle in arms.values():  # warm-up round, not counted
        run_once(build, fn, min(n, 1000), settle)
    for _ in range(rounds):
        for name, (build, settle) in arms.items():
            wall, cpu, spans[name] = run_once(build, fn, n, settle)
            walls[name].append(wall)
            cpus[name].append(cpu)
    base_wall, base_cpu = walls["no observers"], cpus["no observers"]
    return {
        name: {
            "median": statistics.median(ts),
            "best": min(ts),
            "ratio": statistics.median(t / b for t, b in zip(ts, base_wall, strict=True)),
            "cpu": statistics.median(cpus[name]),
            "extra_cpu": statistics.median(c - b for c, b in zip(cpus[name], base_cpu, strict=True)),
            "spans": spans[name],
        }
        for name, ts in walls.items()
    }


def table(title: str, results: dict[str, dict[str, float]], n: int) -> str:
    lines = [f"### {title}", "",
             "| arm | tasks/s (median) | wall µs per task (median / best) | wall vs no observers (paired median) "
             "| CPU µs per task (median) | extra CPU µs per task (paired median) | spans |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, r in results.items():
        lines.append(f"| {name} | {n / r['median']:,.0f} | {r['median'] / n * 1e6:.1f} / {r['best'] / n * 1e6:.1f} "
                     f"| {r['ratio']:.2f}x | {r['cpu'] / n * 1e6:.1f} | {r['extra_cpu'] / n * 1e6:+.1f} "
                     f"| {r['spans']} |")
    return "\n".join(lines)


def hook_path(baseline: str | None, repeats: int = 15, number: int = 2000) -> str:
    """The observer's own per-task path without the engine, on one thread: the hooks the engine
    calls for a task that runs once and completes. Steadier than the engine runs; the best of
    ``repeats`` interleaved timings."""
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(_DropExporter(), max_queue_size=1_000_000,
                                                   max_export_batch_size=2048))
    tracer = provider.get_tracer("floor")
    done = TaskEvent(0.0, "completed", "returned", 1)

    def task(observe: Callable[[TaskCall, TaskInfo], None], kwargs: dict) -> Callable[[], None]:
        ids = iter(range(10**9))

        def one() -> None:  # what the engine builds for every task, then the hooks
            task_id = f"t{next(ids)}"
            call = TaskCall(task_id, "noop", 1, _noop, (), kwargs, CancelToken(), None, {}, 0, ())
            info = TaskInfo(task_id, "noop", TaskStatus.COMPLETED, 0, 1.0, 1.001, 1.002, 1, 0, None, (),
                            None, None, ())
            observe(call, info)
        return one

    def bare(call: TaskCall, info: TaskInfo) -> None:
        span = tracer.start_span("task noop")
        otel_context.detach(otel_context.attach(trace.set_span_in_context(span)))
        span.end()

    def through(observer: TaskObserver) -> Callable[[TaskCall, TaskInfo], None]:
        def observe(call: TaskCall, info: TaskInfo) -> None:
            observer.is_active()
            with observer.attempt_scope(call):
                pass
            observer.on_event(call.task_id, TaskEvent(1.001, "running", "started", 1), None)
            observer.on_event(call.task_id, done, info)
        return observe

    observers = {"TaskSpanObserver": TaskSpanObserver(provider)}
    if baseline:
        observers[f"TaskSpanObserver @{baseline}"] = observer_at(baseline)(provider)
    arms = {"bare span (start, current, end)": task(bare, {})}
    for kwargs in ({}, {"key": "a"}):
        for name, observer in observers.items():
            arms[f"{name}, kwargs={kwargs}"] = task(through(observer), kwargs)
    best = {name: float("inf") for name in arms}
    for _ in range(repeats):
        for name, fn in arms.items():
            seconds = timeit.timeit(fn, "gc.enable()", number=number, globals={"gc": gc})
            best[name] = min(best[name], seconds / number)
    floor = best["bare span (start, current, end)"]
    lines = ["### The observer's hooks alone, one thread (no engine)", "",
             "| arm | µs per task (best of %d) | over the bare span |" % repeats, "|---|---:|---:|"]
    lines += [f"| {name} | {t * 1e6:.1f} | {(t - floor) * 1e6:+.1f} |" for name, t in best.items()]
    provider.shutdown()
    return "\n".join(lines)


def _sleeper(seconds: float) -> Callable[[], None]:
    def nap() -> None:
        time.sleep(seconds)
    return nap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000, help="no-op tasks per run")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--sleeps", default="0.001:2000,0.003:800,0.010:400", metavar="SECONDS:TASKS,...",
                        help="workloads of sleeping tasks (run for half as many rounds, at least 3)")
    parser.add_argument("--baseline", default=None, metavar="REV",
                        help="also run TaskSpanObserver as it was at this git revision")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    sleep_rounds = max(3, args.rounds // 2)
    sections = [hook_path(args.baseline), table(f"{args.tasks:,} no-op tasks", bench(_noop, args.tasks, args.rounds, args.baseline),
                      args.tasks)]
    for spec in filter(None, args.sleeps.split(",")):
        seconds, count = spec.split(":")
        results = bench(_sleeper(float(seconds)), int(count), sleep_rounds, args.baseline)
        sections.append(table(f"{int(count):,} tasks of time.sleep({seconds})", results, int(count)))
    command = " ".join([".venv/bin/python", "benchmarks/tracing.py", *sys.argv[1:]])
    report = "\n\n".join([
        "## Tracing overhead (benchmarks/tracing.py)",
        f"Command: `{command}`  \nMachine: {platform.python_version()}, {os.cpu_count()} cores, "
        f"TaskManager(max_workers=4); {args.rounds} interleaved rounds for no-op tasks, "
        f"{sleep_rounds} for sleeping ones.",
        *sections,
    ])
    print(report)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report + "\n")


if __name__ == "__main__":
    main()
