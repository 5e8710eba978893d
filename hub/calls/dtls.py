"""DTLS for the hub's peer connections: the role it takes, and cipher suites any WebRTC peer accepts.

Two things in aiortc 1.16 keep WebRTC stacks other than browsers and aiortc itself from connecting:

- **The role.** Answering an offer with ``a=setup:actpass``, aiortc always answers ``active`` and
  becomes the DTLS client (``RTCPeerConnection.createAnswer`` turns a transport role still ``auto``
  into ``client``). WHEP and WHIP servers customarily answer ``passive`` and leave the client role,
  with its retransmission timers, to the player. :func:`take_server_role` does that for every m-line
  the offer left to us; an offer that says ``passive`` still gets ``active``, one that says
  ``active`` still gets ``passive`` (aiortc's own rule).
- **The cipher suites.** aiortc's SSL context (``RTCCertificate._create_ssl_context``) allows only
  ``ECDHE-ECDSA-*`` suites, which fits its own ECDSA certificate. As the DTLS *client* that is
  also the whole list it offers, so a server with an RSA certificate — GStreamer's ``webrtcbin``,
  many embedded stacks — has no suite it may choose and the handshake fails ("ICE completed, DTLS
  failed"). :func:`interoperable_ciphers` adds the same suites with RSA authentication. As the DTLS
  server the hub's certificate (ECDSA) decides, whatever the client's certificate is.
"""

from __future__ import annotations

from typing import Any

from aiortc import RTCPeerConnection
from aiortc import sdp as aiortc_sdp

DTLS_CIPHERS = b":".join(
    [
        b"ECDHE-ECDSA-AES128-GCM-SHA256",
        b"ECDHE-RSA-AES128-GCM-SHA256",
        b"ECDHE-ECDSA-AES256-GCM-SHA384",
        b"ECDHE-RSA-AES256-GCM-SHA384",
        b"ECDHE-ECDSA-CHACHA20-POLY1305",
        b"ECDHE-RSA-CHACHA20-POLY1305",
        b"ECDHE-ECDSA-AES128-SHA",
        b"ECDHE-RSA-AES128-SHA",
        b"ECDHE-ECDSA-AES256-SHA",
        b"ECDHE-RSA-AES256-SHA",
    ]
)
"""DTLS 1.2 suites offered and accepted: forward-secret, AEAD first, for ECDSA and RSA certificates
alike (what browsers offer, less the CBC suites with SHA-2 MACs nobody needs)."""


def interoperable_ciphers(pc: RTCPeerConnection) -> None:
    """Let ``pc``'s DTLS transports use :data:`DTLS_CIPHERS` (call before the handshake starts).

    aiortc builds each transport's SSL context from the connection's certificate when the handshake
    starts; the certificate object is this connection's own (one per ``RTCPeerConnection``), so
    wrapping its context factory changes nothing for any other connection.
    """
    for certificate in pc._RTCPeerConnection__certificates:  # type: ignore[attr-defined]
        if getattr(certificate, "_skyhub_ciphers", False):
            continue
        certificate._skyhub_ciphers = True
        make_context = certificate._create_ssl_context

        def create_ssl_context(*args: Any, _make: Any = make_context, **kwargs: Any) -> Any:
            context = _make(*args, **kwargs)
            context.set_cipher_list(DTLS_CIPHERS)
            return context

        certificate._create_ssl_context = create_ssl_context


def take_server_role(pc: RTCPeerConnection, offer: aiortc_sdp.SessionDescription) -> None:
    """After ``setRemoteDescription(offer)``, before ``createAnswer``: be the DTLS server (answer
    ``a=setup:passive``) wherever the offer says ``actpass``."""
    by_mid = {m.rtp.muxId: m for m in offer.media}
    for transceiver in pc.getTransceivers():
        media = by_mid.get(transceiver.mid) if transceiver.mid is not None else None
        transport = transceiver.receiver.transport
        if media is not None and media.dtls is not None and media.dtls.role == "auto" and transport is not None:
            transport._set_role("server")
    sctp = pc.sctp
    application = next((m for m in offer.media if m.kind == "application"), None)
    if sctp is not None and application is not None and application.dtls is not None:
        if application.dtls.role == "auto":
            sctp.transport._set_role("server")
