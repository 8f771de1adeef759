"""Fixtures for the tracing tests: an in-memory span exporter, and a real Phoenix server."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from async_task_system.tracing import shutdown_tracing

PHOENIX = Path(sys.executable).with_name("phoenix")


class Spans:
    """A tracer provider that keeps finished spans in memory, with lookups for the tests."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    def finished(self) -> list:
        return list(self.exporter.get_finished_spans())

    def named(self, name: str) -> list:
        return [s for s in self.finished() if s.name == name]

    def wait_for(self, name: str, timeout: float = 5.0):
        """The one span ``name``, once it has ended: a span ends just after the task's waiters
        wake (observers run outside the manager's lock), so a test may get there first."""
        deadline = time.monotonic() + timeout
        while not self.named(name) and time.monotonic() < deadline:
            time.sleep(0.005)
        return self.one(name)

    def one(self, name: str):
        spans = self.named(name)
        assert len(spans) == 1, f"expected one span {name!r}, got {[s.name for s in self.finished()]}"
        return spans[0]


@pytest.fixture
def spans():
    recorder = Spans()
    yield recorder
    recorder.provider.shutdown()


@pytest.fixture(autouse=True)
def _no_tracing_left_behind():
    """setup_tracing() changes process-wide state: undo it after every test."""
    yield
    shutdown_tracing()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PhoenixServer:
    """A Phoenix server process on 127.0.0.1, and how to read spans back from it."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.http = httpx.Client(base_url=self.url, timeout=10)

    def spans(self, project: str, *, expect: int = 1, timeout: float = 20.0) -> list[dict]:
        """All spans of ``project``, once at least ``expect`` have arrived (Phoenix answers 404
        until a project's first span lands, and ingests asynchronously)."""
        deadline = time.monotonic() + timeout
        found: list[dict] = []
        while True:
            found = self._all_spans(project)
            if len(found) >= expect or time.monotonic() > deadline:
                return found
            time.sleep(0.25)

    def _all_spans(self, project: str) -> list[dict]:
        found: list[dict] = []
        cursor = None
        while True:
            params = {"limit": 1000}
            if cursor:
                params["cursor"] = cursor
            response = self.http.get(f"/v1/projects/{project}/spans", params=params)
            if response.status_code == 404:
                return []
            response.raise_for_status()
            body = response.json()
            found += body["data"]
            cursor = body.get("next_cursor")
            if not cursor:
                return found


@pytest.fixture(scope="session")
def phoenix_server():
    """A real Phoenix server for the session: temp working dir, free ports, killed at the end."""
    workdir = tempfile.mkdtemp(prefix="phoenix-")
    port = _free_port()
    env = dict(
        os.environ,
        PHOENIX_HOST="127.0.0.1",
        PHOENIX_PORT=str(port),
        PHOENIX_GRPC_PORT=str(_free_port()),
        PHOENIX_WORKING_DIR=workdir,
        PHOENIX_TELEMETRY_ENABLED="false",
    )
    log = open(os.path.join(workdir, "server.log"), "wb")
    process = subprocess.Popen([str(PHOENIX), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    server = PhoenixServer(port)
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"phoenix serve exited with {process.returncode}: "
                                   f"{Path(workdir, 'server.log').read_text()[-2000:]}")
            try:
                if server.http.get("/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("phoenix serve did not answer /healthz within 90 s")
            time.sleep(0.25)
        yield server
    finally:
        server.http.close()
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)
