"""Coroutine tasks benchmark: the TaskManager's event loop against a bare ``asyncio.gather``.

(Not named asyncio.py: a script's folder comes first on sys.path, so a benchmarks/asyncio.py would
shadow the standard library's asyncio for every other script in this folder.)

    .venv/bin/python benchmarks/coroutines.py [--sleepers 1000] [--noop 5000] [--rounds 5] [--out FILE]

Arms, interleaved round by round in one process, medians reported:
* 1,000 coroutine tasks of ``asyncio.sleep(1)`` through ``TaskManager.submit`` + ``wait``, against
  ``asyncio.gather`` of the same coroutines on a fresh loop (goal: within 1.3x of gather's wall
  time, fewer than 10 extra threads).
* per-task overhead of no-op tasks: coroutine tasks, thread tasks (4 workers), bare gather.
* cancellation: from ``cancel()`` of a running coroutine task to its ``finally`` running.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import threading
import time

from async_task_system import TaskManager


async def sleep_one() -> None:
    await asyncio.sleep(1)


async def noop_async() -> None:
    return None


def noop() -> None:
    return None


def gather_wall(n: int, coro_fn) -> float:
    async def main() -> float:
        start = time.perf_counter()
        await asyncio.gather(*(coro_fn() for _ in range(n)))
        return time.perf_counter() - start

    return asyncio.run(main())


def manager_wall(n: int, fn, **kwargs) -> tuple[float, int, float]:
    """Wall time of n tasks submitted and waited for, the most threads seen alive meanwhile,
    and the CPU time of the process (all threads: robust to other jobs on the machine)."""
    before = threading.active_count()
    peak = before
    with TaskManager(max_unfinished=n, max_finished=n, **kwargs) as tm:
        cpu = time.process_time()
        start = time.perf_counter()
        ids = [tm.submit(fn) for _ in range(n)]
        while tm.wait(ids, timeout=0.05).not_done:
            peak = max(peak, threading.active_count())
        wall = time.perf_counter() - start
        cpu = time.process_time() - cpu
        peak = max(peak, threading.active_count())
        failed = tm.get_statistics()["completed"] != n
    if failed:
        raise RuntimeError("not every task completed")
    return wall, peak - before, cpu


def cancel_latency_ms(samples: int) -> float:
    """Median ms from cancel() of a running coroutine task to its finally block."""
    started, stopped = threading.Event(), threading.Event()
    stamps: list[float] = []

    async def hang() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            stamps.append(time.perf_counter())
            stopped.set()

    out = []
    with TaskManager() as tm:
        for _ in range(samples):
            started.clear()
            stopped.clear()
            tid = tm.submit(hang)
            started.wait(10)
            t0 = time.perf_counter()
            tm.cancel(tid)
            stopped.wait(10)
            out.append(stamps[-1] - t0)
    return statistics.median(out) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sleepers", type=int, default=1000)
    parser.add_argument("--noop", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", help="write the markdown table here too")
    args = parser.parse_args()

    arms: dict[str, list[float]] = {k: [] for k in (
        "gather_sleep", "tm_sleep", "tm_sleep_threads", "gather_noop", "tm_noop_coro", "tm_noop_thread",
        "tm_noop_coro_cpu", "tm_noop_thread_cpu")}
    for _ in range(args.rounds):
        arms["gather_sleep"].append(gather_wall(args.sleepers, sleep_one))
        wall, threads, _ = manager_wall(args.sleepers, sleep_one, max_workers=4)
        arms["tm_sleep"].append(wall)
        arms["tm_sleep_threads"].append(threads)
        arms["gather_noop"].append(gather_wall(args.noop, noop_async))
        for arm, fn in (("coro", noop_async), ("thread", noop)):
            wall, _, cpu = manager_wall(args.noop, fn, max_workers=4)
            arms[f"tm_noop_{arm}"].append(wall)
            arms[f"tm_noop_{arm}_cpu"].append(cpu)
    cancel_ms = cancel_latency_ms(200)
    med = {k: statistics.median(v) for k, v in arms.items()}
    us = {k: med[k] / args.noop * 1e6 for k in ("gather_noop", "tm_noop_coro", "tm_noop_thread",
                                                  "tm_noop_coro_cpu", "tm_noop_thread_cpu")}
    load = os.getloadavg()[0]

    lines = [
        "# Coroutine tasks benchmark",
        "",
        f"Command: `.venv/bin/python benchmarks/coroutines.py --sleepers {args.sleepers} --noop {args.noop} "
        f"--rounds {args.rounds}`",
        f"Machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; medians of {args.rounds} interleaved "
        f"rounds; load average {load:.1f} (shared machine).",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| {args.sleepers} x `asyncio.sleep(1)`, bare `asyncio.gather` | {med['gather_sleep']:.3f} s |",
        f"| {args.sleepers} x `asyncio.sleep(1)`, TaskManager coroutine tasks (max_workers=4) | "
        f"{med['tm_sleep']:.3f} s |",
        f"| ratio TaskManager / gather (goal <= 1.3) | {med['tm_sleep'] / med['gather_sleep']:.3f}x |",
        f"| extra threads while they ran (goal < 10) | {int(max(arms['tm_sleep_threads']))} |",
        f"| per no-op task: bare gather | {us['gather_noop']:.1f} us |",
        f"| per no-op task: TaskManager coroutine task, wall / CPU (all threads) | {us['tm_noop_coro']:.1f} / "
        f"{us['tm_noop_coro_cpu']:.1f} us |",
        f"| per no-op task: TaskManager thread task (4 workers), wall / CPU | {us['tm_noop_thread']:.1f} / "
        f"{us['tm_noop_thread_cpu']:.1f} us |",
        f"| cancel() of a running coroutine task -> its finally runs (median of 200) | {cancel_ms:.3f} ms |",
        "",
        "Raw samples (s): " + "; ".join(f"{k} {[round(x, 3) for x in v]}" for k, v in arms.items()),
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text)


if __name__ == "__main__":
    main()
