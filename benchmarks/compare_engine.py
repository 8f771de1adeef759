"""TaskManager throughput of this checkout against another one (e.g. main), side by side in one process.

    .venv/bin/python benchmarks/compare_engine.py OTHER_CHECKOUT [--tasks 5000] [--workers 4] [--rounds 20]

Both checkouts' packages are copied under other names (their imports are relative), so both
run in one process, alike, round after round alternately (which goes first alternates too):
machine noise hits both arms alike. Prints each arm's median throughput of no-op tasks and the
CPU time (all threads) per task, which a loaded machine disturbs less, and the ratios.
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path


def noop() -> None:
    return None


def throughput(manager_class: type, n: int, workers: int) -> tuple[float, float]:
    """(tasks/s, microseconds of process CPU time per task)."""
    # observers=[]: the first package imported would own the process-wide tracing set-up, the other not
    with manager_class(max_workers=workers, max_unfinished=n, max_finished=n, observers=[]) as tm:
        start, cpu = time.perf_counter(), time.process_time()
        ids = [tm.submit(noop) for _ in range(n)]
        tm.wait(ids)
        return n / (time.perf_counter() - start), (time.process_time() - cpu) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", type=Path)
    parser.add_argument("--tasks", type=int, default=5_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(Path(__file__).resolve().parent.parent / "async_task_system", Path(tmp) / "this_ats")
        shutil.copytree(args.other / "async_task_system", Path(tmp) / "other_ats")
        sys.path.insert(0, tmp)
        this = importlib.import_module("this_ats").TaskManager
        other = importlib.import_module("other_ats").TaskManager
        ours, theirs = [], []
        throughput(this, 1000, args.workers), throughput(other, 1000, args.workers)  # warm up
        for i in range(args.rounds):
            for arm in ((other, theirs), (this, ours))[::1 if i % 2 else -1]:
                arm[1].append(throughput(arm[0], args.tasks, args.workers))
    rate = {k: statistics.median(r for r, _ in v) for k, v in (("this", ours), ("other", theirs))}
    cpu = {k: statistics.median(c for _, c in v) for k, v in (("this", ours), ("other", theirs))}
    print(f"| no-op tasks ({args.tasks} x {args.rounds} rounds, {args.workers} workers) | median tasks/s "
          "| median CPU us per task |")
    print("|---|---|---|")
    print(f"| {args.other} | {rate['other']:,.0f} | {cpu['other']:.1f} |")
    print(f"| this checkout | {rate['this']:,.0f} | {cpu['this']:.1f} |")
    print(f"| this / other | {rate['this'] / rate['other']:.2f} | {cpu['this'] / cpu['other']:.2f} |")


if __name__ == "__main__":
    main()
