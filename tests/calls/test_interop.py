"""WHEP with a WebRTC stack this project did not write: GStreamer's webrtcbin at its default settings.

webrtcbin differs from the browsers and aiortc in the ways that broke it (issue 21): an RSA
certificate, an ``actpass`` offer that leaves the DTLS role to the hub, and RTCP only every few
seconds (RFC 3550's 5 s). The viewer runs in /usr/bin/python3 (the virtualenv has no ``gi``), on
loopback only: the hub announces 127.0.0.1, webrtcbin's ICE agent may use 127.0.0.1 alone and has no
STUN server (its default). Chromium's WHEP player is tested against the hub in ``tests/web``, aiortc
throughout ``tests/calls``.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from streams.synthetic import FPS
from tests.calls.conftest import SYSTEM_PYTHON, WEBRTCBIN_PEER, calls_settings, poll, require_webrtcbin
from tests.hub.conftest import RunningHub, serve

WATCH_S = 15.0
"""How long the viewer must see continuous video (issue 21)."""
MAX_GAP_S = 1.0
"""Longest pause between two decoded frames that still counts as continuous (the camera: 12 fps)."""


async def run_viewer(rh: RunningHub, seconds: float, *extra: str) -> dict[str, Any]:
    """Run scripts/webrtcbin_peer.py against the hub's street camera; its RESULT line."""
    token = await rh.token("dispatcher")
    cmd = [str(SYSTEM_PYTHON), str(WEBRTCBIN_PEER), "--url", f"{rh.url}/whep/cam-street", "--token", token]
    cmd += ["--seconds", str(seconds), "--address", "127.0.0.1", *extra]
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), seconds + 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    lines = [ln for ln in out.decode().splitlines() if ln.startswith("RESULT ")]
    assert lines, f"webrtcbin viewer exited {proc.returncode} without a result: {err.decode()[-2000:]}"
    result: dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    result["stderr"] = err.decode(errors="replace")[-2000:]
    return result


@pytest.mark.timeout(180)
async def test_webrtcbin_watches_a_camera_for_15_s(tmp_path: Path) -> None:
    await require_webrtcbin()
    async with serve(calls_settings(tmp_path)) as rh:
        sessions = rh.hub.calls.sessions
        reasons: list[str] = []
        sessions.on_release.append(lambda s: reasons.append(s.reason or ""))
        await poll(lambda: rh.hub.cameras.get("cam-street").relay.keyframe_group(), 60, "the camera's first keyframe")
        result = await run_viewer(rh, WATCH_S)
        assert result["error"] is None, result
        # Left to choose, the hub is the DTLS server: webrtcbin's RSA certificate does not matter.
        assert (result["offer_setup"], result["answer_setup"]) == (["actpass"], ["passive"]), result
        # Continuous video for the whole 15 s: no pause, no end after a few seconds of quiet RTCP.
        assert result["span_s"] >= WATCH_S - MAX_GAP_S and result["max_gap_s"] < MAX_GAP_S, result
        assert result["frames"] >= 0.8 * FPS * WATCH_S, result
        # The session lasted until the viewer's DELETE, and nothing else ended it.
        assert result["delete_status"] == 204, result
        assert reasons == ["deleted by the viewer"] and sessions.vanished == 0
        assert len(sessions) == 0


@pytest.mark.timeout(120)
async def test_webrtcbin_as_the_dtls_server_with_its_rsa_certificate(tmp_path: Path) -> None:
    # An offer that says passive makes the hub the DTLS client; with aiortc's own suites (ECDSA
    # only) no suite fits webrtcbin's RSA certificate and the handshake failed.
    await require_webrtcbin()
    async with serve(calls_settings(tmp_path)) as rh:
        await poll(lambda: rh.hub.cameras.get("cam-street").relay.keyframe_group(), 60, "the camera's first keyframe")
        result = await run_viewer(rh, 5.0, "--offer-setup", "passive")
        assert result["error"] is None, result
        assert result["answer_setup"] == ["active"], result
        assert result["span_s"] >= 5.0 - MAX_GAP_S and result["max_gap_s"] < MAX_GAP_S, result
        assert result["delete_status"] == 204, result
