"""Snapshots: the newest picture as JPEG, also when nothing is decoded for analysis."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from streams.camera import CameraStream
from streams.media import CameraState, CodecInfo, NoPicture, Packet, SnapshotError
from streams.snapshot import keyframe_to_jpeg
from tests.conftest import wait_until
from tests.streams.conftest import ManagerFactory, RtspServer, make_video


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


async def _no_picture_at_once(cam: CameraStream) -> NoPicture:
    """The snapshot's refusal, which must come at once (no waiting for a picture that cannot come)."""
    t0 = time.monotonic()
    with pytest.raises(NoPicture) as info:
        await cam.snapshot_jpeg()
    assert time.monotonic() - t0 < 0.5
    return info.value


async def test_stalled_camera_serves_no_old_picture(
    make_manager: ManagerFactory, rtsp_server: Callable[..., RtspServer]
) -> None:
    server = rtsp_server(["still=ball:320x240@10,stall_after=3"])
    m = await make_manager({"id": "s", "url": server.url("still"), "stall_timeout_s": 1.0, "analysis": {"fps": 5}})
    cam = m.get("s")
    assert cam is not None
    await wait_until(lambda: cam.state == CameraState.ONLINE, 10, "online")
    shot = await cam.snapshot()
    assert time.time() - shot.ts < 1.0
    await wait_until(lambda: cam.state == CameraState.STALLED, 8, "stalled")
    refusal = await _no_picture_at_once(cam)
    assert "stalled" in str(refusal) and refusal.retry_after_s
    server.signal(signal.SIGUSR1)  # the picture flows again
    await wait_until(lambda: cam.state == CameraState.ONLINE, 5, "online again")
    shot = await cam.snapshot()
    assert time.time() - shot.ts < 1.0


async def test_offline_camera_serves_no_old_picture(make_manager: ManagerFactory, tmp_path: Path) -> None:
    path = make_video(tmp_path / "cam.mp4", fps=10, seconds=1.0)
    m = await make_manager({"id": "f", "url": f"file://{path}", "analysis": {"fps": 5}, "reconnect_max_s": 5})
    cam = m.get("f")
    assert cam is not None
    await wait_until(lambda: cam.state == CameraState.ONLINE, 10, "online")
    assert (await cam.snapshot_jpeg())[:2] == b"\xff\xd8"
    path.unlink()  # the file camera "loses power" at its next loop
    await wait_until(lambda: cam.state == CameraState.OFFLINE, 5, "offline")
    refusal = await _no_picture_at_once(cam)
    assert "offline" in str(refusal) and "file not found" in str(refusal)
    assert refusal.retry_after_s is not None and 1 <= refusal.retry_after_s <= 5


async def test_snapshot_of_a_camera_with_a_substream_has_the_main_resolution(
    make_manager: ManagerFactory, rtsp_server: Callable[..., RtspServer]
) -> None:
    server = rtsp_server(["main=ball:320x240@10", "sub=ball:160x120@10"])
    m = await make_manager({"id": "c", "url": server.url("main"), "analysis_url": server.url("sub")})
    cam = m.get("c")
    assert cam is not None
    await wait_until(lambda: cam.state == CameraState.ONLINE and cam.latest_frame() is not None, 15, "analysing")
    img = cv2.imdecode(np.frombuffer(await cam.snapshot_jpeg(), np.uint8), cv2.IMREAD_COLOR)
    assert img is not None and img.shape == (240, 320, 3)


HAMMER = """
import sys, threading, time
import av, numpy as np
from streams.snapshot import converted, encode_jpeg

rgb = np.random.default_rng(1).integers(0, 255, (360, 640, 3), np.uint8)
frame = av.VideoFrame.from_ndarray(rgb, format="bgr24").reformat(format="yuv420p")
stop = time.monotonic() + float(sys.argv[1])
done = []

def snapshots():
    while time.monotonic() < stop:
        assert encode_jpeg(frame)[:2] == b"\\xff\\xd8"
        done.append(1)

def analysis():
    while time.monotonic() < stop:
        assert converted(frame, width=160, height=90, format="gray").to_ndarray().shape == (90, 160)
        done.append(1)

threads = [threading.Thread(target=snapshots) for _ in range(3)] + [threading.Thread(target=analysis)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("converted", len(done))
"""


def test_a_picture_encoded_by_several_threads_while_analysis_scales_it(tmp_path: Path) -> None:
    # A camera's newest picture is encoded by snapshot threads while its reader scales it for
    # analysis. Through PyAV's converter cached on the frame this deadlocked within seconds, or
    # crashed the hub (two threads reconfiguring one converter).
    script = tmp_path / "hammer.py"
    script.write_text(HAMMER)
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, str(script), "4"], cwd=repo, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.split()[-1]) > 100


def _keyframe(colour: tuple[int, int, int], width: int, height: int, b_frames: int = 0) -> Packet:
    """A camera's keyframe as the hub holds it: Annex B with its parameter sets, no extradata.
    With B-frames in the stream, a decoder holds its first picture back until drained."""
    enc = av.CodecContext.create("libx264", "w")
    enc.width, enc.height, enc.pix_fmt = width, height, "yuv420p"
    enc.time_base = Fraction(1, 10)
    enc.options = {"preset": "veryfast", "bf": str(b_frames)}
    image = np.zeros((height, width, 3), np.uint8)
    image[:] = colour
    frame = av.VideoFrame.from_ndarray(image, format="bgr24")
    frame.pts = 0
    data = b"".join(bytes(p) for p in [*enc.encode(frame), *enc.encode(None)])
    return Packet(data, 0, 0, True, time.time(), CodecInfo("h264", width, height))


def test_keyframes_of_cameras_in_turn_each_give_their_own_picture() -> None:
    # One pool thread serves every camera's snapshots with the decoder it keeps: each picture is
    # the camera's own (its size, its colours), whatever the thread decoded before, and a
    # keyframe that cannot be decoded spoils nothing after it.
    red, blue = _keyframe((0, 0, 220), 640, 360), _keyframe((220, 0, 0), 320, 240, b_frames=3)
    broken = Packet(red.data[: len(red.data) // 3] + bytes(64), 0, 0, True, time.time(), red.codec)

    def shot(key: Packet, width: int | None = None) -> np.ndarray:
        return cv2.imdecode(np.frombuffer(keyframe_to_jpeg([key], width), np.uint8), cv2.IMREAD_COLOR)

    with ThreadPoolExecutor(1) as pool:  # one thread, as a snapshot pool's
        for key in (red, blue, red, broken, blue, red, blue):
            try:
                img = pool.submit(shot, key).result()
            except SnapshotError:  # (or decoded with errors concealed: either way, nothing is spoilt)
                assert key is broken
                continue
            if key is red:
                assert img.shape == (360, 640, 3) and img[..., 2].mean() > 180 and img[..., 0].mean() < 40
            elif key is blue:
                assert img.shape == (240, 320, 3) and img[..., 0].mean() > 180 and img[..., 2].mean() < 40
        assert pool.submit(shot, red, 320).result().shape == (180, 320, 3)
