"""Slow or numerous clients must not hold the server: a deadline per request, and connection limits.

uvicorn's h11 protocol has no deadline for reading a request: its keep-alive
timer starts only after a response and is cancelled by the next byte, and a new
connection has no timer at all.  So one byte every few minutes (or none) holds a
connection, and enough of them hold every file descriptor.  :class:`LimitedH11Protocol`
is that protocol plus

* a deadline, :attr:`Limits.request_timeout_s`, from a connection's opening or
  the first byte of its next request to the end of that request's body; a
  request not complete by then gets a ``408`` (``request_timeout``, if no
  response has started) and the connection is closed;
* :attr:`Limits.max_connections` open connections in total and
  :attr:`Limits.max_connections_per_peer` from one address: a connection over
  either is closed as it opens, before anything is read from it.

Time spent in the app (waiting for the write lock, say) does not count: the
deadline stops once the body is in.  :class:`LimitedConfig` is the uvicorn
``Config`` that carries the limits to each connection's protocol; the runner
(:mod:`server.runner`) builds it.  Example::

    config = LimitedConfig(app, limits=Limits(request_timeout_s=30), host="127.0.0.1", port=8080)
    uvicorn.Server(config).run()
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Final

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from protocol import Reason
from server.config import Limits

log = logging.getLogger(__name__)

# The states in which h11 is still waiting for (part of) the client's request.
_RECEIVING: Final = (h11.IDLE, h11.SEND_BODY)


def _timeout_response(seconds: float) -> bytes:
    """A whole ``408`` in the documented error shape, closing the connection."""
    body = json.dumps(
        {
            "error": {
                "code": Reason.REQUEST_TIMEOUT.value,
                "message": f"the request was not complete within {seconds:g} s",
            }
        }
    ).encode()
    head = (
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


class LimitedConfig(uvicorn.Config):
    """uvicorn's ``Config`` with :class:`Limits`, serving HTTP/1.1 with :class:`LimitedH11Protocol`.

    One per server: it also counts the connections refused, so their warnings
    stay few (the 1st, 10th, 100th, ...) when someone opens thousands.
    """

    def __init__(self, app: Any, *, limits: Limits, **kwargs: Any) -> None:
        super().__init__(
            app, http=LimitedH11Protocol, timeout_keep_alive=limits.keep_alive_timeout_s, **kwargs
        )
        self.limits = limits
        self.refused = 0

    def note_refusal(self, peer: str | None, why: str) -> None:
        """Count a refused connection and warn at the 1st, 10th, 100th, ... of them."""
        self.refused += 1
        if str(self.refused).rstrip("0") == "1":
            log.warning("refused a connection from %s (%s); %d refused so far", peer, why, self.refused)


class LimitedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request and limits on open connections."""

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._limited = config if isinstance(config, LimitedConfig) else None
        self._limits = config.limits if isinstance(config, LimitedConfig) else Limits()
        self._deadline: asyncio.TimerHandle | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        why = self._over_limit(transport)
        if why is not None:
            # Closed before anything is read: nothing of ours exists for this connection.
            self._refused = True
            if self._limited is not None:
                peer = transport.get_extra_info("peername")
                self._limited.note_refusal(peer[0] if peer else None, why)
            transport.close()
            return
        super().connection_made(transport)
        self._arm()

    def _over_limit(self, transport: asyncio.Transport) -> str | None:
        """Why a new connection on ``transport`` is over a limit, ``None`` if it is not."""
        limits = self._limits
        if len(self.connections) >= limits.max_connections:
            return f"{limits.max_connections} connections are open"
        if limits.max_connections_per_peer:
            peer = transport.get_extra_info("peername")
            host = peer[0] if isinstance(peer, tuple) else None
            if host is not None:
                # At most max_connections to count, once per new connection.
                clients = (getattr(other, "client", None) for other in self.connections)
                same = sum(1 for client in clients if client is not None and client[0] == host)
                if same >= limits.max_connections_per_peer:
                    return f"{same} connections from that address are open"
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._refused:
            return
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state in _RECEIVING:
            self._arm()  # a new request's first byte (a no-op while one is being received)
        super().data_received(data)
        if self.conn.their_state not in _RECEIVING or self.transport.is_closing():
            self._disarm()  # the whole request is in (or the connection is done): the app's time is not timed

    def _arm(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(self._limits.request_timeout_s, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        """The deadline passed with the request incomplete: answer 408 if we still can, and close."""
        self._deadline = None
        if self.transport.is_closing():
            return
        seconds = self._limits.request_timeout_s
        log.info("%s: request not complete within %g s; closing the connection", self.client, seconds)
        state = self.conn.our_state
        # IDLE: no head yet (a cycle, if any, is the previous request's); SEND_RESPONSE: the app is reading.
        if state is h11.IDLE or (state is h11.SEND_RESPONSE and not self.cycle.response_started):
            self.transport.write(_timeout_response(seconds))
        self.transport.close()
