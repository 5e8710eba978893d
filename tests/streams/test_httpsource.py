"""HTTP cameras: MJPEG multipart from ffmpeg, and a JPEG snapshot URL."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np
import pytest

from streams.media import CameraState
from tests.conftest import wait_until
from tests.streams.conftest import STALL, EventLog, HttpCamera, ManagerFactory, jpeg


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


async def test_camera_that_answers_then_stalls_gets_a_reason_and_its_socket_closed(
    make_manager: ManagerFactory, http_camera: Callable[..., HttpCamera], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    server = http_camera(lambda n: iter([STALL]))  # headers, then silence with the connection open
    # stall_timeout_s 0.5 gives a read timeout of 5.5 s (the reader's floor of stall + 5 s).
    m = await make_manager({"id": "hang", "url": server.url, "stall_timeout_s": 0.5, "reconnect_max_s": 30})
    cam = m.get("hang")
    assert cam is not None
    await wait_until(lambda: cam.state == CameraState.OFFLINE, 15, "offline after the read timeout")
    reason = cam.supervisor.reason
    assert "did not answer in time" in reason and "internal error" not in reason
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    await wait_until(lambda: server.closed_by_client >= 1, 2, "the hub to close the stalled connection")


def _parts_with_damage(n: int) -> Iterator[bytes]:
    good = jpeg()
    if n == 0:  # the first connection: good, two damaged parts, good, then the camera hangs up
        yield from [good] * 5
        yield b"\xff\xd8" + bytes(range(256)) * 8 + b"\xff\xd9"  # garbage between the markers
        yield good[: len(good) // 2]  # cut off
        yield from [good] * 5
        return
    while True:  # after the reconnect: clean video
        yield good


async def test_corrupt_jpeg_parts_are_counted_skipped_and_the_warning_clears_on_reconnect(
    make_manager: ManagerFactory, http_camera: Callable[..., HttpCamera], events: EventLog
) -> None:
    server = http_camera(_parts_with_damage)
    m = await make_manager({"id": "dmg", "url": server.url, "analysis": {"fps": 10}, "reconnect_max_s": 0.5})
    cam = m.get("dmg")
    assert cam is not None
    await wait_until(lambda: cam.health()["corrupt_packets"] >= 2, 10, "both damaged parts counted")
    await wait_until(lambda: server.connections >= 2 and cam.state == CameraState.ONLINE, 10, "reconnected")
    await wait_until(lambda: "damaged" not in cam.supervisor.reason, 5, "the warning cleared by the reconnect")
    assert any("damaged video" in d.get("reason", "") for t, c, d in events.events if c == "dmg")
    h = cam.health()
    assert h["corrupt_packets"] == 2 and h["reconnects"] >= 1
    picture = cv2.imdecode(np.frombuffer(await cam.snapshot_jpeg(), np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None and picture.shape == (240, 320, 3)
