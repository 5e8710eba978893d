"""DTLS roles and cipher suites: the hub is the DTLS server when the offer lets it choose, and as the
client it still reaches a peer with an RSA certificate (GStreamer's webrtcbin, many embedded stacks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiortc import RTCCertificate
from aiortc.rtcdtlstransport import generate_certificate
from cryptography.hazmat.primitives.asymmetric import rsa

import hub.calls.dtls
from tests.calls.conftest import api, calls_settings, poll
from tests.hub.conftest import serve

AIORTC_STOCK_CIPHERS = (
    b"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA"
)
"""What aiortc 1.16 allows by itself (``RTCCertificate._create_ssl_context``): ECDSA suites only."""


def rsa_certificate() -> RTCCertificate:
    """A certificate like webrtcbin's: RSA 2048, and an SSL context that offers what OpenSSL would,
    so as the DTLS server it can only choose suites with RSA authentication."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    certificate = RTCCertificate(key=key, cert=generate_certificate(key))  # type: ignore[arg-type]
    make_context = certificate._create_ssl_context

    def create_ssl_context(*args: Any, **kwargs: Any) -> Any:
        context = make_context(*args, **kwargs)
        context.set_cipher_list(
            b"ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256"
        )
        return context

    certificate._create_ssl_context = create_ssl_context  # type: ignore[method-assign]
    return certificate


def setup_of(sdp: str) -> list[str]:
    """The ``a=setup`` values of an SDP, in order."""
    return [ln.split(":", 1)[1].strip() for ln in sdp.splitlines() if ln.startswith("a=setup:")]


def passive(sdp: str) -> str:
    """The offer as a peer that insists on being the DTLS server sends it."""
    return sdp.replace("a=setup:actpass", "a=setup:passive")


async def test_hub_is_the_dtls_server_unless_the_offer_says_otherwise(tmp_path: Path, peers: Any) -> None:
    async with serve(calls_settings(tmp_path)) as rh:
        sessions = rh.hub.calls.sessions
        await poll(lambda: rh.hub.cameras.get("cam-street").relay.keyframe_group(), 60, "the camera's first keyframe")
        async with await api(rh, "dispatcher") as c:
            cases = [
                # (what the offer says, what the hub answers, the hub's DTLS role)
                (lambda sdp: sdp, "passive", "server"),  # actpass: the hub chooses, and serves
                (passive, "active", "client"),
                (lambda sdp: sdp.replace("a=setup:actpass", "a=setup:active"), "passive", "server"),
            ]
            for edit, answered, role in cases:
                viewer = peers([("video", "recvonly", None)])
                r = await viewer.connect(c, "/whep/cam-street", edit)
                assert r.status_code == 201, r.text
                assert setup_of(r.text) == [answered]
                (session,) = sessions.all()
                assert session.pc.getTransceivers()[0].receiver.transport._role == role
                await poll(lambda v=viewer: v.frames.get(0, 0) >= 5, 30, f"frames with the hub as DTLS {role}")
                assert (await c.delete(r.headers["location"])).status_code == 204
                await viewer.close()


async def test_a_peer_with_an_rsa_certificate_connects_in_both_roles(tmp_path: Path, peers: Any) -> None:
    async with serve(calls_settings(tmp_path)) as rh:
        await poll(lambda: rh.hub.cameras.get("cam-street").relay.keyframe_group(), 60, "the camera's first keyframe")
        async with await api(rh, "dispatcher") as c:
            for edit, hub_role in ((lambda sdp: sdp, "server"), (passive, "client")):
                viewer = peers([("video", "recvonly", None)], rsa_certificate())
                r = await viewer.connect(c, "/whep/cam-street", edit)
                assert r.status_code == 201, r.text
                await poll(lambda v=viewer: v.frames.get(0, 0) >= 5, 30, f"frames with the hub as DTLS {hub_role}")
                assert (await c.delete(r.headers["location"])).status_code == 204
                await viewer.close()


async def test_with_aiortcs_own_suites_the_hub_as_client_cannot_reach_an_rsa_peer(
    tmp_path: Path, peers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The failure the issue saw with webrtcbin, on aiortc's stock list: the test above can fail.
    monkeypatch.setattr(hub.calls.dtls, "DTLS_CIPHERS", AIORTC_STOCK_CIPHERS)
    async with serve(calls_settings(tmp_path)) as rh:
        sessions = rh.hub.calls.sessions
        reasons: list[str] = []
        sessions.on_release.append(lambda s: reasons.append(s.reason or ""))
        await poll(lambda: rh.hub.cameras.get("cam-street").relay.keyframe_group(), 60, "the camera's first keyframe")
        async with await api(rh, "dispatcher") as c:
            viewer = peers([("video", "recvonly", None)], rsa_certificate())
            r = await viewer.connect(c, "/whep/cam-street", passive)
            assert r.status_code == 201, r.text
            await poll(lambda: reasons, 20, "the session to fail")
    assert reasons == ["connection failed (ICE completed, DTLS failed)"]
    assert viewer.frames.get(0, 0) == 0
