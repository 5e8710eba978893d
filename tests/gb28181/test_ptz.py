"""PTZ: POST /api/cameras/{id}/ptz reaches the device as DeviceControl PTZCmd and stops by itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streams.gb28181.ptz import LEFT, PRESET_GOTO, UP, ZOOM_IN
from tests.calls.conftest import api, poll
from tests.gb28181.conftest import PASSWORD, gb_settings
from tests.gb28181.test_platform import _cameras
from tests.hub.conftest import serve


async def test_ptz_reaches_the_device_and_stops_by_itself(tmp_path: Path, gb_device: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("SKYHUB_GB_PASSWORD", PASSWORD)
    settings = gb_settings(tmp_path, ptz_timeout_s=1.0)
    async with serve(settings) as rh:
        dev = await gb_device(settings, "--channels", "1")
        async with await api(rh, "dispatcher") as c:
            (camera_id,) = await poll(lambda: _cameras(c), 30, "the GB camera")
            channel = camera_id.removeprefix("gb-")
            assert (await _cameras(c))[camera_id]["ptz"] is True  # a dome, and a dispatcher may turn it
            r = await c.post(f"/api/cameras/{camera_id}/ptz", json={"pan": -0.5, "tilt": 1, "zoom": 0.4})
            assert r.status_code == 202, r.text
            assert r.json()["stops_after_s"] == 1.0
            (move,) = await poll(lambda: dev.seen("ptz", channel=channel), 10, "the move at the device")
            assert move["code"] == LEFT | UP | ZOOM_IN
            assert (move["pan_speed"], move["tilt_speed"], move["zoom_speed"]) == (128, 255, 6)
            # Nobody renews it (a closed tab): the hub stops the camera itself.
            stop = await poll(lambda: dev.seen("ptz", channel=channel, code=0)[:1], 10, "the stop at the device")
            assert stop[0]["pan_speed"] == stop[0]["tilt_speed"] == stop[0]["zoom_speed"] == 0
            r = await c.post(f"/api/cameras/{camera_id}/ptz", json={"preset": 3, "action": "goto"})
            assert r.status_code == 202 and r.json()["stops_after_s"] is None
            (goto,) = await poll(lambda: dev.seen("ptz", code=PRESET_GOTO), 10, "the preset at the device")
            assert goto["tilt_speed"] == 3
            assert (await c.post(f"/api/cameras/{camera_id}/ptz", json={"pan": 2})).status_code == 422
            assert (await c.post(f"/api/cameras/{camera_id}/ptz", json={"preset": 0})).status_code == 422
        async with await api(rh, "worker1") as w:  # a worker may watch the camera, not turn it
            assert (await w.post(f"/api/cameras/{camera_id}/ptz", json={"pan": 1})).status_code == 403
        async with await api(rh, "coordinator") as k:  # nor a coordinator: no controls for them
            assert (await _cameras(k))[camera_id]["ptz"] is False
        assert len(dev.seen("ptz")) == 3  # the move, its stop, the preset: nothing more


async def test_a_fixed_camera_cannot_be_turned(tmp_path: Path, gb_device: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("SKYHUB_GB_PASSWORD", PASSWORD)
    settings = gb_settings(tmp_path)
    async with serve(settings) as rh:
        dev = await gb_device(settings, "--channels", "1", "--ptz-type", "3")  # a fixed bullet camera
        async with await api(rh, "dispatcher") as c:
            (camera_id,) = await poll(lambda: _cameras(c), 30, "the GB camera")
            assert (await _cameras(c))[camera_id]["ptz"] is False
            r = await c.post(f"/api/cameras/{camera_id}/ptz", json={"pan": 1})
            assert r.status_code == 409 and "fixed camera" in r.json()["detail"]
        assert not dev.seen("ptz")
