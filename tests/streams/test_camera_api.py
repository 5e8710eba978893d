"""`GET /api/cameras/{id}/snapshot.jpg` over a real hub: a picture with its age, or a clear refusal."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from streams.media import CameraState
from tests.conftest import free_port, wait_until
from tests.hub.conftest import make_settings, serve


async def test_snapshot_answers_picture_age_503_with_retry_after_and_404(tmp_path: Path) -> None:
    cameras = [
        {"id": "live", "url": "synthetic://street", "grid": "g1"},
        {"id": "down", "url": f"rtsp://127.0.0.1:{free_port()}/x", "grid": "g1", "reconnect_max_s": 2},
        {"id": "off", "url": "synthetic://plaza", "grid": "g1", "enabled": False},
    ]
    async with serve(make_settings(tmp_path, cameras=cameras)) as rh:
        streams = rh.hub.cameras
        await wait_until(lambda: streams.health("live")["state"] == "online", 30, "live camera online")
        await wait_until(lambda: streams.health("down")["state"] == "offline", 10, "broken camera offline")
        async with await rh.client("dispatcher") as c:
            r = await c.get("/api/cameras/live/snapshot.jpg")
            assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
            assert 0 <= float(r.headers["x-picture-age"]) < 2
            img = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
            assert img is not None and img.shape == (360, 640, 3)

            t0 = time.monotonic()
            r = await c.get("/api/cameras/down/snapshot.jpg")
            assert time.monotonic() - t0 < 1.0  # known offline: no waiting for a picture
            assert r.status_code == 503 and "offline" in r.json()["detail"] and "refused" in r.json()["detail"]
            assert 1 <= int(r.headers["retry-after"]) <= 2

            r = await c.get("/api/cameras/off/snapshot.jpg")
            assert r.status_code == 404 and "disabled" in r.json()["detail"]
            assert streams.get("off") is not None and streams.get("off").state == CameraState.DISABLED

            r = await c.get("/api/cameras/nope/snapshot.jpg")
            assert r.status_code == 404


async def test_a_small_tile_gets_a_small_picture_shared_by_its_viewers(tmp_path: Path) -> None:
    cameras = [{"id": "live", "url": "synthetic://street", "grid": "g1", "analysis": {"enabled": False}}]
    async with serve(make_settings(tmp_path, cameras=cameras)) as rh:
        streams = rh.hub.cameras
        await wait_until(lambda: streams.health("live")["state"] == "online", 30, "live camera online")
        async with await rh.client("dispatcher") as c:

            async def shape(width: int) -> tuple[int, ...]:
                r = await c.get("/api/cameras/live/snapshot.jpg", params={"width": width})
                assert r.status_code == 200, r.text
                return tuple(cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR).shape)

            assert await shape(300) == (180, 320, 3)  # the next size up, the camera's aspect kept
            assert await shape(160) == (90, 160, 3)
            assert await shape(5000) == (360, 640, 3)  # never scaled up
            assert (await c.get("/api/cameras/live/snapshot.jpg", params={"width": 8})).status_code == 422
            # Viewers of one picture at one size share one encoding.
            pool = streams.pools.views
            pictures, done = [], pool.done
            for _ in range(3):
                r = await c.get("/api/cameras/live/snapshot.jpg", params={"width": 320})
                pictures.append((r.headers["last-modified"], r.content))
            same = [p for p in pictures if p[0] == pictures[0][0]]
            assert len({content for _, content in same}) == 1
            encoded = pool.done - done
            assert encoded <= len({modified for modified, _ in pictures}) and encoded < len(pictures)
