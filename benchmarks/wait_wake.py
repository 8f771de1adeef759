"""How fast ``wait_for_tasks`` hears a question, and what its event-driven wait costs, arms side by side.

    .venv/bin/python benchmarks/wait_wake.py [--trials 40] [--tasks 2000] [--out benchmarks/results/wait_wake.md]

1. Wake latency: a thread task asks a question (``request_input``) after a random 0-50 ms; the
   board's wait returns. Event-driven (the board as built) against the 0.1 s poll it replaced
   (``polling_wait`` below, the former code), interleaved trial by trial.
2. Cost: one wait for N coroutine tasks of random 0-1 s sleeps, CPU time of the waiting process,
   the board's event-driven wait against a plain ``TaskManager.wait`` (which cannot hear questions).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import threading
import time
from pathlib import Path

from async_task_system import TaskManager
from async_task_system.agent._board import Limits, TaskBoard
from async_task_system.agent._input import InputRequests
from async_task_system.agent._registry import TaskRegistry


def polling_wait(tm: TaskManager, asking, ids: list[str], limit: float) -> None:
    """The wait as it was: ``tm.wait`` in slices of 0.1 s, looking for a question in between."""
    end = time.monotonic() + limit
    while True:
        left = end - time.monotonic()
        done, not_done = tm.wait(ids, timeout=max(0.0, min(0.1, left)))
        if not not_done or left <= 0.1 or any(asking(tid) for tid in not_done):
            return


def wake_latency(arm: str) -> float:
    """Seconds from a question being asked to the wait returning."""
    asked_at: list[float] = []
    with TaskManager(max_workers=1) as tm:
        questions = InputRequests(tm)
        board = TaskBoard(tm, TaskRegistry([], []), Limits(max_wait_seconds=30))
        board.watch_questions(questions)
        started = threading.Event()

        def asker() -> None:
            from async_task_system import current_task

            started.set()
            time.sleep(random.uniform(0, 0.05))
            threading.Timer(0.5, lambda: questions.answer(task_id, "x")).start()
            asked_at.append(time.monotonic())
            questions.ask(current_task().task_id, "Which year?", timeout=5)

        task_id = tm.submit(asker)
        started.wait(10)
        if arm == "event-driven":
            board._wait_or_question([task_id], 30, "ALL_COMPLETED")
        else:
            polling_wait(tm, questions.is_open, [task_id], 30)
        returned = time.monotonic()
        tm.wait([task_id], timeout=10)
    return returned - asked_at[0]


async def _nap(seconds: float) -> None:
    await asyncio.sleep(seconds)


def wait_cost(arm: str, n: int) -> float:
    """CPU seconds of this process during one wait for ``n`` coroutine tasks."""
    with TaskManager(max_coroutines=n) as tm:
        board = TaskBoard(tm, TaskRegistry([], []), Limits(max_wait_seconds=60))
        board.watch_questions(InputRequests(tm))
        ids = [tm.submit(_nap, (random.random(),)) for _ in range(n)]
        start = time.process_time()
        if arm == "event-driven":
            board._wait_or_question(ids, 60, "ALL_COMPLETED")
        else:
            tm.wait(ids, timeout=60)
        return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path)
    options = parser.parse_args()
    random.seed(7)
    latency: dict[str, list[float]] = {"event-driven": [], "0.1 s poll": []}
    for _ in range(options.trials):
        for arm in latency:
            latency[arm].append(wake_latency(arm))
    cost: dict[str, list[float]] = {"event-driven": [], "TaskManager.wait": []}
    for _ in range(options.rounds):
        for arm in cost:
            cost[arm].append(wait_cost(arm, options.tasks))
    event, poll = (statistics.median(latency[a]) * 1000 for a in latency)
    lines = [
        "| measure | value |", "|---|---:|",
        f"| question asked -> wait returns, median of {options.trials}: event-driven | {event:.2f} ms |",
        f"| the same with the former 0.1 s poll | {poll:.2f} ms |",
        f"| ratio poll / event-driven | {poll / event:.0f}x |",
    ]
    event_cpu, plain_cpu = (statistics.median(cost[a]) for a in cost)
    lines += [
        f"| CPU of one wait for {options.tasks} coroutine tasks (0-1 s each): event-driven board wait | "
        f"{event_cpu * 1000:.0f} ms |",
        f"| the same with a plain `TaskManager.wait` (hears no question) | {plain_cpu * 1000:.0f} ms |",
        f"| ratio board / plain | {event_cpu / plain_cpu:.2f}x |",
    ]
    text = "\n".join(lines)
    print(text)
    if options.out:
        options.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
