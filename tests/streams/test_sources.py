"""Sources and bad input: every failure is a camera state with a readable reason, never a crash."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest

from streams import camera
from streams.media import CameraState
from tests.conftest import wait_until
from tests.streams.conftest import EventLog, ManagerFactory, RtspServer, make_video


async def _offline_reason(m_factory: ManagerFactory, url: str, **extra: object) -> str:
    m = await m_factory({"id": "bad", "url": url, "reconnect_max_s": 1, "connect_timeout_s": 1, **extra})
    cam = m.get("bad")
    assert cam is not None
    await wait_until(lambda: cam.state == CameraState.OFFLINE, 10, f"offline for {url}")
    return cam.supervisor.reason


async def test_file_loops_with_continuous_timestamps(make_manager: ManagerFactory, tmp_path: Path) -> None:
    path = make_video(tmp_path / "short.mp4", fps=10, seconds=1.0)
    m = await make_manager({"id": "f", "url": f"file://{path}", "analysis": {"fps": 2}})
    cam = m.get("f")
    assert cam is not None
    sub = cam.subscribe()
    dts = []
    async with asyncio.timeout(15):
        while len(dts) < 25:  # two and a half passes over a 10-frame file
            dts.append((await sub.get()).dts)
    steps = [b - a for a, b in zip(dts, dts[1:], strict=False)]
    assert all(8000 <= s <= 10000 for s in steps), steps  # 100 ms apart at 90 kHz, even across the loop
    assert cam.state == CameraState.ONLINE and cam.health()["reconnects"] == 0


async def test_missing_file(make_manager: ManagerFactory) -> None:
    reason = await _offline_reason(make_manager, "file:///no/such/clip.mp4")
    assert reason == "file not found: /no/such/clip.mp4"


async def test_file_that_is_not_video(make_manager: ManagerFactory, tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("minutes of the meeting\n" * 200)
    reason = await _offline_reason(make_manager, f"file://{text}")
    assert "not a camera video stream" in reason or "not a video stream" in reason


async def test_refused_connection(make_manager: ManagerFactory) -> None:
    from tests.conftest import free_port

    reason = await _offline_reason(make_manager, f"rtsp://127.0.0.1:{free_port()}/cam")
    assert "connection refused" in reason


async def test_unknown_host(make_manager: ManagerFactory) -> None:
    reason = await _offline_reason(make_manager, "rtsp://camera-17.invalid/live")
    assert reason == "unknown host camera-17.invalid: the name does not resolve"


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A host that accepts TCP but never answers (a hung camera)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    yield s.getsockname()[1]
    s.close()


async def test_host_that_never_answers(make_manager: ManagerFactory, silent_listener: int) -> None:
    reason = await _offline_reason(make_manager, f"rtsp://127.0.0.1:{silent_listener}/cam")
    assert "unreachable or did not answer in time" in reason


RIGHT = "Se/cret?9#x@y"
"""The stand-in's password: every character that ends or splits a URL's authority."""
WRONG = "Wr0ng/s3c?r#t@x"


def _leaks(text: str, password: str) -> bool:
    """Whether ``text`` shows ``password`` raw, percent-encoded, or its distinctive middle."""
    return any(s in text for s in (password, quote(password, safe=""), password[2:-2]))


@pytest.mark.parametrize("written", ["env", "raw"])
async def test_rtsp_401_masks_password_everywhere(
    make_manager: ManagerFactory,
    rtsp_server: Callable[..., RtspServer],
    events: EventLog,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    written: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    server = rtsp_server(["cam=ball:320x240@10"], auth=f"admin:{RIGHT}")
    monkeypatch.setenv("CAM_PASSWORD", WRONG)
    url = server.url("cam", "admin:${CAM_PASSWORD}" if written == "env" else f"admin:{WRONG}")
    reason = await _offline_reason(make_manager, url)
    assert "401" in reason and "authentication failed" in reason
    assert f"127.0.0.1:{server.port}" in reason
    shown = reason + repr(events.events) + caplog.text
    assert not _leaks(shown, WRONG)
    assert "Traceback" not in caplog.text and "internal error" not in shown
    assert events.last("bad", "camera.offline")["url"] == f"rtsp://admin:***@127.0.0.1:{server.port}/cam"


@pytest.mark.parametrize("written", ["env", "raw"])
async def test_rtsp_password_with_reserved_characters_comes_online(
    make_manager: ManagerFactory,
    rtsp_server: Callable[..., RtspServer],
    events: EventLog,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    written: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    server = rtsp_server(["cam=ball:320x240@10"], auth=f"admin:{RIGHT}")
    monkeypatch.setenv("CAM_PASSWORD", RIGHT)
    url = server.url("cam", "admin:${CAM_PASSWORD}" if written == "env" else f"admin:{RIGHT}")
    m = await make_manager({"id": "ok", "url": url})
    cam = m.get("ok")
    assert cam is not None
    await wait_until(lambda: cam.state == CameraState.ONLINE, 10, "online with credentials")
    health = cam.health()
    assert health["url"] == f"rtsp://admin:***@127.0.0.1:{server.port}/cam"
    assert not _leaks(json.dumps(health) + repr(events.events) + caplog.text, RIGHT)


async def test_missing_env_variable(make_manager: ManagerFactory) -> None:
    reason = await _offline_reason(make_manager, "rtsp://admin:${NOT_SET_ANYWHERE}@127.0.0.1:1/x")
    assert "NOT_SET_ANYWHERE is not set" in reason


@pytest.fixture
def html_server() -> Iterator[str]:
    """A web server that answers with a web page, not video."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            body = b"<html><body>login</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/index.html"
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


async def test_http_url_that_is_not_video(make_manager: ManagerFactory, html_server: str) -> None:
    reason = await _offline_reason(make_manager, html_server)
    assert "is not a video stream (it sends text/html)" in reason


async def test_corrupt_packets_are_skipped_and_reported(make_manager: ManagerFactory, tmp_path: Path) -> None:
    path = make_video(tmp_path / "damaged.ts", fmt="mpegts", fps=10, seconds=3, size=(320, 240))
    data = bytearray(path.read_bytes())
    for off in range(len(data) // 3, 2 * len(data) // 3, 188 * 3):  # smash payload bytes, keep TS headers
        data[off + 8 : off + 120] = bytes(range(112))
    path.write_bytes(bytes(data))
    m = await make_manager({"id": "dmg", "url": f"file://{path}", "analysis": {"fps": 10}})
    cam = m.get("dmg")
    assert cam is not None
    await wait_until(lambda: cam.health()["corrupt_packets"] > 0, 15, "corrupt packets counted")
    assert cam.state == CameraState.ONLINE
    assert "damaged video" in cam.supervisor.reason
    # The good packets around the damage still give analysis frames, at about the asked rate.
    slot = cam.frames()
    first = await asyncio.wait_for(slot.wait_new(), 5)
    await wait_until(lambda: cam.health()["analysed_fps"] >= 5, 10, "analysis at about 10 fps")
    later = await asyncio.wait_for(slot.wait_new(), 5)
    slot.close()
    assert later.seq > first.seq and later.image.std() > 0


async def test_resolution_change_mid_stream(make_manager: ManagerFactory, tmp_path: Path, events: EventLog) -> None:
    path = make_video(tmp_path / "switch.ts", fmt="mpegts", fps=10, seconds=1.5, sizes=[(320, 240), (480, 272)])
    m = await make_manager({"id": "rc", "url": f"file://{path}", "analysis": {"fps": 10}})
    cam = m.get("rc")
    assert cam is not None
    await wait_until(lambda: "resolution changed" in cam.supervisor.reason, 15, "resolution change noticed")
    assert "320x240" in cam.supervisor.reason and "480x272" in cam.supervisor.reason
    assert cam.state == CameraState.ONLINE
    frame = cam.latest_frame()
    assert frame is not None and frame.image.shape == (90, 160)  # analysis keeps its size
    # The supervisor's emitter task logs the change a moment after the state holds it.
    await wait_until(
        lambda: any("resolution changed" in d["reason"] for t, c, d in events.events if c == "rc"),
        2.0,
        "the resolution change in the log",
    )


async def test_h265_camera_is_analysed_but_not_browser_playable(
    make_manager: ManagerFactory, rtsp_server: Callable[..., RtspServer]
) -> None:
    server = rtsp_server(["hevc=ball:320x240@10,codec=h265"])
    m = await make_manager({"id": "h", "url": server.url("hevc"), "analysis": {"fps": 5}})
    cam = m.get("h")
    assert cam is not None
    await wait_until(lambda: cam.state == CameraState.ONLINE, 15, "H.265 camera online")
    await wait_until(lambda: cam.latest_frame() is not None, 10, "analysis frames from H.265")
    h = cam.health()
    assert h["codec"] == "hevc" and h["browser_playable"] is False
    assert "H.265" in h["reason"] and "browsers" in h["reason"]
    jpeg = await cam.snapshot_jpeg()
    assert jpeg[:2] == b"\xff\xd8"


async def test_warning_clears_after_a_period_of_clean_video(
    make_manager: ManagerFactory, tmp_path: Path, events: EventLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(camera, "PROBLEM_CLEAR_S", 1.0)
    # 3 s at 320x240, then 3 s of clean video at 480x272 before the file loops.
    path = make_video(tmp_path / "switch.ts", fmt="mpegts", fps=10, seconds=3, sizes=[(320, 240), (480, 272)])
    m = await make_manager({"id": "rc", "url": f"file://{path}", "analysis": {"fps": 10}})
    cam = m.get("rc")
    assert cam is not None
    await wait_until(lambda: "resolution changed" in cam.supervisor.reason, 15, "resolution change noticed")
    await wait_until(lambda: cam.supervisor.reason == "", 2.5, "the warning dropped after clean video")
    assert cam.state == CameraState.ONLINE

    def reasons() -> list[str]:
        return [d["reason"] for t, c, d in events.events if c == "rc" and t == "camera.online"]

    # The supervisor's emitter task logs the change a moment after the state holds it.
    await wait_until(lambda: reasons()[-1] == "", 2.0, "the cleared reason in the log")
    assert any("resolution changed" in r for r in reasons())


@pytest.mark.parametrize("port", [40111, 4010, 24017])
def test_a_refused_connection_on_a_port_spelling_401_is_not_an_authentication_failure(port: int) -> None:
    import errno

    import av

    from streams.packets import describe_error

    url = f"rtsp://127.0.0.1:{port}/cam"
    exc = av.error.ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused", url)
    reason = describe_error(exc, url, f"127.0.0.1:{port}")
    assert reason == f"connection refused by 127.0.0.1:{port}: nothing is listening there"


def test_an_rtsp_request_left_unanswered_is_said_as_such_not_as_a_permission() -> None:
    import errno

    import av

    from streams.packets import describe_error

    url = "rtsp://admin:s3cret@127.0.0.1:8554/cam"
    exc = av.error.PermissionError(errno.EPERM, "Operation not permitted", url)
    reason = describe_error(exc, url, "127.0.0.1:8554")
    said = "answered an RTSP request with an error or not at all (the camera may be restarting)"
    assert reason == f"127.0.0.1:8554 {said}"
