"""Snapshots: the newest picture as JPEG, also when nothing is decoded for analysis."""

from __future__ import annotations

import cv2
import numpy as np

from tests.conftest import wait_until
from tests.streams.conftest import ManagerFactory


async def test_snapshot_from_analysis_frames_and_from_keyframe(make_manager: ManagerFactory) -> None:
    m = await make_manager(
        {"id": "a", "url": "synthetic://street", "analysis": {"fps": 2}},
        {"id": "k", "url": "synthetic://plaza", "analysis": {"enabled": False}},
    )
    for cam_id in ("a", "k"):
        cam = m.get(cam_id)
        assert cam is not None
        await wait_until(lambda c=cam: c.state == "online", 15, f"{cam_id} online")  # type: ignore[misc]
        jpeg = await cam.snapshot_jpeg()
        img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert img is not None and img.shape == (360, 640, 3)
        assert img.std() > 10  # a real picture, not a blank


async def test_analysis_frames_are_small_gray_and_latest_only(make_manager: ManagerFactory) -> None:
    m = await make_manager({"id": "a", "url": "synthetic://street", "analysis": {"fps": 5, "width": 160, "height": 90}})
    cam = m.get("a")
    assert cam is not None
    slot = cam.frames()
    f1 = await slot.wait_new()
    assert f1.image.shape == (90, 160) and f1.image.dtype == np.uint8
    await wait_until(lambda: slot.skipped >= 2, 10, "frames skipped while nobody reads")
    f2 = await slot.wait_new()
    assert f2.seq > f1.seq + 2
    assert cam.health()["analysis_skipped"] >= 2
    await wait_until(lambda: cam.health()["analysed_fps"] > 3, 10, "analysis rate near 5 fps")
    assert cam.health()["analysed_fps"] < 7
    slot.close()
