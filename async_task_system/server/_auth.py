"""Bearer-token checks, in constant time, and the rule that a server beyond loopback needs one."""

from __future__ import annotations

import hmac
import ipaddress

__all__ = ["MIN_TOKEN_LENGTH", "TOKEN_ENV", "check_token", "is_loopback", "require_token_for_host", "token_matches"]

TOKEN_ENV = "ASYNC_AGENT_TOKEN"
MIN_TOKEN_LENGTH = 16
_MAKE_ONE = "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"


def check_token(token: str) -> str:
    """The token to compare with, or ``ValueError`` saying what is wrong with it.

    A trailing newline (from a file or ``$(cat ...)``) is dropped; an empty or blank token,
    inner whitespace, or one under ``MIN_TOKEN_LENGTH`` characters is refused.
    """
    if not isinstance(token, str):
        raise ValueError(f"the token must be a string, got {type(token).__name__}")
    token = token.rstrip("\r\n")
    if not token.strip():
        raise ValueError(f"the token is empty or blank; give a long random string (e.g. {_MAKE_ONE}) or none at all")
    if token != token.strip() or any(c.isspace() for c in token):
        raise ValueError("the token contains whitespace, which a Bearer header cannot carry intact; "
                         f"use a random URL-safe string (e.g. {_MAKE_ONE})")
    if len(token) < MIN_TOKEN_LENGTH:
        raise ValueError(f"the token is {len(token)} characters; use at least {MIN_TOKEN_LENGTH} "
                         f"(e.g. {_MAKE_ONE})")
    return token


def token_matches(expected: str, authorization: str | None) -> bool:
    """True if ``authorization`` is ``Bearer <expected>`` (compared with ``hmac.compare_digest``)."""
    if not authorization:
        return False
    scheme, _, given = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode("utf-8", "surrogateescape"), expected.encode())


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``; False for 0.0.0.0, :: and every other address."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def require_token_for_host(host: str, token: str | None) -> None:
    """Raise ``ValueError`` if the token is unusable, or the server would listen beyond loopback
    without one."""
    if token is not None:
        check_token(token)
    if token is None and not is_loopback(host):
        raise ValueError(
            f"refusing to listen on {host} without a token: anyone who can reach it could run the "
            f"registered tools. Set {TOKEN_ENV} (or pass --token), or bind to 127.0.0.1")
