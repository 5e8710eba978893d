"""HTTP cameras: MJPEG multipart from ffmpeg, and a JPEG snapshot URL."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np
import pytest

from streams.media import CameraState
from tests.conftest import wait_until
from tests.streams.conftest import ManagerFactory


async def test_mjpeg_camera(make_manager: ManagerFactory, mjpeg_server: Callable[[], str]) -> None:
    url = mjpeg_server()
    m = await make_manager({"id": "mj", "url": url, "analysis": {"fps": 5}, "reconnect_max_s": 0.5})
    cam = m.get("mj")
    assert cam is not None
    await wait_until(lambda: cam.state == CameraState.ONLINE, 15, "MJPEG camera online")
    await wait_until(lambda: cam.health()["input_fps"] >= 7, 10, "about 10 fps in")
    h = cam.health()
    assert (h["codec"], h["width"], h["height"]) == ("mjpeg", 640, 360)
    assert h["browser_playable"] is False and "MJPEG" in h["reason"]
    await wait_until(lambda: cam.latest_frame() is not None, 5, "analysis frames")
    jpeg = await cam.snapshot_jpeg()
    assert cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape == (360, 640, 3)
    sub = cam.subscribe()
    first = await sub.get()
    assert first.keyframe and first.data[:2] == b"\xff\xd8"


@pytest.fixture
def jpeg_server() -> Iterator[str]:
    """A camera that only offers a still picture URL."""
    img = np.zeros((240, 320, 3), np.uint8)
    cv2.circle(img, (160, 120), 60, (0, 200, 255), -1)
    body = cv2.imencode(".jpg", img)[1].tobytes()

    class Still(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Still)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/snapshot.jpg"
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


async def test_jpeg_snapshot_url_is_polled(make_manager: ManagerFactory, jpeg_server: str) -> None:
    m = await make_manager({"id": "still", "url": jpeg_server, "stall_timeout_s": 5})
    cam = m.get("still")
    assert cam is not None
    await wait_until(lambda: cam.state == CameraState.ONLINE, 10, "snapshot camera online")
    await wait_until(lambda: cam.relay.codec is not None and len(cam.ring.select(0, 1e12)) >= 3, 10, "polled")
    assert cam.health()["width"] == 320
    frame = cam.latest_frame()
    assert frame is not None and frame.image.max() > 100
