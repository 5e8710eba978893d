"""ICE for the hub's peer connections: which host addresses to announce, which STUN/TURN to use.

aiortc gathers host candidates on every interface except loopback and, when given no ICE
servers, falls back to a public STUN server. The hub does neither by default: it always passes
the configured server list (empty unless the config names some) and, when host addresses are
configured (``server.ice_addresses`` / ``SKYHUB_ICE_ADDRESSES``), announces exactly those.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import Sequence
from functools import partial
from typing import Any

from aioice import stun
from aioice.ice import CONSENT_INTERVAL
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


def link_headers(servers: Sequence[IceServerConfig], env: Any = None) -> list[str]:
    """The configured STUN/TURN servers as WHEP/WHIP ``Link`` header values (RFC 9725, section 4.6).

    Sent with a 201 only (never to an unauthenticated OPTIONS), since TURN credentials are in them.
    """
    env = os.environ if env is None else env
    values = []
    for s in servers:
        params = ['rel="ice-server"']
        credential = env.get(s.credential_env) if s.credential_env else None
        if s.username is not None:
            params.append(f"username={_quoted(s.username)}")
        if credential is not None:
            params += [f"credential={_quoted(credential)}", 'credential-type="password"']
        values += [f"<{url}>; " + "; ".join(params) for url in s.urls]
    return values


def _quoted(text: str) -> str:
    """An HTTP quoted-string (control characters, which no header may carry, left out)."""
    printable = "".join(c for c in text if " " <= c != "\x7f")
    return '"' + printable.replace("\\", "\\\\").replace('"', '\\"') + '"'


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


CONSENT_EXPIRY_S = 30.0
"""RFC 7675: consent to send expires 30 s after the last answer to a consent check."""
CONSENT_RETRANSMISSIONS = 2
"""Retransmissions of each consent check (answers are awaited 0.5 + 1 + 2 s)."""
CONSENT_CHECK_MAX_S = 4.0
"""Longest one consent check (with its retransmissions) may take."""
CONSENT_ROUND_MAX_S = 1.2 * CONSENT_INTERVAL + CONSENT_CHECK_MAX_S
"""Longest between two looks at the expiry: a peer that stopped answering loses consent at most
``CONSENT_EXPIRY_S + CONSENT_ROUND_MAX_S`` (40 s) after its last answer."""


def consent_as_rfc_7675(pc: RTCPeerConnection) -> None:
    """Make ``pc`` lose consent the way RFC 7675 says, not the way aioice does.

    aioice sends each consent check once, waits 0.5 s for the answer, and closes the connection
    after six unanswered checks in a row. A busy event loop (on either side) can answer late
    six times running: every peer of a loaded hub would then be dropped within half a minute
    while still sending media. The RFC's rule is 30 s without any answer, with retransmitted
    checks. Losing consent closes the ICE connection, aiortc reports the peer connection
    ``failed`` and the session registry releases it (:mod:`hub.calls.sessions`): this is how a
    vanished receive-only viewer is found. Call before the connection completes.
    """
    for transceiver in pc.getTransceivers():
        dtls = transceiver.sender.transport
        if dtls is None:
            continue
        rfc_7675_consent(dtls.transport._connection)


def rfc_7675_consent(conn: Any) -> None:
    """:func:`consent_as_rfc_7675` for one aioice connection."""
    if not getattr(conn, "_skyhub_consent", False):
        conn._skyhub_consent = True
        conn.query_consent = partial(_query_consent, conn)


async def _query_consent(conn: Any) -> None:
    loop = asyncio.get_running_loop()
    answered = loop.time()
    while True:
        await asyncio.sleep(CONSENT_INTERVAL * (0.8 + 0.4 * random.random()))
        for pair in list(conn._nominated.values()):
            request = conn.build_request(pair, nominate=False)
            try:
                # Bounded: a retransmission that fails inside aioice's timer (a socket closed under
                # it) leaves the transaction waiting for ever.
                async with asyncio.timeout(CONSENT_CHECK_MAX_S):
                    await pair.protocol.request(
                        request,
                        pair.remote_addr,
                        integrity_key=conn.remote_password.encode("utf8"),
                        retransmissions=CONSENT_RETRANSMISSIONS,
                    )
                answered = loop.time()
            except (stun.TransactionError, TimeoutError):
                pass
        if loop.time() - answered >= CONSENT_EXPIRY_S:
            log.info("ice: no answer to consent checks for %.0f s; closing", loop.time() - answered)
            conn._query_consent_task = None
            await conn.close()
            return
