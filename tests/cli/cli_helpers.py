"""Running ``async-agent`` as a user would: the console script in a fresh folder, a fake
OpenAI-compatible server on 127.0.0.1 for LiteLLM, a core install simulated by blocking extras."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

BIN = Path(sys.executable).parent / "async-agent"
COMMAND = [str(BIN)] if BIN.exists() else [sys.executable, "-m", "async_task_system.cli"]
_SETTINGS = ("MODEL_ID", "API_KEY", "BASE_URL", "DASK_SCHEDULER_ADDRESS", "OPENAI_API_KEY", "PYTHONPATH")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(process: subprocess.Popen) -> None:
    """End a process started with ``start_new_session=True`` and its children: TERM, then KILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if process.poll() is not None:
            return
        os.killpg(process.pid, sig)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            continue


def async_agent(args: list[str], cwd: Path, *, timeout: float = 120, env: dict[str, str] | None = None,
                columns: int = 160) -> subprocess.CompletedProcess[str]:
    """Run the console script in ``cwd`` with no model configured (unless ``env`` or a .env says so)."""
    base = {k: v for k, v in os.environ.items() if k not in _SETTINGS}
    base.update({"LITELLM_LOCAL_MODEL_COST_MAP": "True", "COLUMNS": str(columns)}, **(env or {}))
    return subprocess.run([*COMMAND, *args], cwd=cwd, env=base, capture_output=True, text=True, timeout=timeout)


def without_packages(folder: Path, *names: str) -> dict[str, str]:
    """Env for a subprocess in which importing ``names`` fails as on an install without them."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(
        "import sys\n"
        "class _Missing:\n"
        f"    names = {names!r}\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in self.names:\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "        return None\n"
        "sys.meta_path.insert(0, _Missing())\n")
    return {"PYTHONPATH": str(folder)}


def table_rows(out: str) -> dict[str, tuple[str, str, str]]:
    """The live table's last frame: {task id: (type, name, status)}."""
    rows = re.findall(r"^\s*(t\d+)\s+(tool|agent)\s+(\w+)\s+(\w+)\s", out, re.MULTILINE)
    return {task_id: (kind, name, status) for task_id, kind, name, status in rows}


def summary_figures(out: str) -> dict[str, str]:
    """The rows of the run summary table: {label: value} (the token label may say "estimated")."""
    rows = {}
    for label in ("tasks", "wall time", "the same tasks one after another", "model calls", "tokens"):
        match = re.search(rf"│\s*({re.escape(label)}[^│]*?)\s*│\s*([^│]+?)\s*│", out)
        assert match, f"no {label!r} row in the summary:\n{out[-2500:]}"
        rows[label] = match.group(2)
        if label == "tokens":
            rows["tokens label"] = match.group(1)
    return rows


class FakeOpenAI:
    """An OpenAI-compatible chat endpoint on 127.0.0.1: ``reply(messages) -> str`` answers each call."""

    def __init__(self, reply: Callable[[list[dict]], str]) -> None:
        self.reply = reply
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
                outer.requests.append({"path": self.path, "body": body,
                                       "authorization": self.headers.get("authorization")})
                text = outer.reply(body.get("messages", []))
                data = json.dumps({
                    "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": body.get("model"),
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": text}}],
                    "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
                }).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    @contextmanager
    def running(self) -> Iterator[FakeOpenAI]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()
            thread.join(5)
