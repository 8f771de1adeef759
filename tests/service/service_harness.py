"""The service test harness: a real uvicorn server in a subprocess on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

HERE = Path(__file__).parent
TOKEN = "test-token-7f3a-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServiceProcess:
    """``uvicorn --factory service_app:build`` on a free loopback port, on the store ``db``."""

    def __init__(self, db: Path, token: str | None = TOKEN, **env: str) -> None:
        self.db, self.token, self.extra_env = db, token, env
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.log = Path(db).with_suffix(".stderr.log")  # a file, not a pipe: a full pipe would block the server

    def start(self) -> ServiceProcess:
        port = free_port()
        env = {**os.environ, "SERVICE_DB": str(self.db), "SERVICE_TOKEN": self.token or "",
               "LITELLM_LOCAL_MODEL_COST_MAP": "True", **self.extra_env}
        env.pop("ASYNC_AGENT_TOKEN", None)
        with self.log.open("ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "--factory", "service_app:build", "--app-dir", str(HERE),
                 "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                env=env, stdout=subprocess.DEVNULL, stderr=err,
            )
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the service exited at startup: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code in (200, 503):
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)  # startup only: nothing to wait on but the port
        raise RuntimeError("the service did not answer /health within 60 s")

    def client(self, token: str | None = TOKEN) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def assert_no_tracebacks(self) -> None:
        """The server logged no exception (an observer or route that raised would show here)."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        assert "Traceback" not in text, f"the server logged errors:\n{text[-4000:]}"

    def kill(self) -> None:
        """SIGKILL: the process dies mid-whatever, as in a crash."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
