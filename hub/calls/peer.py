"""Building the hub's side of a peer connection from a browser's SDP offer.

Facts this relies on (aiortc 1.16, Chromium): the hub's transceivers are created *before*
``setRemoteDescription`` and H.264 (packetization-mode 1) is set on them with
``setCodecPreferences`` — afterwards aiortc silently keeps VP8; an answerer's transceivers are
matched to the offer's m-lines by kind, in order. aiortc does not trickle: the answer carries
every candidate, so the hub gathers (quickly: host addresses only, by default) before answering.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from aiortc import RTCPeerConnection, RTCRtpSender, RTCRtpTransceiver, RTCSessionDescription
from aiortc import sdp as aiortc_sdp

from hub.calls.errors import CallError
from hub.calls.ice import consent_as_rfc_7675, pin_host_addresses, rtc_configuration
from hub.calls.tracks import PassthroughTrack, SharedPacketizer
from hub.config import CallsConfig

log = logging.getLogger(__name__)

MAX_SDP_BYTES = 64 * 1024
"""Largest offer accepted; real offers are a few kilobytes."""


def h264_codecs() -> list[Any]:
    """aiortc's H.264 (packetization-mode 1) codecs, and RTX for retransmissions."""
    caps = RTCRtpSender.getCapabilities("video").codecs
    h264 = [c for c in caps if c.mimeType == "video/H264" and c.parameters.get("packetization-mode") == "1"]
    return h264 + [c for c in caps if c.mimeType == "video/rtx"]


def parse_offer(text: str) -> tuple[RTCSessionDescription, list[str]]:
    """Check an SDP offer; returns it and the kinds of its m-lines in order. 400 with the reason if bad."""
    if not text.strip():
        raise CallError(400, "empty SDP offer")
    if len(text) > MAX_SDP_BYTES:
        raise CallError(400, f"SDP offer larger than {MAX_SDP_BYTES} bytes")
    if not text.lstrip().startswith("v=0"):
        raise CallError(400, "malformed SDP offer: it must start with v=0")
    try:
        parsed = aiortc_sdp.SessionDescription.parse(text)
    except Exception as exc:  # aiortc's parser raises ValueError, KeyError, IndexError…
        raise CallError(400, f"malformed SDP offer: {type(exc).__name__}: {exc}") from None
    if not parsed.media:
        raise CallError(400, "malformed SDP offer: no media sections")
    for m in parsed.media:
        if m.kind in ("audio", "video") and (m.ice is None or not m.ice.usernameFragment or not m.ice.password):
            raise CallError(400, f"malformed SDP offer: {m.kind} section without ICE credentials")
        if m.kind in ("audio", "video") and m.dtls is None:
            raise CallError(400, f"malformed SDP offer: {m.kind} section without a DTLS fingerprint")
    return RTCSessionDescription(sdp=without_mdns_candidates(text), type="offer"), [m.kind for m in parsed.media]


def without_mdns_candidates(text: str) -> str:
    """The offer without ``*.local`` (mDNS) host candidates.

    Browsers hide host addresses behind mDNS names unless the page has camera permission.
    aioice tries to resolve them inside ``setRemoteDescription`` and, where multicast DNS does
    not answer (containers, most servers), that costs a full second of the viewer's join time.
    The candidates are not needed: the browser checks the hub's candidates, and the hub learns
    the browser's address from those checks (a peer-reflexive candidate).
    """
    lines = text.splitlines(keepends=True)
    kept = [ln for ln in lines if not (ln.startswith("a=candidate:") and ".local " in ln)]
    return "".join(kept) if len(kept) != len(lines) else text


def require_h264_video(text: str) -> None:
    """400 unless the offer has a video section that can receive H.264 (packetization-mode 1)."""
    parsed = aiortc_sdp.SessionDescription.parse(text)
    videos = [m for m in parsed.media if m.kind == "video"]
    if not videos:
        raise CallError(400, "the offer has no video section; add a recvonly video transceiver")
    for m in videos:
        for codec in m.rtp.codecs:
            if codec.mimeType.lower() == "video/h264" and str(codec.parameters.get("packetization-mode", "0")) == "1":
                return
    raise CallError(400, "the offer's video section has no H.264 with packetization-mode=1")


def new_peer_connection(config: CallsConfig) -> RTCPeerConnection:
    """A peer connection using only the configured STUN/TURN servers (none by default)."""
    return RTCPeerConnection(rtc_configuration(config.ice_servers))


def add_video(
    pc: RTCPeerConnection,
    track: PassthroughTrack | None,
    direction: str,
    packetizer: SharedPacketizer | None = None,
) -> RTCRtpTransceiver:
    """A video transceiver limited to H.264, answering keyframe requests from ``track``'s cache.

    With ``packetizer``, the sender packetises through it (shared by every viewer of the hub)
    instead of an H.264 encoder of its own that would only ever ``pack()`` anyway.
    """
    transceiver = pc.addTransceiver(track or "video", direction=direction)
    transceiver.setCodecPreferences(h264_codecs())
    if track is not None:
        hook_keyframe_requests(transceiver.sender, track)
        if packetizer is not None:
            # aiortc creates its encoder lazily when this is None; a set one is used as it is.
            transceiver.sender._RTCRtpSender__encoder = packetizer  # type: ignore[attr-defined]
    return transceiver


def hook_keyframe_requests(sender: RTCRtpSender, track: PassthroughTrack) -> None:
    """Route the viewer's PLI/FIR to ``track`` (aiortc only flags its encoder, which passthrough has not)."""
    original = sender._send_keyframe

    def send_keyframe() -> None:
        original()
        track.request_keyframe()

    sender._send_keyframe = send_keyframe  # type: ignore[method-assign]


async def answer(pc: RTCPeerConnection, offer: RTCSessionDescription, ice_addresses: Sequence[str]) -> str:
    """Apply the offer and return the hub's answer SDP (with all its candidates)."""
    try:
        await pc.setRemoteDescription(offer)
    except Exception as exc:  # aiortc rejects incompatible offers with ValueError / InvalidStateError
        raise CallError(400, f"the offer cannot be used: {exc}") from None
    pin_host_addresses(pc, ice_addresses)
    consent_as_rfc_7675(pc)
    local = await pc.createAnswer()
    await pc.setLocalDescription(local)
    return str(pc.localDescription.sdp)
