"""How the hub is served: uvicorn's options in one place (the ``skyhub`` command and the tests
serve it alike), and the one part of uvicorn the hub adjusts, its WebSocket shutdown."""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

from hub.config import Settings

WS_MAX_FRAME_BYTES = 128 * 1024
"""Largest WebSocket message a client may send (uvicorn's default is 16 MiB). Clients send only
receipts and replies (``instructions.text_max_chars``, at most 20,000 characters of 4 bytes); a
larger frame closes the socket with 1009 before it is read into memory, instead of being parsed on
the event loop (a 15 MiB one held it 0.3 s) and held per connection."""


class HubWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol, with a shutdown that copes with a closing socket.

    When a client has begun to close (its close frame received and answered), the connection
    stays in the server's list until the transport reports it lost, a loop turn later. uvicorn's
    shutdown then sends that socket a close of its own, which websockets refuses with
    ``InvalidState``: the exception ends uvicorn's shutdown before the app's, so the hub's
    lifespan never finishes (leases not given back, the process or test hanging).
    """

    def shutdown(self) -> None:
        if self.handshake_complete and self.initial_response is None and self.conn.state is not State.OPEN:
            self.stop_keepalive()
            self.transport.close()  # its close handshake is under way or done: nothing more to say
            return
        super().shutdown()


def proxy_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's proxy-header options: forwarded headers only from ``server.trusted_proxies``.

    uvicorn by default believes X-Forwarded-For from 127.0.0.1, so anything on the hub's own
    machine could pose as any address and slip past the per-address limits.
    """
    trusted = settings.server.trusted_proxies
    return {"proxy_headers": bool(trusted), "forwarded_allow_ips": ",".join(trusted) if trusted else ""}


def tls_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's HTTPS options from ``server.tls`` (none: plain HTTP)."""
    tls = settings.server.tls
    return {} if tls is None else {"ssl_certfile": str(tls.cert), "ssl_keyfile": str(tls.key)}


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Everything but the app, host and port for ``uvicorn.Config``."""
    return {
        "log_config": None,
        "timeout_graceful_shutdown": int(settings.server.shutdown_timeout_s) or 1,
        "ws": HubWebSocketProtocol,
        "ws_ping_interval": 20.0,
        "ws_ping_timeout": 20.0,
        # Feed messages are small JSON: compressing each costs more CPU than it saves on a LAN.
        "ws_per_message_deflate": False,
        "ws_max_size": WS_MAX_FRAME_BYTES,
        **proxy_options(settings),
        **tls_options(settings),
    }
