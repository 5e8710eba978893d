"""ICE for the hub's peer connections: which host addresses to announce, which STUN/TURN to use.

aiortc gathers host candidates on every interface except loopback and, when given no ICE
servers, falls back to a public STUN server. The hub does neither by default: it always passes
the configured server list (empty unless the config names some) and, when host addresses are
configured (``server.ice_addresses`` / ``SKYHUB_ICE_ADDRESSES``), announces exactly those.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection

from hub.config import IceServerConfig

log = logging.getLogger(__name__)


def rtc_configuration(servers: Sequence[IceServerConfig], env: Any = None) -> RTCConfiguration:
    """An aiortc configuration with exactly the configured STUN/TURN servers (maybe none)."""
    env = os.environ if env is None else env
    ice: list[RTCIceServer] = []
    for s in servers:
        credential = env.get(s.credential_env) if s.credential_env else None
        if s.credential_env and credential is None:
            log.warning("ice: %s is not set; TURN server %s is used without a password", s.credential_env, s.urls)
        ice.append(RTCIceServer(urls=list(s.urls), username=s.username, credential=credential))
    # An explicit (possibly empty) list: aiortc would otherwise add stun.l.google.com.
    return RTCConfiguration(iceServers=ice)


def pin_host_addresses(pc: RTCPeerConnection, addresses: Sequence[str]) -> None:
    """Make ``pc`` announce only ``addresses`` as host candidates; call before setLocalDescription.

    aioice has no option for this; its gatherer takes host addresses from the system. We replace
    the gathering step of each of this connection's ICE agents (never the module-wide function,
    so other peer connections are unaffected). Server-reflexive and relay candidates from the
    configured STUN/TURN servers are still gathered for the announced addresses.
    """
    if not addresses:
        return
    wanted = list(addresses)
    for transceiver in pc.getTransceivers():
        dtls = transceiver.sender.transport
        if dtls is None:
            continue
        _pin(dtls.transport.iceGatherer._connection, wanted)


def _pin(conn: Any, addresses: list[str]) -> None:
    if getattr(conn, "_skyhub_pinned", False):
        return
    conn._skyhub_pinned = True

    async def gather_candidates() -> None:
        if conn._local_candidates_start:
            return
        conn._local_candidates_start = True
        for component in sorted(conn._components):
            conn._local_candidates += await conn.get_component_candidates(component=component, addresses=addresses)
        conn._local_candidates_end = True

    conn.gather_candidates = gather_candidates
