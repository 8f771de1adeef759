"""Fixtures of the service tests: real uvicorn servers (see service_harness)."""

from __future__ import annotations

from pathlib import Path

import pytest
from service_harness import TOKEN, ServiceProcess


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory):
    """One running service (token ``TOKEN``) shared by a test module."""
    server = ServiceProcess(tmp_path_factory.mktemp("service") / "tasks.db").start()
    yield server
    server.stop()
    server.assert_no_tracebacks()


@pytest.fixture
def api(service: ServiceProcess):
    """An httpx client of ``service`` that sends the right token."""
    with service.client() as client:
        yield client


@pytest.fixture
def start_service(tmp_path: Path):
    """Factory: start services (stopped at the end of the test)."""
    started: list[ServiceProcess] = []

    def start(db: Path | None = None, token: str | None = TOKEN, **env: str) -> ServiceProcess:
        server = ServiceProcess(db or tmp_path / "tasks.db", token, **env).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
    for server in started:
        server.assert_no_tracebacks()
