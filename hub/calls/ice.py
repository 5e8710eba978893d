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
from collections.abc import Callable, Sequence
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
"""RFC 7675: consent to send expires 30 s after the last consent check that was answered (the
default of ``calls.consent_expiry_s``)."""
CONSENT_RETRANSMISSIONS = 2
"""Retransmissions of each consent check (0.5 s and 1.5 s after it, as STUN's RTO doubles)."""
CONSENT_RTO_S = 0.5
"""STUN's initial retransmission timeout (RFC 8489)."""
CONSENT_ROUND_MAX_S = 1.2 * CONSENT_INTERVAL
"""Longest between two looks at the expiry: a peer that stopped answering loses consent at most
``CONSENT_EXPIRY_S + CONSENT_ROUND_MAX_S`` (36 s) after the last check it answered was sent."""


def consent_as_rfc_7675(pc: RTCPeerConnection, expiry_s: float = CONSENT_EXPIRY_S) -> None:
    """Make ``pc`` lose consent the way RFC 7675 says, not the way aioice does.

    aioice sends each consent check once, waits 0.5 s for the answer, and closes the connection
    after six unanswered checks in a row. A busy event loop (on either side) can answer late
    six times running: every peer of a loaded hub would then be dropped within half a minute
    while still sending media. The RFC's rule: consent lasts while a check sent in the last 30 s
    has been answered, however late the answer came (``expiry_s``: ``calls.consent_expiry_s``;
    checks are retransmitted, see :class:`_ConsentCheck`). Losing consent closes the ICE connection,
    aiortc reports the peer connection ``failed`` and the session registry releases it
    (:mod:`hub.calls.sessions`): this is how a vanished receive-only viewer is found. Call before
    the connection completes.
    """
    for transceiver in pc.getTransceivers():
        dtls = transceiver.sender.transport
        if dtls is None:
            continue
        rfc_7675_consent(dtls.transport._connection, expiry_s)


def rfc_7675_consent(conn: Any, expiry_s: float = CONSENT_EXPIRY_S) -> None:
    """:func:`consent_as_rfc_7675` for one aioice connection."""
    if not getattr(conn, "_skyhub_consent", False):
        conn._skyhub_consent = True
        conn.query_consent = partial(_query_consent, conn, expiry_s)


class _ConsentCheck:
    """One consent request, open for its answer as long as that answer could still count.

    aioice forgets a request once its retransmissions are over (3.5 s here), and drops an answer
    that comes later. A loaded process answers late: its sockets then hold seconds of media ahead
    of each check (and of each answer), and every check would time out although the peer answers
    them all. RFC 7675 counts an answer to any check sent in the last 30 s, so this one keeps
    listening until then.
    """

    def __init__(self, conn: Any, pair: Any, on_answer: Callable[[float], None]) -> None:
        loop = asyncio.get_running_loop()
        self.sent_m = loop.time()
        self._protocol = pair.protocol
        self._addr = pair.remote_addr
        self._key = conn.remote_password.encode("utf8")
        self._on_answer = on_answer
        self._request = conn.build_request(pair, nominate=False)
        self._request.add_message_integrity(self._key)
        self._timer: asyncio.TimerHandle | None = None
        self._tries = 0
        self._answered = False
        # aioice's protocol hands responses to whatever its transactions table holds for their id.
        self._protocol.transactions[self._request.transaction_id] = self
        self._send(CONSENT_RTO_S)

    def _send(self, delay_s: float) -> None:
        self._timer = None
        if self._answered or self._tries > CONSENT_RETRANSMISSIONS:
            return
        self._tries += 1
        try:
            self._protocol.send_stun(self._request, self._addr)
        except Exception:  # a socket closed under us: no answer will come, the expiry decides
            log.debug("ice: consent check to %s not sent", self._addr, exc_info=True)
            return
        self._timer = asyncio.get_running_loop().call_later(delay_s, self._send, 2 * delay_s)

    def response_received(self, message: stun.Message, addr: tuple[str, int]) -> None:
        """aioice's protocol: a response with this check's transaction id (maybe forged: checked)."""
        if self._answered or message.message_class != stun.Class.RESPONSE:
            return
        if not message.check_message_integrity(self._key):
            return
        self._answered = True
        self.close()
        self._on_answer(self.sent_m)

    def close(self) -> None:
        """Stop retransmitting and listening (idempotent)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._protocol.transactions.get(self._request.transaction_id) is self:
            del self._protocol.transactions[self._request.transaction_id]


async def _query_consent(conn: Any, expiry_s: float) -> None:
    loop = asyncio.get_running_loop()
    consented_m = loop.time()  # ICE has just succeeded: that is the first consent

    def answered(sent_m: float) -> None:
        nonlocal consented_m
        consented_m = max(consented_m, sent_m)

    checks: list[_ConsentCheck] = []
    try:
        while True:
            await asyncio.sleep(CONSENT_INTERVAL * (0.8 + 0.4 * random.random()))
            now = loop.time()
            if now - consented_m >= expiry_s:
                log.info("ice %s: no consent check of the last %.0f s answered; closing", conn, now - consented_m)
                conn._query_consent_task = None
                await conn.close()
                return
            for check in [c for c in checks if now - c.sent_m >= expiry_s]:  # too old to count now
                check.close()
                checks.remove(check)
            checks += [_ConsentCheck(conn, pair, answered) for pair in list(conn._nominated.values())]
    finally:
        for check in checks:
            check.close()
