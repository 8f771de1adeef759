"""Dask benchmark: the TaskManager on a Dask process cluster beside raw Dask and beside threads.

    .venv/bin/python benchmarks/dask.py [--noop 500] [--sleepers 64] [--rounds 3] [--external] [--out PATH]

Arms (each run in this one process, interleaved, median of ``--rounds``):
1. throughput: ``--noop`` no-op tasks on one LocalCluster of 2 worker processes x 2 threads, through
   ``TaskManager(executor=DaskExecutor(client))`` and as raw ``client.submit`` + ``wait`` (the goal:
   the manager at >= 0.8x raw Dask), plus raw ``submit`` + ``gather`` (results brought home, as the
   manager does) and the manager on a 4-thread pool for scale;
2. ``--sleepers`` tasks of 0.5 s: 4 threads against 2 workers x 2 threads (ideal: n/4 x 0.5 s);
3. CPU-bound pure-Python tasks: what processes buy over GIL-bound threads (2 cores here);
4. latency: ``--chain`` dependent no-op tasks, each given the previous one's result, beside raw Dask's
   chain of futures.

``--external``: the throughput arms again (manager and raw Dask, side by side) on a cluster whose
scheduler runs in a process of its own (``dask scheduler`` + ``dask worker --nworkers 2 --nthreads 2``
subprocesses, as deployments have), not in the client's process as a LocalCluster's does.
"""

from __future__ import annotations

import os
import sys

# This file is named dask.py: keep its directory off sys.path so "import dask" finds the library.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from collections.abc import Callable  # noqa: E402

from distributed import Client, LocalCluster, wait  # noqa: E402

from async_task_system import ResultOf, TaskManager  # noqa: E402
from async_task_system.executors import DaskExecutor  # noqa: E402


def noop() -> None:
    return None


def nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def spin(n: int) -> int:
    """Pure-Python CPU work: holds the GIL."""
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def run_manager(make: Callable[[], TaskManager], fn: Callable, args: tuple, n: int) -> float:
    tm = make()
    try:
        start = time.perf_counter()
        ids = [tm.submit(fn, args) for _ in range(n)]
        tm.wait(ids)
        elapsed = time.perf_counter() - start
        failed = [i for i in ids if tm.get(i).status.value != "completed"]
        if failed:
            raise RuntimeError(f"{len(failed)} tasks did not complete, e.g. {tm.get(failed[0])}")
        return elapsed
    finally:
        tm.shutdown(wait=True)


def inc(x: int) -> int:
    return x + 1


def chain_manager(make: Callable[[], TaskManager], n: int) -> float:
    """Seconds for ``n`` dependent no-op tasks, each taking the one before's result (``ResultOf``)."""
    tm = make()
    try:
        start = time.perf_counter()
        last = tm.submit(inc, (0,))
        for _ in range(n - 1):
            last = tm.submit(inc, (ResultOf(last),))
        tm.wait([last])
        elapsed = time.perf_counter() - start
        if tm.get(last).result != n:
            raise RuntimeError(f"the chain ended with {tm.get(last)}")
        return elapsed
    finally:
        tm.shutdown(wait=True)


def chain_raw_dask(client: Client, n: int) -> float:
    start = time.perf_counter()
    last = client.submit(inc, 0, pure=False)
    for _ in range(n - 1):
        last = client.submit(inc, last, pure=False)
    if last.result() != n:
        raise RuntimeError("the raw chain went wrong")
    return time.perf_counter() - start


def run_raw_dask(client: Client, n: int, gather: bool = False) -> float:
    start = time.perf_counter()
    futures = [client.submit(noop, pure=False) for _ in range(n)]
    if gather:
        client.gather(futures)
    else:
        wait(futures)
    elapsed = time.perf_counter() - start
    del futures
    return elapsed


def external_cluster(workdir: str) -> tuple[list[subprocess.Popen], str]:
    """``dask scheduler`` and ``dask worker`` as subprocesses; (the processes, the scheduler file)."""
    bindir = os.path.dirname(sys.executable)
    scheduler_file = os.path.join(workdir, "scheduler.json")
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = [subprocess.Popen([os.path.join(bindir, "dask"), "scheduler", "--scheduler-file", scheduler_file,
                               "--port", "0", "--dashboard-address", ":0"], **quiet)]
    deadline = time.monotonic() + 60
    while not Path(scheduler_file).exists():
        if time.monotonic() > deadline:
            raise RuntimeError("dask scheduler did not start within 60 s")
        time.sleep(0.1)
    procs.append(subprocess.Popen([os.path.join(bindir, "dask"), "worker", "--scheduler-file", scheduler_file,
                                   "--nworkers", "2", "--nthreads", "2", "--no-dashboard"], **quiet))
    return procs, scheduler_file


def throughput(client: Client, rounds: int, n: int) -> tuple[list[float], list[float]]:
    """(manager samples, raw Dask samples), interleaved round by round on ``client``'s cluster."""
    def on_dask() -> TaskManager:
        return TaskManager(max_unfinished=100_000, executor=DaskExecutor(client, trace_endpoint=None), observers=[])

    run_manager(on_dask, noop, (), 20)  # warm up
    run_raw_dask(client, 20)
    ours, raw = [], []
    for _ in range(rounds):
        raw.append(run_raw_dask(client, n))
        ours.append(run_manager(on_dask, noop, (), n))
    return ours, raw


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noop", type=int, default=500)
    parser.add_argument("--sleepers", type=int, default=64)
    parser.add_argument("--cpu-tasks", type=int, default=16)
    parser.add_argument("--cpu-loop", type=int, default=5_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--chain", type=int, default=50, help="dependent no-op tasks in the latency arm")
    parser.add_argument("--external", action="store_true",
                        help="also measure throughput on a `dask scheduler` + `dask worker` subprocess cluster")
    parser.add_argument("--out", default=os.path.join(_here, "results", "dask.md"))
    opts = parser.parse_args()

    cluster = LocalCluster(n_workers=2, threads_per_worker=2, processes=True, dashboard_address=":0",
                           silence_logs=50)
    client = Client(cluster)
    client.wait_for_workers(2)
    executor_for_runs: list[DaskExecutor] = []

    def threads() -> TaskManager:
        return TaskManager(max_workers=4, max_unfinished=100_000, observers=[])

    def on_dask() -> TaskManager:
        executor = DaskExecutor(client, trace_endpoint=None)
        executor_for_runs.append(executor)
        # No max_workers: the executor's capacity (threads x (1 + window)) decides how many attempts are in flight.
        return TaskManager(max_unfinished=100_000, executor=executor, observers=[])

    # Warm up: imports and pickling paths on the workers.
    run_manager(on_dask, noop, (), 20)
    run_manager(threads, noop, (), 20)

    noop_threads, noop_dask, noop_raw, noop_gather, windows = [], [], [], [], []
    cpu_threads, cpu_dask = [], []
    for _ in range(opts.rounds):
        noop_threads.append(run_manager(threads, noop, (), opts.noop))
        noop_raw.append(run_raw_dask(client, opts.noop))
        noop_dask.append(run_manager(on_dask, noop, (), opts.noop))
        windows.append(executor_for_runs[-1].window)
        noop_gather.append(run_raw_dask(client, opts.noop, gather=True))
        cpu_threads.append(run_manager(threads, spin, (opts.cpu_loop,), opts.cpu_tasks))
        cpu_dask.append(run_manager(on_dask, spin, (opts.cpu_loop,), opts.cpu_tasks))
    chain_ours, chain_raw = [], []
    for _ in range(opts.rounds):
        chain_raw.append(chain_raw_dask(client, opts.chain))
        chain_ours.append(chain_manager(on_dask, opts.chain))
    sleep_threads = run_manager(threads, nap, (0.5,), opts.sleepers)
    sleep_dask = run_manager(on_dask, nap, (0.5,), opts.sleepers)
    ideal = opts.sleepers / 4 * 0.5

    client.close()
    cluster.close()
    external: tuple[list[float], list[float]] | None = None
    if opts.external:
        with tempfile.TemporaryDirectory() as workdir:
            procs, scheduler_file = external_cluster(workdir)
            try:
                with Client(scheduler_file=scheduler_file) as remote:
                    remote.wait_for_workers(2, timeout=60)
                    external = throughput(remote, opts.rounds, opts.noop)
            finally:
                for proc in reversed(procs):
                    proc.terminate()
                    proc.wait(30)

    n = opts.noop
    per = {name: median(s) / n * 1e3 for name, s in
           (("threads", noop_threads), ("dask", noop_dask), ("raw", noop_raw), ("gather", noop_gather))}
    ratios = [raw / ours for raw, ours in zip(noop_raw, noop_dask)]  # throughput ratio, round by round
    lines = [
        "# Dask executor benchmark",
        "",
        f"Command: `.venv/bin/python benchmarks/dask.py --noop {opts.noop} --sleepers {opts.sleepers} "
        f"--cpu-tasks {opts.cpu_tasks} --cpu-loop {opts.cpu_loop} --rounds {opts.rounds}"
        f"{' --external' if opts.external else ''}`",
        f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}; one "
        "LocalCluster(n_workers=2, threads_per_worker=2, processes=True) in the same machine for every Dask arm; "
        "the manager on Dask: TaskManager(executor=DaskExecutor(client)) (defaults: up to "
        f"prefetch=8 attempts queued per worker thread; the window at the end of each no-op round: {windows}); "
        "on threads: TaskManager(max_workers=4); medians of the rounds.",
        "",
        f"## Throughput: {n} no-op tasks on the same cluster",
        "",
        "| arm | wall | tasks/s | per task |",
        "|---|---:|---:|---:|",
        f"| raw Dask: `client.submit` + `wait` | {median(noop_raw):.3f} s | {n / median(noop_raw):.0f} | "
        f"{per['raw']:.2f} ms |",
        f"| raw Dask: `client.submit` + `gather` | {median(noop_gather):.3f} s | {n / median(noop_gather):.0f} | "
        f"{per['gather']:.2f} ms |",
        f"| TaskManager on DaskExecutor | {median(noop_dask):.3f} s | {n / median(noop_dask):.0f} | "
        f"{per['dask']:.2f} ms |",
        f"| TaskManager on 4 threads (for scale) | {median(noop_threads):.3f} s | "
        f"{n / median(noop_threads):.0f} | {per['threads']:.3f} ms |",
        "",
        f"Ratio TaskManager / raw Dask (`submit` + `wait`) throughput, goal >= 0.8: "
        f"**{median(ratios):.2f}** (median; rounds: {', '.join(f'{r:.2f}' for r in ratios)}). "
        f"Overhead per task over raw Dask: {per['dask'] - per['raw']:.2f} ms.",
        "",
        *(_external_lines(external, n) if external else []),
        f"## Latency: a chain of {opts.chain} dependent no-op tasks (LocalCluster)",
        "",
        "| arm | wall | per link |",
        "|---|---:|---:|",
        f"| raw Dask: each `client.submit` given the previous future | {median(chain_raw):.3f} s | "
        f"{median(chain_raw) / opts.chain * 1e3:.2f} ms |",
        f"| TaskManager: each task given `ResultOf` the previous | {median(chain_ours):.3f} s | "
        f"{median(chain_ours) / opts.chain * 1e3:.2f} ms |",
        "",
        f"Ratio TaskManager / raw Dask wall: **{median(chain_ours) / median(chain_raw):.2f}** (raw Dask hands "
        "the value from worker to worker; the manager brings each home before it submits the next).",
        "",
        "## Long and CPU-bound tasks",
        "",
        "| arm | threads (4) | Dask (2 workers x 2 threads) | Dask / threads |",
        "|---|---|---|---|",
        f"| {opts.sleepers} tasks of 0.5 s, wall (ideal {ideal:.1f} s) | {sleep_threads:.2f} s | "
        f"{sleep_dask:.2f} s | {sleep_dask / sleep_threads:.3f}x |",
        f"| {opts.cpu_tasks} CPU-bound pure-Python tasks, wall | {median(cpu_threads):.2f} s | "
        f"{median(cpu_dask):.2f} s | {median(cpu_dask) / median(cpu_threads):.2f}x |",
        "",
        "Worker processes can beat GIL-bound threads on CPU-bound Python only when cores are free: "
        "read the CPU arm with the load average below (2 cores here).",
        "",
        f"Load average during the run: {os.getloadavg()[0]:.1f} (other jobs share this machine).",
        "",
        f"Raw samples (s): no-op threads {[round(x, 3) for x in noop_threads]}, "
        f"no-op TaskManager on Dask {[round(x, 3) for x in noop_dask]}, raw Dask wait "
        f"{[round(x, 3) for x in noop_raw]}, raw Dask gather {[round(x, 3) for x in noop_gather]}, "
        f"CPU threads {[round(x, 2) for x in cpu_threads]}, CPU Dask {[round(x, 2) for x in cpu_dask]}.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs(os.path.dirname(opts.out), exist_ok=True)
    with open(opts.out, "w") as f:
        f.write(text)


def _external_lines(samples: tuple[list[float], list[float]], n: int) -> list[str]:
    ours, raw = samples
    ratios = [r / o for r, o in zip(raw, ours)]
    return [
        f"## Throughput: {n} no-op tasks, scheduler in its own process (`--external`)",
        "",
        "`dask scheduler` + `dask worker --nworkers 2 --nthreads 2` subprocesses; both arms on that cluster.",
        "",
        "| arm | wall | tasks/s | per task |",
        "|---|---:|---:|---:|",
        f"| raw Dask: `client.submit` + `wait` | {median(raw):.3f} s | {n / median(raw):.0f} | "
        f"{median(raw) / n * 1e3:.2f} ms |",
        f"| TaskManager on DaskExecutor | {median(ours):.3f} s | {n / median(ours):.0f} | "
        f"{median(ours) / n * 1e3:.2f} ms |",
        "",
        f"Ratio TaskManager / raw Dask throughput: **{median(ratios):.2f}** (median; rounds: "
        f"{', '.join(f'{r:.2f}' for r in ratios)}).",
        "",
    ]


if __name__ == "__main__":
    main()
