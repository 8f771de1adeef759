"""Token rules without a socket: constant-time match, and no token means loopback only."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from async_task_system.server import create_app
from async_task_system.server._auth import is_loopback, require_token_for_host, token_matches


def test_token_matching():
    assert token_matches("s3cret", "Bearer s3cret") and token_matches("s3cret", "bearer s3cret")
    for header in (None, "", "s3cret", "Basic s3cret", "Bearer s3cre", "Bearer s3cret2", "Bearer"):
        assert not token_matches("s3cret", header)


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.8.0.1", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.5", False), ("example.org", False),
])
def test_what_counts_as_loopback(host, loopback):
    assert is_loopback(host) is loopback
    if loopback:
        require_token_for_host(host, None)
    else:
        with pytest.raises(ValueError, match="without a token"):
            require_token_for_host(host, None)
        require_token_for_host(host, "a-token-of-16-chars")


def test_without_a_token_requests_reaching_a_public_address_are_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("ASYNC_AGENT_TOKEN", raising=False)
    app = create_app([], db_path=str(tmp_path / "a.db"))

    async def ask(base_url: str) -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url) as client:
            return await client.get("/tasks")

    try:
        public = asyncio.run(ask("http://10.1.2.3:8000"))  # the address the connection arrived on
        local = asyncio.run(ask("http://127.0.0.1:8000"))
    finally:
        app.state.service.close()
    assert public.status_code == 401 and "without a token" in public.json()["message"]
    assert local.status_code == 200
