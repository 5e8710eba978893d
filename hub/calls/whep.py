"""Watching a camera (or a live call feed) over WHEP: one peer connection per viewer, passthrough.

``POST /whep/{camera}`` with an SDP offer gives a viewer a :class:`~hub.calls.tracks.PassthroughTrack`
on the camera's packet relay: the camera's own H.264, packetised by aiortc and never re-encoded,
starting at the cached keyframe group. The viewer is a :class:`~hub.calls.sessions.PeerSession`;
deleting it, its ICE consent running out (a vanished player) or a transport error ends the
subscription — never a receive-only player's quiet, since it sends only RTCP, as seldom as it
likes. A viewer never outlives what it watches: when the relay closes (the camera stops or moves
to another hub node, the call member's feed ends) the session is closed and its place under the
viewer caps is free again; the browser sees its connection end and offers again.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hub.calls.errors import CallError
from hub.calls.peer import add_video, answer, new_peer_connection, parse_offer, require_h264_video
from hub.calls.sessions import PeerSession, SessionRegistry
from hub.calls.tracks import PassthroughTrack, SharedPacketizer
from hub.config import CallsConfig
from streams.media import CameraState, CodecInfo
from streams.relay import PacketRelay

log = logging.getLogger(__name__)

RETRY_AFTER_S = 10
"""Retry-After sent with a 503 when a camera or the hub has no room for another viewer."""


@dataclass(frozen=True)
class Source:
    """Something a WHEP viewer can watch: a camera or a live feed from a call."""

    id: str
    """Camera id, or ``@username`` for a call member's video."""
    relay: PacketRelay
    """Where its encoded packets come from."""
    state: CameraState
    """Camera state (a live feed is always ``online``)."""
    reason: str
    """Why it is in that state."""
    codec: CodecInfo | None
    """Codec in force, once known."""
    fallback: Callable[[], PacketRelay | None] | None = None
    """Where a viewer goes should the packets not be H.264 (the camera's H.264 view), if anywhere."""
    refused: str | None = None
    """Why no viewer can have it in a codec browsers play now (the transcode limit), if so."""


def check_source(source: Source) -> None:
    """503 when the source has no picture, 415 when browsers cannot play its codec."""
    if source.state in (CameraState.OFFLINE, CameraState.DISABLED, CameraState.STALLED):
        raise CallError(
            503,
            f"camera {source.id} is {source.state.value}: {source.reason or 'no picture'}",
            {"Retry-After": str(RETRY_AFTER_S)},
            state=source.state.value,
        )
    if source.refused is not None:
        codec = source.codec.codec if source.codec is not None else None
        raise CallError(415, f"camera {source.id}: no H.264 for browsers now: {source.refused}", codec=codec)
    if source.codec is not None and not source.codec.browser_playable:
        raise CallError(415, f"camera {source.id}: {source.codec.unplayable_reason}", codec=source.codec.codec)


def check_camera_room(registry: SessionRegistry, config: CallsConfig, camera: str, viewer: str) -> None:
    """429 when ``viewer`` already holds their share of ``camera``'s places, 503 when it has none left."""
    if registry.count("whep", camera, owner=viewer) >= config.max_views_of_a_camera_per_user:
        raise CallError(
            429,
            f"you already watch camera {camera} {config.max_views_of_a_camera_per_user} times "
            "(calls.max_views_of_a_camera_per_user)",
            {"Retry-After": str(RETRY_AFTER_S)},
        )
    if registry.count("whep", camera) >= config.max_viewers_per_camera:
        raise CallError(
            503,
            f"camera {camera} already has {config.max_viewers_per_camera} viewers (calls.max_viewers_per_camera)",
            {"Retry-After": str(RETRY_AFTER_S)},
        )


async def open_viewer(
    registry: SessionRegistry,
    config: CallsConfig,
    ice_addresses: Sequence[str],
    source: Source,
    viewer: str,
    offer_sdp: str,
    packetizer: SharedPacketizer | None = None,
) -> tuple[PeerSession, str]:
    """Answer a WHEP offer for ``source``; returns the session and the answer SDP.

    ``source`` must have been looked up with no ``await`` since (its relay still open): the
    subscription is made before the first ``await`` here, so a source that ends later is noticed.
    """
    offer = parse_offer(offer_sdp)
    require_h264_video(offer)
    check_source(source)
    # Per login first: one user (a script, a stuck page) must not take every place at a camera.
    if registry.count("whep", owner=viewer) >= config.max_viewers_per_user:
        raise CallError(
            429,
            f"you already watch {config.max_viewers_per_user} streams (calls.max_viewers_per_user); close some first",
            {"Retry-After": str(RETRY_AFTER_S)},
        )
    check_camera_room(registry, config, source.id, viewer)
    if registry.full():
        raise CallError(503, "the hub holds as many peer connections as it may", {"Retry-After": str(RETRY_AFTER_S)})
    pc = new_peer_connection(config)
    session = registry.add(pc, "whep", viewer, source.id)
    track = PassthroughTrack(
        source.relay,
        f"whep:{viewer}:{session.id[:6]}",
        config.viewer_queue_packets,
        ends_with_source=True,
        fallback=source.fallback,
    )
    session.on_close.append(lambda _s: track.stop())
    # The source ending ends the session: at once while packets flow, or from the registry's
    # watch loop while the connection is still being set up (nothing reads the track then).
    # Named through the session: a switched viewer's source is its subject now.
    track.on("ended", lambda: registry.close_soon(session, f"{session.subject} ended") if track.source_ended else None)
    session.checks.append(lambda: f"{session.subject} ended" if track.check_source() else None)
    try:
        add_video(pc, track, "sendonly", packetizer)
        sdp = await answer(pc, offer, ice_addresses, config.consent_expiry_s)
    except BaseException:
        await registry.close(session, "offer refused")
        raise
    if track.check_source():  # it stopped while we answered: say so rather than hand out a dead session
        await registry.close(session, f"{source.id} ended")
        raise CallError(503, f"{source.id} stopped while answering; try again", {"Retry-After": "1"})
    remote_ice = next(m.ice for m in offer.parsed.media if m.ice is not None)
    session.remote_ice_ufrag, session.remote_ice_pwd = remote_ice.usernameFragment, remote_ice.password
    local_ufrag = re.search(r"^a=ice-ufrag:(\S+)", sdp, re.MULTILINE)
    session.etag = f'"{local_ufrag.group(1) if local_ufrag else session.id}"'
    log.info("whep %s: viewer %s joined (session %s)", source.id, viewer, session.id)
    return session, sdp


def viewer_track(session: PeerSession) -> PassthroughTrack:
    """The video track a WHEP viewer session sends."""
    for t in session.pc.getTransceivers():
        if isinstance(t.sender.track, PassthroughTrack):
            return t.sender.track
    raise CallError(409, "this session sends no camera video")


def check_switch(registry: SessionRegistry, config: CallsConfig, session: PeerSession, source: Source) -> None:
    """Raise what :func:`switch_viewer` would refuse for ``source``: the same checks as a new offer
    (the source's state and codec, the caps; the session itself is not counted twice)."""
    if viewer_track(session).readyState != "live" or session.closed.is_set():
        raise CallError(404, "no such viewer session")
    if source.id == session.subject:
        return
    check_source(source)
    check_camera_room(registry, config, source.id, session.owner)


def switch_viewer(registry: SessionRegistry, config: CallsConfig, session: PeerSession, source: Source | None) -> None:
    """Point a connected WHEP viewer at another source, or park it (``None``: it sends nothing).

    The wall's tiles change cameras this way on a layout switch: the peer connection, its ICE and
    DTLS stay, and the new camera's cached keyframe group goes out at once on the viewer's own
    timeline, so the browser shows it within a round trip instead of after a new handshake. A
    parked session still counts for its owner (``calls.max_viewers_per_user``), for no camera.
    Like :func:`open_viewer`, no ``await`` may come between looking ``source`` up and this call.
    """
    track = viewer_track(session)
    if source is None:
        track.switch(None)
        session.subject = ""
        log.info("whep: viewer %s parked session %s", session.owner, session.id)
        return
    check_switch(registry, config, session, source)
    if source.id == session.subject:
        return
    track.watch(source.relay, source.fallback)
    session.subject = source.id
    log.info("whep %s: viewer %s switched here (session %s)", source.id, session.owner, session.id)
