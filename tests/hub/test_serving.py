"""The hub's WebSocket protocol at shutdown: a socket its client is closing does not stop the stop.

uvicorn's own protocol raised ``InvalidState`` there, which ended uvicorn's shutdown before the
app's: the hub's lifespan never finished (a test saw it as a hang, a node as leases not given
back). The protocol is uvicorn's real one; only the socket under it is in memory.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.server import ServerState
from websockets.client import ClientProtocol
from websockets.frames import Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

from hub.edge.serving import HubWebSocketProtocol


class MemoryTransport(asyncio.Transport):
    """A socket in memory: what the server writes is kept; closing it only marks it closing, as a
    real one is until the loop reports it lost."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closing = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def write(self, data: Any) -> None:
        self.written += data

    def close(self) -> None:
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def take(self) -> bytes:
        out, self.written = bytes(self.written), bytearray()
        return out


async def test_a_socket_its_client_is_closing_does_not_stop_the_shutdown() -> None:
    ended: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        while (msg := await receive())["type"] != "websocket.disconnect":
            pass
        ended.append(msg)

    config = uvicorn.Config(app, ws=HubWebSocketProtocol, ws_ping_interval=None, lifespan="off")
    config.load()
    server = HubWebSocketProtocol(config, ServerState(), app_state={})
    socket = MemoryTransport()
    server.connection_made(socket)
    client = ClientProtocol(parse_uri("ws://127.0.0.1:8000/ws/worker"))
    client.send_request(client.connect())
    server.data_received(b"".join(client.data_to_send()))
    for _ in range(100):
        if server.handshake_complete:
            break
        await asyncio.sleep(0.01)
    client.receive_data(socket.take())
    assert client.state is State.OPEN
    client.events_received()  # the handshake's answer

    # The client closes; the server answers at once, and the socket is closing but not yet gone
    # when the hub is told to stop.
    client.send_close(1001)
    server.data_received(b"".join(client.data_to_send()))
    assert server.conn.state is not State.OPEN and socket.is_closing()
    server.shutdown()  # uvicorn's own raised InvalidState("connection is closing") here

    client.receive_data(socket.take())
    (answer,) = client.events_received()  # its close answered, once, and nothing else
    assert answer.opcode is Opcode.CLOSE and client.close_rcvd is not None and client.close_rcvd.code == 1001
    await asyncio.sleep(0.05)
    assert [m["code"] for m in ended] == [1001]  # the app heard the client's close
