"""The camera manager: many cameras at once, health for the API, masked passwords."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hub.config import CameraConfig, ServerConfig
from streams import camera
from streams.manager import CameraManager
from streams.media import CameraState
from tests.conftest import wait_until
from tests.streams.conftest import HungServer, ManagerFactory, RtspServer

HEALTH_KEYS = {
    "id", "name", "url", "grid", "state", "reason", "input_fps", "analysed_fps", "bitrate_bps",
    "keyframe_interval_s", "width", "height", "codec", "profile", "browser_playable", "reconnects",
    "last_frame_age_s", "viewers", "viewer_drops", "analysis_skipped",
}  # fmt: skip


async def test_ten_cameras_one_broken_nine_unaffected(
    make_manager: ManagerFactory, rtsp_server: Callable[..., RtspServer]
) -> None:
    # A mount per camera: nine clients setting up one shared mount at once have crashed the
    # GStreamer stand-in itself (RTSP errors, then nothing listening), which says nothing of the hub.
    server = rtsp_server([f"cam{i}=ball:320x240@10,shared=1" for i in range(9)])
    cams = [{"id": f"cam{i}", "url": server.url(f"cam{i}"), "analysis": {"fps": 2}} for i in range(9)]
    cams.append({"id": "broken", "url": "rtsp://127.0.0.1:1/nothing", "reconnect_max_s": 0.5})
    m = await make_manager(*cams)
    ok = [m.get(f"cam{i}") for i in range(9)]
    await wait_until(lambda: all(c is not None and c.state == CameraState.ONLINE for c in ok), 20, "nine online")
    await wait_until(
        lambda: all(h["input_fps"] >= 8 and h["analysed_fps"] > 0 for h in m.health_all()[:9]),
        15,
        "all nine at full rate and analysed",
    )
    health = {h["id"]: h for h in m.health_all()}
    assert health["broken"]["state"] == "offline" and "refused" in health["broken"]["reason"]
    for i in range(9):
        h = health[f"cam{i}"]
        assert h["state"] == "online" and h["reconnects"] == 0 and h["analysed_fps"] > 0
    assert m.ids() == [f"cam{i}" for i in range(9)] + ["broken"]


async def test_health_is_json_with_masked_password(make_manager: ManagerFactory, monkeypatch: object) -> None:
    m = await make_manager(
        {"id": "a", "url": "rtsp://admin:hunter2@127.0.0.1:1/live", "grid": None, "reconnect_max_s": 0.5},
        {"id": "b", "url": "synthetic://street"},
    )
    await wait_until(lambda: m.health("a")["state"] == "offline", 5, "offline")
    await wait_until(lambda: m.health("b")["state"] == "online", 15, "online")
    text = json.dumps(m.health_all())
    assert "hunter2" not in text
    assert m.health("a")["url"] == "rtsp://admin:***@127.0.0.1:1/live"
    for h in m.health_all():
        assert HEALTH_KEYS <= set(h)
    assert m.get("nope") is None


async def test_stop_is_bounded_and_idempotent(make_manager: ManagerFactory) -> None:
    import time

    m = await make_manager({"id": "s", "url": "synthetic://plaza"}, {"id": "t", "url": "rtsp://127.0.0.1:1/x"})
    await wait_until(lambda: m.health("s")["state"] == "online", 15, "online")
    t0 = time.monotonic()
    await m.stop()
    await m.stop()
    assert time.monotonic() - t0 < 5


async def test_analysis_substream_and_new_clients_right_after_the_last_left(
    make_manager: ManagerFactory, rtsp_server: Callable[..., RtspServer]
) -> None:
    # Main stream relayed, sub-stream decoded for analysis; then a second hub connects the moment
    # the first one has left (the benchmark's phase change, which used to get no video at all).
    server = rtsp_server(["main=ball:320x240@10,shared=1", "sub=ball:160x120@10,shared=1"])
    cams = [
        {"id": f"c{i}", "url": server.url(f"main?cam={i}"), "analysis_url": server.url(f"sub?cam={i}")}
        for i in range(3)
    ]

    async def connect(round_: int) -> None:
        m = await make_manager(*cams)
        await wait_until(
            lambda: all(h["input_fps"] >= 8 and h["analysed_fps"] >= 3 for h in m.health_all()),
            15,
            f"round {round_}: every camera relaying and analysing",
        )
        cam = m.get("c0")
        assert cam is not None
        slot = cam.frames()
        frame = await slot.wait_new()
        slot.close()
        assert frame.image.shape == (90, 160)
        for h in m.health_all():
            assert (h["state"], h["reason"], h["width"], h["height"]) == ("online", "", 320, 240)
        await m.stop()

    await connect(1)
    await connect(2)  # at once: the stand-in's shared media must still be serving


@pytest.mark.parametrize("budget_s", [None, 0.5])
async def test_stop_with_readers_blocked_in_a_read_is_bounded_and_then_silent(
    hung_server: HungServer, scene_dir: Path, budget_s: float | None
) -> None:
    # Main and sub-stream of one camera blocked in an RTSP read that FFmpeg cannot interrupt
    # (open timeout 6 s), next to a healthy camera. ``budget_s``: the hub's shutdown budget ran
    # out and cancelled the stop.
    late: list[str] = []
    stopped = False

    async def emit(event_type: str, camera_id: str, data: dict[str, Any]) -> None:
        if stopped:
            late.append(f"{event_type} {camera_id}")  # the hub's log is closed by now

    hung = f"rtsp://127.0.0.1:{hung_server.port}"
    configs = [
        CameraConfig.model_validate(c)
        for c in (
            {"id": "hung", "url": f"{hung}/main", "analysis_url": f"{hung}/sub", "connect_timeout_s": 6},
            {"id": "ok", "url": "synthetic://plaza"},
        )
    ]
    m = CameraManager(configs, emit, scene_dir)
    await m.start()
    try:
        await wait_until(lambda: m.health("ok")["state"] == "online", 15, "healthy camera online")
        await wait_until(lambda: len(hung_server.accepted) >= 2, 5, "both readers waiting on the hung camera")
        t0 = time.monotonic()
        if budget_s is None:
            await m.stop()
        else:
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(budget_s):
                    await m.stop()
        took = time.monotonic() - t0
    finally:
        stopped = True
        await m.stop()
    assert took < camera.JOIN_TIMEOUT_S + 1.0 < ServerConfig().shutdown_timeout_s  # one bound for all readers
    left = [t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith(("camera-", "bridge-pump"))]
    assert left == []  # no watchdog, event emitter or pump outlives the stop, cancelled or not
    names = ("reader-hung", "reader-hung-analysis")
    assert any(t.name in names for t in threading.enumerate())  # abandoned, still blocked in FFmpeg
    # They give up at their own timeout; nothing of theirs reaches the closed log.
    await wait_until(lambda: not any(t.name in names for t in threading.enumerate()), 10, "blocked readers ending")
    await asyncio.sleep(0.3)
    assert late == []
