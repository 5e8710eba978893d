"""Peer connections the hub holds, and noticing when the other side has gone.

Every peer connection (a WHEP viewer, a call member, a briefing listener) is a
:class:`PeerSession` in one :class:`SessionRegistry`. A session ends — and releases everything it
holds through its ``on_close`` callbacks: relay subscriptions, feeds, tasks — when it is deleted,
when aiortc reports the connection ``failed`` or ``closed``, when it never connects, or when one of
its own ``checks`` says what it shows is gone (a WHEP viewer whose camera stopped). ``failed``
covers a lost ICE consent (:mod:`hub.calls.ice`: RFC 7675, no answer to any consent check sent
in the last 30 s, however late it comes) and a failed DTLS handshake; ``closed`` a DTLS close from the peer
or an error on its transport.

How much a peer sends is not a sign of life in itself. A receive-only WHEP player sends only RTCP,
and RFC 3550's default RTCP interval is 5 s (GStreamer's ``webrtcbin`` uses it); such a session has
no ``silence_timeout_s`` and only consent, DELETE or a transport error end it. A call member is
different: every call page sends its microphone continuously (about 50 packets a second, silence
frames when muted), so ``silence_timeout_s`` (``calls.peer_timeout_s``, 3 s) of nothing means the
browser has gone (a killed tab, a phone that lost its network), and the member's place is then held
for a rejoin (:mod:`hub.calls.service`) 30 s sooner than consent alone would tell.

What is released when:

- **The media session** (this module): a vanished WHEP viewer once its consent expires — at most
  ``calls.consent_expiry_s`` (:data:`hub.calls.ice.CONSENT_EXPIRY_S` by default) after the last
  check it answered was sent, plus one check round (:data:`hub.calls.ice.CONSENT_ROUND_MAX_S`)
  and a bounded close; a silent call member within ``silence_timeout_s`` + :data:`WATCH_PERIOD_S` of its last packet; a
  failed or closed connection, a deleted session or an ended source at once (within
  :data:`WATCH_PERIOD_S` for a check). Its tasks, encoder, relay subscriptions and its slot under
  ``max_sessions`` / ``max_viewers_per_camera`` go with it.
- **A place in a call** is separate: :mod:`hub.calls.service` keeps the member in the call for
  ``rejoin_grace_s`` after their media session ended, so they can rejoin with a new offer.
- **The memory** of a closed peer connection: aiortc's objects refer to each other in cycles
  (transports, senders, receivers, their event handlers), so reference counting never frees them
  and with them their native state (DTLS, SRTP, codec contexts, buffers). Python's own full
  collection comes rarely in a process this size; until it does, closed peers pile up, and native
  memory freed late is memory fragmented. So :data:`COLLECT_AFTER_S` after a session closed, the
  registry runs one full collection (several closes share it). A soak of calls only grew by
  about 3.3 MiB a minute without it, 0.3 with it (README, "Soak").
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import itertools
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCPeerConnection

log = logging.getLogger(__name__)

WATCH_PERIOD_S = 0.25
"""How often the registry looks at every session's liveness."""
CLOSE_TIMEOUT_S = 5.0
"""Longest one session's close may take before it is abandoned."""

COLLECT_AFTER_S = 10.0
"""How long after a session closed the registry collects the cyclic garbage it left."""

CloseCallback = Callable[["PeerSession"], Awaitable[None] | None]
_seq = itertools.count(1)


@dataclass(eq=False)
class PeerSession:
    """One peer connection and what it holds."""

    id: str
    """Random, unguessable id (it appears in the WHEP resource URL)."""
    kind: str
    """``whep``, ``call`` or ``briefing``."""
    owner: str
    """Username of the peer."""
    subject: str
    """What it is attached to: a camera or feed id, a call id."""
    pc: RTCPeerConnection
    """The aiortc peer connection."""
    created_m: float = field(default_factory=time.monotonic)
    """When the offer arrived (monotonic)."""
    connected_m: float | None = None
    """When the connection first reached ``connected``."""
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once everything is released."""
    reason: str | None = None
    """Why it ended."""
    on_close: list[CloseCallback] = field(default_factory=list)
    """Release steps, run in reverse order of registration."""
    rx_packets: int = 0
    """Datagrams last seen from the peer."""
    rx_m: float = 0.0
    """When that count last grew (monotonic)."""
    checks: list[Callable[[], str | None]] = field(default_factory=list)
    """Run by the watch loop: a returned reason ends the session (what it shows has gone)."""
    silence_timeout_s: float | None = None
    """A connected peer that sends nothing this long has vanished; ``None``: consent alone decides."""
    etag: str = ""
    """Entity tag of its ICE session, quoted (WHEP's ``ETag``; ICE restarts would change it)."""
    remote_ice_ufrag: str | None = None
    """The peer's ICE username fragment, from its offer (a trickle PATCH must keep it)."""
    remote_ice_pwd: str | None = None
    """The peer's ICE password, from its offer."""
    trickled: int = 0
    """Candidates the peer has trickled so far (bounded)."""
    named: str | None = None
    """The camera its resource URL names, when that is not its subject (a parked WHEP viewer)."""
    view: Any = None
    """What the viewing record holds open for it (a WHEP viewer's current view), if anything."""
    seq: int = field(default_factory=lambda: next(_seq))

    def received_packets(self) -> int:
        """Datagrams received from the peer so far (DTLS, SRTP and SRTCP; not ICE checks)."""
        total = 0
        for transport in {t.sender.transport for t in self.pc.getTransceivers() if t.sender.transport}:
            for stats in transport._get_stats().values():  # RTCTransportStats, synchronous
                total += getattr(stats, "packetsReceived", 0) or 0
        return total


def transport_states(pc: RTCPeerConnection) -> str:
    """Which layer ended a connection the hub did not close itself, for its log line.

    aiortc reports ``closed`` alike for a DTLS close from the peer, a lost ICE path and an error
    while handling a received packet; the states of the transports tell these apart.
    """
    parts = []
    for dtls in {t.sender.transport for t in pc.getTransceivers() if t.sender.transport is not None}:
        parts.append(f"ICE {dtls.transport.state}, DTLS {dtls.state}")
    return f" ({'; '.join(sorted(parts))})" if parts else ""


class SessionRegistry:
    """All peer sessions of the hub: limits, liveness watching, bounded release."""

    def __init__(self, max_sessions: int, connect_timeout_s: float) -> None:
        self.max_sessions = max_sessions
        self.connect_timeout_s = connect_timeout_s
        self._collect: asyncio.TimerHandle | None = None
        self.collections = 0
        """Full collections run after sessions closed."""
        self.collect_s = 0.0
        """Time those collections took, in all (the event loop waits for each)."""
        self._sessions: dict[str, PeerSession] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._watch: asyncio.Task[None] | None = None
        self.released = 0
        """Sessions ended so far."""
        self.vanished = 0
        """Sessions ended because the peer went silent or failed."""
        self.on_release: list[Callable[[PeerSession], None]] = []
        """Called with each session as it starts being released (its ``reason`` set)."""

    def start(self) -> None:
        """Start watching liveness (idempotent)."""
        if self._watch is None:
            self._watch = asyncio.create_task(self._watch_loop(), name="peer-sessions-watch")

    def __len__(self) -> int:
        return len(self._sessions)

    def get(self, session_id: str) -> PeerSession | None:
        """A live session by id."""
        return self._sessions.get(session_id)

    def count(self, kind: str | None = None, subject: str | None = None, owner: str | None = None) -> int:
        """Live sessions of a kind, subject and/or owner."""
        return sum(
            1
            for s in self._sessions.values()
            if (kind is None or s.kind == kind)
            and (subject is None or s.subject == subject)
            and (owner is None or s.owner == owner)
        )

    def all(self) -> list[PeerSession]:
        """Live sessions, oldest first."""
        return list(self._sessions.values())

    def full(self) -> bool:
        """Whether another session would exceed the cap."""
        return len(self._sessions) >= self.max_sessions

    def add(
        self, pc: RTCPeerConnection, kind: str, owner: str, subject: str, silence_timeout_s: float | None = None
    ) -> PeerSession:
        """Register a new peer connection; the caller adds release steps to ``on_close``.

        ``silence_timeout_s`` only for peers that send media all the time (see the module's notes).
        """
        session = PeerSession(secrets.token_urlsafe(12), kind, owner, subject, pc)
        session.silence_timeout_s = silence_timeout_s
        self._sessions[session.id] = session

        @pc.on("connectionstatechange")
        def _state() -> None:
            state = pc.connectionState
            log.debug("session %s (%s %s): %s", session.id, kind, owner, state)
            if state == "connected" and session.connected_m is None:
                session.connected_m = time.monotonic()
                session.rx_m = session.connected_m
            elif state in ("failed", "closed"):
                self.close_soon(session, f"connection {state}{transport_states(pc)}", vanished=True)

        return session

    def close_soon(self, session: PeerSession, reason: str, vanished: bool = False) -> None:
        """Release ``session`` in an owned task (from callbacks that cannot await)."""
        if session.id not in self._sessions:
            return
        if vanished:
            self.vanished += 1
        task = asyncio.create_task(self.close(session, reason), name=f"close-session:{session.id}")
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close(self, session: PeerSession, reason: str) -> None:
        """Release everything ``session`` holds (idempotent; bounded)."""
        if self._sessions.pop(session.id, None) is None:
            await session.closed.wait()
            return
        session.reason = reason
        self.released += 1
        for listener in self.on_release:
            listener(session)
        log.info(
            "session %s (%s %s on %s): closed: %s", session.id, session.kind, session.owner, session.subject, reason
        )
        try:
            for callback in reversed(session.on_close):
                try:
                    result = callback(session)
                    if inspect.isawaitable(result):
                        async with asyncio.timeout(CLOSE_TIMEOUT_S):
                            await result
                except Exception:
                    log.exception("session %s: a release step failed", session.id)
            try:
                async with asyncio.timeout(CLOSE_TIMEOUT_S):
                    await session.pc.close()
                    # When the browser closed first, aiortc runs close() in a task of its own and
                    # our call returns at once; wait for that task so nothing outlives the session.
                    inner = getattr(session.pc, "_RTCPeerConnection__closeTask", None)
                    if inner is not None:
                        await asyncio.wait({inner})
            except TimeoutError:
                log.warning("session %s: peer connection did not close within %.0f s", session.id, CLOSE_TIMEOUT_S)
        finally:
            session.on_close.clear()
            session.closed.set()
            self._collect_soon()

    def _collect_soon(self) -> None:
        if self._collect is None:
            self._collect = asyncio.get_running_loop().call_later(COLLECT_AFTER_S, self._collect_now)

    def _collect_now(self) -> None:
        self._collect = None
        t0 = time.perf_counter()
        found = gc.collect()
        took = time.perf_counter() - t0
        self.collections += 1
        self.collect_s += took
        log.debug("collected %d objects left by closed sessions in %.1f ms", found, took * 1000)

    async def _watch_loop(self) -> None:
        while True:
            await asyncio.sleep(WATCH_PERIOD_S)
            now = time.monotonic()
            # One call per session: a loop variable would keep the last session (and its peer
            # connection) alive for as long as no other session came along.
            for session_id in list(self._sessions):
                if session_id in self._sessions:
                    self._watch_one(self._sessions[session_id], now)

    def _watch_one(self, session: PeerSession, now: float) -> None:
        gone = self._checked(session)
        if gone is not None:
            self.close_soon(session, gone)
            return
        if session.connected_m is None:
            if now - session.created_m > self.connect_timeout_s:
                self.close_soon(session, "never connected", vanished=True)
            return
        timeout_s = session.silence_timeout_s
        if timeout_s is None:
            return
        try:
            rx = session.received_packets()
        except Exception:  # a transport being torn down
            return
        if rx != session.rx_packets:
            session.rx_packets, session.rx_m = rx, now
        elif now - session.rx_m > timeout_s:
            self.close_soon(session, f"peer silent for {timeout_s:.1f} s", vanished=True)

    @staticmethod
    def _checked(session: PeerSession) -> str | None:
        for check in session.checks:
            try:
                reason = check()
            except Exception:  # a broken check must not stop the watching of every session
                log.exception("session %s: a liveness check failed", session.id)
                continue
            if reason:
                return reason
        return None

    async def aclose(self) -> None:
        """Stop watching and release every session, concurrently; if the caller's time budget
        runs out (we are cancelled), the releases still running are cancelled and awaited, so no
        task outlives the registry."""
        watch, self._watch = self._watch, None
        if watch is not None:
            watch.cancel()
            await asyncio.gather(watch, return_exceptions=True)
        for session in list(self._sessions.values()):
            self.close_soon(session, "hub shutting down")
        tasks = list(self._closing)
        try:
            if tasks:
                await asyncio.wait(tasks)
        except asyncio.CancelledError:
            for t in tasks:
                t.cancel()
            await asyncio.wait(tasks)
            raise
        finally:
            if self._collect is not None:  # the process is ending: nothing to keep small
                self._collect.cancel()
                self._collect = None

    def stats(self) -> dict[str, Any]:
        """Counts for /metrics and the API."""
        kinds: dict[str, int] = {}
        for s in self._sessions.values():
            kinds[s.kind] = kinds.get(s.kind, 0) + 1
        return {"sessions": len(self._sessions), "by_kind": kinds, "released": self.released, "vanished": self.vanished}
