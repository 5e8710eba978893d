"""An H.265 GB channel: ingested and analysed as it is; browsers cannot play it over WebRTC yet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av
import numpy as np
from aiortc import RTCPeerConnection

from tests.calls.conftest import api, poll
from tests.gb28181.conftest import PASSWORD, gb_settings
from tests.gb28181.test_platform import _analysed, _cameras, _state
from tests.hub.conftest import serve


def hevc_clip(path: Path, frames: int = 100) -> Path:
    """A small moving-bar H.265 clip (PyAV, libx265)."""
    out = av.open(str(path), "w")
    stream = out.add_stream("libx265", rate=25)
    stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
    stream.options = {"x265-params": "log-level=none:keyint=25"}
    for i in range(frames):
        img = np.zeros((240, 320, 3), np.uint8)
        img[:, (i * 4) % 300 : (i * 4) % 300 + 20] = 255
        for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    out.close()
    return path


async def test_h265_channel_is_analysed_and_refused_to_browsers_with_the_reason(
    tmp_path: Path, gb_device: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("SKYHUB_GB_PASSWORD", PASSWORD)
    clip = hevc_clip(tmp_path / "hevc.mp4")
    settings = gb_settings(tmp_path)
    async with serve(settings) as rh:
        await gb_device(settings, "--channels", "1", "--file", str(clip))
        async with await api(rh, "dispatcher") as c:
            (camera_id,) = await poll(lambda: _cameras(c), 30, "the GB camera")
            cam = await poll(lambda: _state(c, camera_id, "online"), 40, f"{camera_id} online")
            assert cam["codec"] == "hevc" and cam["width"] == 320 and cam["browser_playable"] is False
            await poll(lambda: _analysed(c, camera_id), 20, "the H.265 channel analysed")
            pc = RTCPeerConnection()
            pc.addTransceiver("video", direction="recvonly")
            await pc.setLocalDescription(await pc.createOffer())
            r = await c.post(
                f"/whep/{camera_id}", content=pc.localDescription.sdp, headers={"Content-Type": "application/sdp"}
            )
            await pc.close()
            assert r.status_code == 415, r.text
            assert r.json()["codec"] == "hevc" and "cannot be played by browsers" in r.json()["detail"]
