"""uvicorn's h11 protocol with a deadline for request headers, so stalled clients are dropped.

uvicorn closes idle keep-alive connections, but only after a first response: a client that
connects and sends nothing, or trickles its headers byte by byte, holds a socket forever.
Here every connection must deliver a request's headers within ``header_timeout`` seconds
of connecting (or of its previous response). Bodies have their own deadline in the app.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["DeadlineH11Protocol", "with_header_deadline"]


class DeadlineH11Protocol(H11Protocol):
    """``H11Protocol`` that closes a connection whose request headers do not arrive in time."""

    header_timeout: float = 30.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_deadline()

    def data_received(self, data: bytes) -> None:
        cycle = self.cycle
        super().data_received(data)
        if self.cycle is not cycle:  # a request's headers arrived: the app (and its body deadline) takes over
            self._disarm_header_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)

    def _arm_header_deadline(self) -> None:
        self._disarm_header_deadline()
        self._header_deadline = self.loop.call_later(self.header_timeout, self._headers_too_late)

    def _disarm_header_deadline(self) -> None:
        handle = getattr(self, "_header_deadline", None)
        if handle is not None:
            handle.cancel()
            self._header_deadline = None

    def _headers_too_late(self) -> None:
        self._header_deadline = None
        if self.cycle is None or self.cycle.response_complete:  # no request in progress: nobody is waiting
            if not self.transport.is_closing():
                self.transport.close()


def with_header_deadline(seconds: float) -> type[DeadlineH11Protocol]:
    """The protocol class to give uvicorn (``http=``) for a deadline of ``seconds``."""
    return type("DeadlineH11Protocol", (DeadlineH11Protocol,), {"header_timeout": float(seconds)})
