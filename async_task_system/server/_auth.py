"""Bearer-token checks, in constant time, and the rule that a server beyond loopback needs one."""

from __future__ import annotations

import hmac
import ipaddress

__all__ = ["TOKEN_ENV", "is_loopback", "require_token_for_host", "token_matches"]

TOKEN_ENV = "ASYNC_AGENT_TOKEN"


def token_matches(expected: str, authorization: str | None) -> bool:
    """True if ``authorization`` is ``Bearer <expected>`` (compared with ``hmac.compare_digest``)."""
    if not authorization:
        return False
    scheme, _, given = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), expected.encode())


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``; False for 0.0.0.0, :: and every other address."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def require_token_for_host(host: str, token: str | None) -> None:
    """Raise ``ValueError`` if the server would listen beyond loopback without a token."""
    if token is not None and not token:
        raise ValueError("the token is empty; give a long random string (e.g. `python -c "
                         "'import secrets; print(secrets.token_urlsafe(32))'`) or none at all")
    if token is None and not is_loopback(host):
        raise ValueError(
            f"refusing to listen on {host} without a token: anyone who can reach it could run the "
            f"registered tools. Set {TOKEN_ENV} (or pass --token), or bind to 127.0.0.1")
