"""Task service throughput: submit and status over real HTTP against uvicorn on loopback.

Run: .venv/bin/python benchmarks/service.py [--tasks 1000] [--clients 8]

Starts the service (one uvicorn worker, SQLite WAL store in a temp dir, bearer token)
in a subprocess, then measures from this process with httpx keep-alive clients:
  submit  POST /tasks            (validate, queue, write the record)
  status  GET /tasks/{id}        (read the record)
  wait    GET /tasks/{id}?wait=10 (long-poll until the task has ended)
once with one client (sequential) and once with --clients threads; then /health latency
idle and while 4 clients page through big records (SQLite reads and JSON encoding run off
the event loop, so /health should barely notice). Prints a table and writes
benchmarks/results/service.md.

The /health arm (``--health-code``, default ``x = 7 ** 4000000; y = x * x``): a run whose
model writes that code, with the code in a child process (the service's default) and in
the server's own process; one client calls /health back to back until the run ends.
``--health-only`` runs just this arm.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TOKEN = "bench-token-0123456789"


def build():
    """uvicorn app factory: one cheap tool, so the figures are the service's own cost."""
    from smolagents import tool

    from async_task_system.server import create_app

    @tool
    def add(a: int, b: int) -> int:
        """Add two integers.

        Args:
            a: first
            b: second
        """
        return a + b

    @tool
    def pause(seconds: float) -> float:
        """Sleep, then return how long.

        Args:
            seconds: how long to sleep
        """
        time.sleep(seconds)
        return seconds

    @tool
    def echo(text: str) -> str:
        """Return the text.

        Args:
            text: what to return
        """
        return text

    return create_app([add, pause, echo], token=TOKEN, db_path=os.environ["BENCH_DB"], max_workers=4, max_unfinished=100_000)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build_runs():
    """uvicorn app factory for the /health arm: the model's first step is BENCH_CODE, then it answers."""
    from async_task_system.server import create_app
    from async_task_system.testing import ScriptedModel, last_observation

    code = os.environ["BENCH_CODE"]
    in_child = os.environ["BENCH_CODE_IN_SUBPROCESS"] == "1"
    agent_kwargs = {"code_in_subprocess": in_child}
    if not in_child:  # measure the stall itself, not the in-process guard that refuses it
        agent_kwargs["executor_kwargs"] = {"max_int_digits": None}
    model = ScriptedModel(lambda messages: "final_answer('done')" if last_observation(messages) else code)
    return create_app([], model=model, token=TOKEN, db_path=os.environ["BENCH_DB"], agent_kwargs=agent_kwargs)


def _start_server(db: Path, factory: str = "build", **extra_env: str) -> tuple[subprocess.Popen, str]:
    import httpx

    port = _free_port()
    env = {**os.environ, "BENCH_DB": str(db), "LITELLM_LOCAL_MODEL_COST_MAP": "True", **extra_env}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", f"service:{factory}", "--app-dir", str(HERE), "--host",
         "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/health", timeout=1)
            return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the service did not start")


def _run(url: str, n: int, clients: int) -> dict[str, dict[str, float]]:
    """Each client thread submits its share, then reads each status, then long-polls each."""
    import httpx

    shares = [n // clients + (1 if i < n % clients else 0) for i in range(clients)]
    lat: dict[str, list[float]] = {"submit": [], "status": [], "wait": []}
    spans: dict[str, list[float]] = {"submit": [], "status": [], "wait": []}
    lock = threading.Lock()
    barrier = threading.Barrier(clients)
    errors: list[str] = []

    def client(count: int) -> None:
        mine: dict[str, list[float]] = {"submit": [], "status": [], "wait": []}
        ids: list[str] = []
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as http:
            for phase in ("submit", "status", "wait"):
                barrier.wait()
                start = time.perf_counter()
                for i in range(count):
                    t0 = time.perf_counter()
                    if phase == "submit":
                        r = http.post("/tasks", json={"task_type": "add", "parameters": {"a": i, "b": 1}})
                        ids.append(r.json()["id"]) if r.status_code == 202 else errors.append(r.text)
                    elif phase == "status":
                        r = http.get(f"/tasks/{ids[i]}")
                    else:
                        r = http.get(f"/tasks/{ids[i]}", params={"wait": 10})
                        if r.json()["status"] != "completed":
                            errors.append(r.text)
                    mine[phase].append(time.perf_counter() - t0)
                with lock:
                    spans[phase].append(time.perf_counter() - start)
        with lock:
            for phase, values in mine.items():
                lat[phase].extend(values)

    threads = [threading.Thread(target=client, args=(share,)) for share in shares]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"{len(errors)} requests failed, e.g. {errors[0][:300]}")
    out = {}
    for phase, values in lat.items():
        values.sort()
        out[phase] = {
            "rps": len(values) / max(spans[phase]),
            "p50_ms": 1000 * statistics.median(values),
            "p99_ms": 1000 * values[min(len(values) - 1, int(0.99 * len(values)))],
        }
    return out


def _median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    """The run with the median requests/s, plus the range over all runs."""
    ordered = sorted(runs, key=lambda r: r["rps"])
    return {**ordered[len(ordered) // 2], "rps_min": ordered[0]["rps"], "rps_max": ordered[-1]["rps"]}


def _wake_latency(url: str, n: int, pause: float) -> dict[str, float]:
    """Submit a ``pause`` task and long-poll it at once: how long after its run ended the answer came."""
    import httpx

    delays = []
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as http:
        for _ in range(n):
            task_id = http.post("/tasks", json={"task_type": "pause", "parameters": {"seconds": pause}}).json()["id"]
            record = http.get(f"/tasks/{task_id}", params={"wait": 10}).json()
            delays.append(time.time() - record["finished_at"])
    delays.sort()
    return {"p50_ms": 1000 * statistics.median(delays), "p99_ms": 1000 * delays[int(0.99 * (len(delays) - 1))]}


def _health_during_listings(url: str, records: int = 40, listers: int = 4, probes: int = 200) -> dict[str, float]:
    """/health latency idle, then while ``listers`` threads page through ``records`` records of
    ~400 KB each (``GET /tasks?limit=500``: pages of about 1 MB)."""
    import httpx

    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
        for _ in range(records):
            task_id = http.post("/tasks", json={"task_type": "echo", "parameters": {"text": "d" * 400_000}}).json()["id"]
            http.get(f"/tasks/{task_id}", params={"wait": 10})

    def probe() -> list[float]:
        out = []
        with httpx.Client(base_url=url, timeout=60) as http:
            for _ in range(probes):
                t0 = time.perf_counter()
                http.get("/health")
                out.append(time.perf_counter() - t0)
                time.sleep(0.005)
        return sorted(out)

    idle = probe()
    stop = threading.Event()
    pages = [0]

    def lister() -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
            while not stop.is_set():
                offset = 0
                while offset is not None and not stop.is_set():
                    offset = http.get("/tasks", params={"limit": 500, "offset": offset}).json()["next_offset"]
                    pages[0] += 1

    threads = [threading.Thread(target=lister) for _ in range(listers)]
    for t in threads:
        t.start()
    try:
        busy = probe()
    finally:
        stop.set()
        for t in threads:
            t.join()

    def pct(values: list[float], q: float) -> float:
        return 1000 * values[min(len(values) - 1, int(q * len(values)))]

    return {"idle_p50": pct(idle, 0.5), "idle_p99": pct(idle, 0.99), "busy_p50": pct(busy, 0.5),
            "busy_p99": pct(busy, 0.99), "pages": pages[0], "records": records, "listers": listers}


def _health_during_run(tmp: str, code: str, in_child: bool) -> dict[str, float]:
    """/health latencies, back to back, from POST /runs until the run has ended."""
    import httpx

    proc, url = _start_server(Path(tmp) / f"health-{int(in_child)}.db", "build_runs", BENCH_CODE=code,
                              BENCH_CODE_IN_SUBPROCESS="1" if in_child else "0")
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120) as http:
            start = time.perf_counter()
            run = http.post("/runs", json={"prompt": "compute"}).json()
            ended = threading.Event()
            record: dict = {}

            def watch() -> None:
                while not ended.is_set():
                    got = http.get(f"/runs/{run['id']}", params={"wait": 30}).json()
                    if got["status"] not in ("pending", "running"):
                        record.update(got)
                        ended.set()

            watcher = threading.Thread(target=watch)
            watcher.start()
            latencies = []
            with httpx.Client(base_url=url, timeout=120) as probe:
                while not ended.is_set():
                    t0 = time.perf_counter()
                    probe.get("/health").raise_for_status()
                    latencies.append(time.perf_counter() - t0)
            watcher.join()
            run_time = time.perf_counter() - start
    finally:
        proc.terminate()
        proc.wait(15)
    if record.get("status") != "completed":
        raise RuntimeError(f"the run did not complete: {record}")
    latencies.sort()
    return {"n": len(latencies), "p50_ms": 1000 * statistics.median(latencies),
            "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
            "max_ms": 1000 * latencies[-1], "run_s": run_time}


def _health_lines(code: str, arms: dict[str, dict[str, float]]) -> list[str]:
    lines = ["", f"## /health while a run computes `{code}`", "",
             "One client calls /health back to back from `POST /runs` until the run has ended (the run's "
             "model writes that code in its first step, then answers).", "",
             "| model code runs | /health calls | p50 ms | p99 ms | max ms | run took |",
             "|---|---:|---:|---:|---:|---:|"]
    for label, r in arms.items():
        lines.append(f"| {label} | {r['n']} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['max_ms']:.0f} | "
                     f"{r['run_s']:.1f} s |")
    child, inproc = arms["in a child process (default)"], arms["in the server's process"]
    lines += ["", f"p99 in the server's process / in a child: {inproc['p99_ms'] / child['p99_ms']:.0f}x."]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3, help="runs per arm; the table shows the median run")
    parser.add_argument("--out", default=str(HERE / "results" / "service.md"))
    parser.add_argument("--health-code", default="x = 7 ** 4000000\ny = x * x")
    parser.add_argument("--health-only", action="store_true", help="run only the /health-under-a-run arm")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        health = {label: _health_during_run(tmp, args.health_code, in_child) for label, in_child in
                  (("in a child process (default)", True), ("in the server's process", False))}
    code_shown = args.health_code.replace("\n", "; ")
    if args.health_only:
        text = "\n".join(["# Task service: /health under a run", "",
                           f"Command: `.venv/bin/python benchmarks/service.py --health-only`  ",
                           f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
                           f"{platform.system()}; client and server share the machine.",
                           *_health_lines(code_shown, health)]) + "\n"
        print(text)
        out = Path(args.out).with_name("service_health.md") if args.out.endswith("service.md") else Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for label, clients in (("1 client", 1), (f"{args.clients} clients", args.clients)):
            proc, url = _start_server(Path(tmp) / f"bench-{clients}.db")  # a fresh server and store per arm
            try:
                _run(url, 50, clients)  # warm-up (imports, connections, SQLite pages)
                runs = [_run(url, args.tasks, clients) for _ in range(args.repeat)]
                results[label] = {phase: _median_run([r[phase] for r in runs]) for phase in runs[0]}
                if clients == 1:
                    wake = _wake_latency(url, 100, 0.05)
                    listing = _health_during_listings(url)
            finally:
                proc.terminate()
                proc.wait(15)
    command = (f".venv/bin/python benchmarks/service.py --tasks {args.tasks} --clients {args.clients} "
               f"--repeat {args.repeat}")
    lines = [
        "# Task service: submit and status over HTTP",
        "",
        f"Command: `{command}`  ",
        f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}; "
        "client and server share the machine (uvicorn, 1 worker, loopback, SQLite WAL, bearer token).",
        "",
        f"{args.tasks} tasks per arm (tool `add`, 4 engine workers). `wait` is a long-poll "
        "(`GET /tasks/{id}?wait=10`) on a task that has usually already finished.",
        "",
        f"Each arm ran {args.repeat} times on one server (fresh per arm); the table shows the run with the "
        "median requests/s and the range over the runs. The machine is shared and noisy: compare arms "
        "within one table, not across tables.",
        "",
        "| arm | phase | requests/s (median) | range | p50 ms | p99 ms |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for label, phases in results.items():
        for phase, r in phases.items():
            lines.append(f"| {label} | {phase} | {r['rps']:.0f} | {r['rps_min']:.0f}-{r['rps_max']:.0f} | "
                         f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} |")
    one, many = results["1 client"], results[f"{args.clients} clients"]
    lines += ["", "Ratios (" + f"{args.clients} clients / 1 client, requests/s): " + ", ".join(
        f"{phase} {many[phase]['rps'] / one[phase]['rps']:.2f}x" for phase in one), "",
        f"Long-poll wake-up: 100 tasks sleeping 50 ms, each long-polled right after submit; the answer "
        f"arrived {wake['p50_ms']:.2f} ms (p50) / {wake['p99_ms']:.2f} ms (p99) after the task's recorded end "
        "(the store write, the wake-up of the waiting request and the HTTP response; no polling interval).",
        "",
        f"/health while {listing['listers']} clients page through {listing['records']} records of ~400 KB "
        f"(`GET /tasks?limit=500`, pages bounded to ~1 MB; {listing['pages']} pages served meanwhile): "
        f"p50 {listing['busy_p50']:.2f} ms / p99 {listing['busy_p99']:.2f} ms, against "
        f"{listing['idle_p50']:.2f} / {listing['idle_p99']:.2f} ms idle "
        f"(p99 ratio {listing['busy_p99'] / listing['idle_p99']:.1f}x).",
        *_health_lines(code_shown, health)]
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
