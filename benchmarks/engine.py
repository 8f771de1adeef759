"""Engine benchmark: TaskManager against a raw ThreadPoolExecutor, side by side in one process.

    .venv/bin/python benchmarks/engine.py [--tasks 10000] [--workers 4] [--rounds 5]

Reports throughput of no-op tasks (and the ratio to the raw pool: goal >= 0.55), the
median delay from a task's end to wait() returning (goal < 2 ms), memory per
10,000 finished records, throughput while a task waits for a local resource, the cost of submit() with big marker-free arguments (goal: flat
in their size), and the memory a default TaskManager holds after 100,000 tasks nobody
reads (goal: < 30 MB above a fresh one).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import gc
import statistics
import time
import tracemalloc

from async_task_system import ResultOf, TaskManager


def noop() -> None:
    return None


def raw_pool_throughput(n: int, workers: int) -> float:
    with cf.ThreadPoolExecutor(max_workers=workers) as pool:
        start = time.perf_counter()
        futures = [pool.submit(noop) for _ in range(n)]
        cf.wait(futures)
        return n / (time.perf_counter() - start)


def manager_throughput(n: int, workers: int, **kwargs) -> float:
    with TaskManager(max_workers=workers, max_unfinished=n, max_finished=n, **kwargs) as tm:
        start = time.perf_counter()
        ids = [tm.submit(noop) for _ in range(n)]
        tm.wait(ids)
        return n / (time.perf_counter() - start)


def throughput_past_a_waiting_gpu_task(n: int, workers: int) -> float:
    """No-op tasks on a manager with a local GPU that one task holds and another waits for: the
    dispatch path that looks past tasks waiting for resources."""
    import threading

    gate = threading.Event()
    with TaskManager(max_workers=workers, max_unfinished=n + 2, max_finished=n + 2, resources={"GPU": 1}) as tm:
        held = tm.submit(gate.wait, (60,), resources={"GPU": 1})
        waiting = tm.submit(noop, resources={"GPU": 1})
        start = time.perf_counter()
        ids = [tm.submit(noop) for _ in range(n)]
        tm.wait(ids)
        took = time.perf_counter() - start
        gate.set()
        tm.wait([held, waiting])
        return n / took


def wake_latency_ms(samples: int, workers: int) -> tuple[float, float]:
    """Median ms from the task's last line to wait() returning: TaskManager, then raw cf.wait."""
    stamp: list[float] = []

    def task() -> None:
        time.sleep(0.002)
        stamp.append(time.perf_counter())

    ours, raw = [], []
    with TaskManager(max_workers=workers) as tm, cf.ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in range(samples):
            stamp.clear()
            tm.wait(tm.submit(task))
            ours.append(time.perf_counter() - stamp[0])
            stamp.clear()
            cf.wait([pool.submit(task)])
            raw.append(time.perf_counter() - stamp[0])
    return statistics.median(ours) * 1e3, statistics.median(raw) * 1e3


def memory_per_10k_records(n: int = 10_000) -> float:
    """Bytes retained by n finished (unread) records, scaled to 10,000."""
    with TaskManager(max_workers=2, max_unfinished=n, max_finished=n) as tm:
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        ids = [tm.submit(noop) for _ in range(n)]
        tm.wait(ids)
        gc.collect()
        used = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
    return used * 10_000 / n


def submit_cost_us(size: int, markers_elsewhere: bool, n: int = 200) -> float:
    """Median microseconds per submit() of a task whose one argument is a marker-free list of ``size``."""
    data = list(range(size))
    keep = [ResultOf("t1")] if markers_elsewhere else []  # a marker alive somewhere in the process
    times = []
    with TaskManager(max_workers=2, max_unfinished=n + 1) as tm:
        for _ in range(n):
            start = time.perf_counter()
            tm.submit(len, (data,))
            times.append(time.perf_counter() - start)
    del keep
    return statistics.median(times) * 1e6


def default_retention_mib(n: int = 100_000, batch: int = 5_000) -> float:
    """MiB a default TaskManager holds after ``n`` finished tasks nobody read, above a fresh one."""
    gc.collect()
    tracemalloc.start()
    with TaskManager() as tm:
        gc.collect()
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(n // batch):
            tm.wait([tm.submit(noop) for _ in range(batch)])
        gc.collect()
        used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return used / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    raw, ours, gpu = [], [], []
    manager_throughput(1000, args.workers)  # warm up
    for _ in range(args.rounds):  # interleaved, so machine noise hits both arms alike
        raw.append(raw_pool_throughput(args.tasks, args.workers))
        ours.append(manager_throughput(args.tasks, args.workers))
        gpu.append(throughput_past_a_waiting_gpu_task(args.tasks, args.workers))
    raw_med, ours_med, gpu_med = statistics.median(raw), statistics.median(ours), statistics.median(gpu)
    wake_ours, wake_raw = wake_latency_ms(200, args.workers)
    mem = memory_per_10k_records()
    cost = {(size, elsewhere): submit_cost_us(size, elsewhere)
            for size in (10, 300_000) for elsewhere in (False, True)}
    retained = default_retention_mib()

    print(f"| measure ({args.tasks} no-op tasks, {args.workers} workers, median of {args.rounds}) | value |")
    print("|---|---|")
    print(f"| raw ThreadPoolExecutor throughput | {raw_med:,.0f} tasks/s |")
    print(f"| TaskManager throughput | {ours_med:,.0f} tasks/s |")
    print(f"| ratio TaskManager / raw pool (goal >= 0.55) | {ours_med / raw_med:.2f} |")
    print(f"| TaskManager throughput past a task waiting for the local GPU | {gpu_med:,.0f} tasks/s "
          f"({gpu_med / ours_med:.2f}x) |")
    print(f"| median task end -> wait() returns, TaskManager (goal < 2 ms) | {wake_ours:.3f} ms |")
    print(f"| median task end -> cf.wait() returns, raw pool | {wake_raw:.3f} ms |")
    print(f"| memory per 10,000 finished records (unread results kept) | {mem / 2**20:.2f} MiB |")
    for (size, elsewhere), micros in cost.items():
        where = "a ResultOf alive elsewhere" if elsewhere else "no ResultOf alive"
        print(f"| submit() with a marker-free list of {size:,} items, {where} | {micros:.1f} us |")
    print(f"| default TaskManager after 100,000 unread tasks, above a fresh one (goal < 30 MB) "
          f"| {retained:.1f} MiB |")


if __name__ == "__main__":
    main()
