"""A simulated GB/T 28181 device against a real hub: register, catalogue, live video over WHEP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.calls.conftest import api, poll
from tests.gb28181.conftest import DEVICE, NAMES, PASSWORD, gb_settings, metric
from tests.hub.conftest import serve


async def _cameras(c: Any) -> dict[str, dict[str, Any]]:
    r = await c.get("/api/cameras")
    r.raise_for_status()
    return {cam["id"]: cam for cam in r.json() if cam["id"].startswith("gb-")}


async def _watch(rh: Any, peers: Any, camera_id: str, frames: int) -> Any:
    viewer = peers([("video", "recvonly", None)])
    async with await api(rh, "dispatcher") as c:
        r = await viewer.connect(c, f"/whep/{camera_id}")
        assert r.status_code == 201, r.text
    await poll(lambda: viewer.frames.get(0, 0) >= frames, 40, f"{frames} decoded frames of {camera_id}")
    return viewer


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_device_registers_and_its_channels_are_watched(
    tmp_path: Path, peers: Any, gb_device: Any, monkeypatch: Any, transport: str
) -> None:
    monkeypatch.setenv("SKYHUB_GB_PASSWORD", PASSWORD)
    settings = gb_settings(tmp_path, transport=transport)
    async with serve(settings) as rh:
        dev = await gb_device(settings, "--channels", "3", "--per-message", "2", "--transport", transport)
        async with await api(rh, "dispatcher") as c:
            cams = await poll(lambda: _three(c), 30, "three GB cameras in /api/cameras")
            assert sorted(cam["name"] for cam in cams.values()) == sorted(NAMES)
            assert {cam["source"] for cam in cams.values()} == {"gb28181"}
            assert {cam["grid"] for cam in cams.values()} == {"g1"}
            assert len(dev.seen("catalog_part")) == 2  # three items in two MESSAGEs
            first = sorted(cams)[0]
            await poll(lambda: _state(c, first, "online"), 40, f"{first} online")
        viewer = await _watch(rh, peers, first, 20)
        assert viewer.frames[0] >= 20
        async with await api(rh, "dispatcher") as c:  # analysed like any camera
            await poll(lambda: _analysed(c, first), 20, f"{first} analysed")
        assert dev.seen("invite", transport=transport)
        events = [e["type"] for e in (await (await rh.client("admin")).get("/api/events?since=0")).json()["events"]]
        assert "gb.device.online" in events
        m = (await (await rh.client("admin")).get("/metrics")).text
        assert metric(m, "skyhub_gb_rtp_packets_total") > 100
        assert metric(m, "skyhub_gb_devices_online") == 1
    assert DEVICE


async def _three(c: Any) -> dict[str, dict[str, Any]] | None:
    cams = await _cameras(c)
    return cams if len(cams) == 3 else None


async def _state(c: Any, camera_id: str, state: str) -> dict[str, Any] | None:
    cam = (await _cameras(c)).get(camera_id)
    return cam if cam is not None and cam["state"] == state else None


async def test_ssrc_of_the_answer_is_followed_and_loss_is_counted(
    tmp_path: Path, peers: Any, gb_device: Any, monkeypatch: Any
) -> None:
    """The device answers with its own SSRC and loses 1 % of the RTP and reorders 1 %: still video."""
    monkeypatch.setenv("SKYHUB_GB_PASSWORD", PASSWORD)
    settings = gb_settings(tmp_path)
    async with serve(settings) as rh:
        dev = await gb_device(
            settings, "--channels", "1", "--ssrc", "1350200777", "--drop", "0.01", "--reorder", "0.01"
        )
        async with await api(rh, "dispatcher") as c:
            cams = await poll(lambda: _cameras(c), 30, "the GB camera")
            (camera_id,) = cams
            await poll(lambda: _state(c, camera_id, "online"), 40, f"{camera_id} online")
        (invite,) = dev.seen("invite")
        assert invite["ssrc"] == "1350200777" and invite["offered"] != "1350200777"
        viewer = await _watch(rh, peers, camera_id, 60)
        assert viewer.frames[0] >= 60
        async with await rh.client("admin") as a:
            m = (await a.get("/metrics")).text
        assert metric(m, "skyhub_gb_rtp_lost_total") > 0  # the dropped packets, counted
        assert metric(m, "skyhub_gb_rtp_foreign_total") == 0  # none refused: the answer's SSRC is the one used


async def test_silent_device_goes_offline_and_comes_back(tmp_path: Path, gb_device: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("SKYHUB_GB_PASSWORD", PASSWORD)
    settings = gb_settings(tmp_path)  # keepalive every 1 s, 3 missed → offline
    async with serve(settings) as rh:
        dev = await gb_device(settings, "--channels", "1")
        async with await api(rh, "dispatcher") as c:
            (camera_id,) = await poll(lambda: _cameras(c), 30, "the GB camera")
            await poll(lambda: _state(c, camera_id, "online"), 40, f"{camera_id} online")
            await poll(lambda: dev.seen("keepalive", status=200), 10, "a keepalive taken")
            await dev.command("pause")
            await poll(lambda: dev.seen("paused"), 10, "the device pausing its keepalives")
            offline = await poll(lambda: _event(rh, "gb.device.offline"), 15, "gb.device.offline")
            last_beat = max(e["t"] for e in dev.seen("keepalive"))
            assert "missed 3 keepalives" in offline["data"]["reason"]
            # Within three beats and a second of the last keepalive that arrived.
            assert _when(offline) - last_beat <= 3 * settings.gb28181.keepalive_s + 1.0
            cam = await poll(lambda: _state(c, camera_id, "offline"), 10, f"{camera_id} offline")
            assert DEVICE in cam["reason"]
            await dev.command("resume")
            await dev.command("register")
            await poll(lambda: _event(rh, "gb.device.online", after=offline["id"]), 15, "gb.device.online again")
            await poll(lambda: _state(c, camera_id, "online"), 60, f"{camera_id} online again")


async def _event(rh: Any, kind: str, after: int = 0) -> dict[str, Any] | None:
    async with await rh.client("admin") as a:
        events = (await a.get(f"/api/events?since={after}")).json()["events"]
    found = [e for e in events if e["type"] == kind]
    return found[0] if found else None


def _when(event: dict[str, Any]) -> float:
    t = event.get("time") or event.get("ts")
    if isinstance(t, (int, float)):
        return float(t)
    from datetime import datetime

    return datetime.fromisoformat(str(t)).timestamp()


async def _analysed(c: Any, camera_id: str) -> dict[str, Any] | None:
    cam = (await _cameras(c)).get(camera_id)
    return cam if cam is not None and (cam["analysed_fps"] or 0) > 0 else None
