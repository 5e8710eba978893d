"""Building the hub's side of a peer connection from a browser's SDP offer.

Facts this relies on (aiortc 1.16, Chromium): the hub's transceivers are created *before*
``setRemoteDescription`` and H.264 (packetization-mode 1) is set on them with
``setCodecPreferences`` — afterwards aiortc silently keeps VP8; an answerer's transceivers are
matched to the offer's m-lines by kind, in order. aiortc does not trickle: the answer carries
every candidate, so the hub gathers (quickly: host addresses only, by default) before answering.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiortc import RTCPeerConnection, RTCRtpSender, RTCRtpTransceiver, RTCSessionDescription
from aiortc import sdp as aiortc_sdp
from aiortc.rtcdtlstransport import X509_DIGEST_ALGORITHMS

from hub.calls.dtls import interoperable_ciphers, take_server_role
from hub.calls.errors import CallError
from hub.calls.ice import CONSENT_EXPIRY_S, consent_as_rfc_7675, pin_host_addresses, rtc_configuration
from hub.calls.tracks import PassthroughTrack, SharedPacketizer
from hub.config import CallsConfig

log = logging.getLogger(__name__)

MAX_SDP_BYTES = 64 * 1024
MAX_OFFER_CANDIDATES = 32
"""ICE candidates an offer may carry (a browser sends a handful per network interface)."""
"""Largest offer accepted; real offers are a few kilobytes."""
SDP_LINE = re.compile(r"[a-z]=")
"""How every line of SDP starts (RFC 8866, section 5)."""
DIGESTS = tuple(X509_DIGEST_ALGORITHMS)
"""Fingerprint hashes aiortc can check a peer's certificate against (``sha-256``…)."""


def h264_codecs() -> list[Any]:
    """aiortc's H.264 (packetization-mode 1) codecs, and RTX for retransmissions."""
    caps = RTCRtpSender.getCapabilities("video").codecs
    h264 = [c for c in caps if c.mimeType == "video/H264" and c.parameters.get("packetization-mode") == "1"]
    return h264 + [c for c in caps if c.mimeType == "video/rtx"]


def opus_codecs() -> list[Any]:
    """aiortc's Opus codec: the only one a call's audio uses (the hub encodes each voice once, as Opus)."""
    return [c for c in RTCRtpSender.getCapabilities("audio").codecs if c.mimeType.lower() == "audio/opus"]


@dataclass(frozen=True)
class Offer:
    """An SDP offer that passed :func:`parse_offer`."""

    description: RTCSessionDescription
    """What ``setRemoteDescription`` gets (mDNS candidates removed)."""
    parsed: aiortc_sdp.SessionDescription
    """The offer as aiortc parsed it."""

    @property
    def kinds(self) -> list[str]:
        """The kinds of its m-lines, in order."""
        return [m.kind for m in self.parsed.media]


def parse_offer(text: str) -> Offer:
    """Check an SDP offer before anything is set up for it.

    400 when it is not SDP at all (empty, not starting with ``v=0``, unparsable); 422 with the
    reason when it is SDP the hub cannot use: over :data:`MAX_SDP_BYTES`, no m-line, an audio or
    video m-line without ICE credentials, without a DTLS fingerprint the hub can check or without
    ``a=setup``, without RTCP multiplexing, or without a direction. Each of these used to surface later — a fingerprint
    missing even got a 201 and then failed inside aiortc.
    """
    if not text.strip():
        raise CallError(400, "empty SDP offer")
    if len(text) > MAX_SDP_BYTES:
        raise CallError(422, f"SDP offer larger than {MAX_SDP_BYTES} bytes")
    if not text.lstrip().startswith("v=0"):
        raise CallError(400, "malformed SDP offer: it must start with v=0")
    for number, line in enumerate(text.splitlines(), 1):
        if line and not SDP_LINE.match(line):
            raise CallError(400, f"malformed SDP offer: line {number} is not <type>=<value>: {line[:60]!r}")
    try:
        parsed = aiortc_sdp.SessionDescription.parse(text)
    except Exception as exc:  # aiortc's parser raises ValueError, KeyError, IndexError…
        raise CallError(400, f"malformed SDP offer: {type(exc).__name__}: {exc}") from None
    if not parsed.media:
        raise CallError(422, "the SDP offer has no media sections")
    for i, m in enumerate(parsed.media):
        where = f"m-line {i} ({m.kind})"
        if m.kind not in ("audio", "video"):
            continue
        if m.ice is None or not m.ice.usernameFragment or not m.ice.password:
            raise CallError(422, f"{where} has no ICE credentials (a=ice-ufrag, a=ice-pwd)")
        # aiortc drops the DTLS parameters of an m-line without a=setup, fingerprints included.
        if m.dtls is None:
            fingerprinted = any(ln.startswith("a=fingerprint:") for ln in text.splitlines())
            missing = "a=setup" if fingerprinted else "a DTLS fingerprint (a=fingerprint) and a=setup"
            raise CallError(422, f"{where} has no {missing}")
        if not m.dtls.fingerprints:
            raise CallError(422, f"{where} has no DTLS fingerprint (a=fingerprint)")
        if not any(f.algorithm.lower() in DIGESTS for f in m.dtls.fingerprints):
            offered = ", ".join(sorted({f.algorithm for f in m.dtls.fingerprints}))
            raise CallError(422, f"{where}: DTLS fingerprint hash {offered} not supported (use {', '.join(DIGESTS)})")
        if not m.rtcp_mux:
            raise CallError(422, f"{where} does not multiplex RTCP with RTP (a=rtcp-mux)")
        if m.direction is None:  # aiortc's answer fails on it (ValueError: a 500, found by the SDP fuzz)
            raise CallError(422, f"{where} has no direction (a=sendrecv, a=sendonly, a=recvonly or a=inactive)")
    check_mids(parsed)
    candidates = sum(len(m.ice_candidates) for m in parsed.media)
    if candidates > MAX_OFFER_CANDIDATES:
        # Each one is a pair the hub would check: 300 of them made it send 1,500 STUN packets.
        raise CallError(422, f"the offer has {candidates} ICE candidates; at most {MAX_OFFER_CANDIDATES} are taken")
    return Offer(RTCSessionDescription(sdp=without_mdns_candidates(text), type="offer"), parsed)


def check_mids(parsed: aiortc_sdp.SessionDescription) -> None:
    """422 unless every m-line has its own ``a=mid`` and every group names only those.

    Found by the SDP fuzz: a BUNDLE group whose first mid no m-line has (``a=mid:0`` dropped, two
    m-lines with one mid, an m-line merged into the one before) left aiortc's transceivers
    without a transport, and the answer failed with an AttributeError: a 500.
    """
    mids: list[str] = []
    for i, m in enumerate(parsed.media):
        mid = m.rtp.muxId
        if not mid:
            raise CallError(422, f"m-line {i} ({m.kind}) has no a=mid")
        if mid in mids:
            raise CallError(422, f"m-line {i} ({m.kind}) repeats a=mid:{mid} of another m-line")
        mids.append(mid)
    for group in parsed.group:
        unknown = [str(item) for item in group.items if str(item) not in mids]
        if unknown:
            raise CallError(422, f"a=group:{group.semantic} names {unknown[0]!r}, which no m-line has as its a=mid")


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


def require_opus_audio(offer: Offer) -> None:
    """422 unless every audio section of the offer can carry Opus (what the hub sends in calls)."""
    for i, m in enumerate(offer.parsed.media):
        if m.kind != "audio":
            continue
        if not any(c.mimeType.lower() == "audio/opus" for c in m.rtp.codecs):
            offered = ", ".join(sorted({c.mimeType.split("/")[-1] for c in m.rtp.codecs})) or "no codec"
            raise CallError(422, f"m-line {i} (audio) has no Opus; the hub's voice is Opus (offered: {offered})")


def require_h264_video(offer: Offer) -> None:
    """422 unless the offer has a video section that can receive H.264 (packetization-mode 1)."""
    videos = [m for m in offer.parsed.media if m.kind == "video"]
    if not videos:
        raise CallError(422, "the offer has no video section; add a recvonly video transceiver")
    for m in videos:
        for codec in m.rtp.codecs:
            if codec.mimeType.lower() == "video/h264" and str(codec.parameters.get("packetization-mode", "0")) == "1":
                return
    offered = sorted({c.mimeType.split("/")[-1] for m in videos for c in m.rtp.codecs if c.mimeType != "video/rtx"})
    raise CallError(
        422,
        "no usable video codec: the hub sends H.264 with packetization-mode=1; "
        f"the offer's video has {', '.join(offered) or 'no codec'}",
    )


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
            track.restamped_only = True
    return transceiver


def hook_keyframe_requests(sender: RTCRtpSender, track: PassthroughTrack) -> None:
    """Route the viewer's PLI/FIR to ``track`` (aiortc only flags its encoder, which passthrough has not)."""
    original = sender._send_keyframe

    def send_keyframe() -> None:
        original()
        track.request_keyframe()

    sender._send_keyframe = send_keyframe  # type: ignore[method-assign]


def no_bandwidth_reports(pc: RTCPeerConnection) -> None:
    """Answer a video the hub only sends without ``goog-remb`` (after ``setRemoteDescription``).

    The hub passes a camera's video through as it is and cannot send less: a viewer's bandwidth
    estimates (REMB) would be read and thrown away. Without it a browser reports about once a
    second instead of three or four times (with 16 viewers, some 40 fewer SRTCP packets a second
    to decrypt and parse on the hub's event loop). A video the hub also receives keeps it: there
    aiortc's estimates tell the browser's encoder how much to send.
    """
    for transceiver in pc.getTransceivers():
        if transceiver.kind == "video" and transceiver.direction == "sendonly":
            for codec in transceiver._codecs:  # the negotiated copies, this connection's own
                codec.rtcpFeedback = [f for f in codec.rtcpFeedback if f.type != "goog-remb"]


async def answer(
    pc: RTCPeerConnection, offer: Offer, ice_addresses: Sequence[str], consent_expiry_s: float = CONSENT_EXPIRY_S
) -> str:
    """Apply the offer and return the hub's answer SDP (with all its candidates).

    The hub is the DTLS server when the offer lets it choose (:mod:`hub.calls.dtls`); the peer
    is released once it answers no consent check for ``consent_expiry_s``.
    """
    try:
        await pc.setRemoteDescription(offer.description)
    except Exception as exc:  # aiortc rejects incompatible offers with ValueError / InvalidStateError
        raise CallError(422, f"the offer cannot be used: {exc}") from None
    take_server_role(pc, offer.parsed)
    interoperable_ciphers(pc)
    no_bandwidth_reports(pc)
    pin_host_addresses(pc, ice_addresses)
    consent_as_rfc_7675(pc, consent_expiry_s)
    local = await pc.createAnswer()
    await pc.setLocalDescription(local)
    return str(pc.localDescription.sdp)
