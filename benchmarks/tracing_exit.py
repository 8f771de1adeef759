"""What a trace collector costs a run and its exit when it is down: arms side by side, interleaved.

Each arm is a fresh ``python`` process that (optionally) calls ``setup_tracing``, runs three
0.5 s tasks that each open a span, and exits. Measured per arm (median of the rounds):
  run     seconds from submit to the three results (the notebook's "three 0.5 s lookups")
  exit    seconds from the script's last line to the process's end (atexit flush included)
Arms: no tracing (the floor); a collector that answers (a local OTLP sink); a down collector
(a closed port) with ``batch=True`` and with ``batch=False``.

    .venv/bin/python benchmarks/tracing_exit.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import http.server
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SCRIPT = """
import sys, time
from async_task_system import TaskManager, setup_tracing
from opentelemetry import trace
mode, endpoint = sys.argv[1], sys.argv[2]
if mode != "off":
    setup_tracing(project_name="exit-bench", endpoint=endpoint, batch=mode == "batch", instrument_smolagents=False)
tracer = trace.get_tracer("bench")
def lookup(n):
    with tracer.start_as_current_span(f"lookup {n}"):
        time.sleep(0.5)
    return n
with TaskManager(max_workers=3) as tm:
    start = time.perf_counter()
    ids = [tm.submit(lookup, (n,)) for n in range(3)]
    tm.wait(ids, timeout=300)
    run = time.perf_counter() - start
print(f"{run:.4f} {time.time():.6f}", flush=True)
"""


class _Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def _one(script: Path, mode: str, endpoint: str) -> tuple[float, float, int]:
    proc = subprocess.Popen([sys.executable, str(script), mode, endpoint], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=300)
    ended = time.time()
    run, last_line = (float(x) for x in out.split())
    return run, ended - last_line, len(err.strip().splitlines())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    sink = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    arms = {"no tracing": ("off", ""), "collector up, batch": ("batch", f"http://127.0.0.1:{sink.server_port}"),
            "collector down, batch": ("batch", _closed_port()), "collector down, batch=False": ("simple", _closed_port())}
    results: dict[str, list[tuple[float, float, int]]] = {arm: [] for arm in arms}
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder, "exit_bench.py")
        script.write_text(SCRIPT)
        for _round in range(args.rounds):
            for arm, (mode, endpoint) in arms.items():
                results[arm].append(_one(script, mode, endpoint))
    sink.shutdown()
    floor = statistics.median(r[1] for r in results["no tracing"])
    print(f"| arm ({args.rounds} rounds, median) | run of three 0.5 s tasks | exit | exit - floor | stderr lines |")
    print("|---|---|---|---|---|")
    for arm, rows in results.items():
        run, exit_ = statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows)
        print(f"| {arm} | {run:.2f}s | {exit_:.2f}s | {exit_ - floor:+.2f}s | {max(r[2] for r in rows)} |")


if __name__ == "__main__":
    main()
