"""Invite on demand: a channel nobody analyses is invited while watched and sent BYE after."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.calls.conftest import api, poll
from tests.gb28181.conftest import PASSWORD, gb_settings, metric
from tests.gb28181.test_platform import _cameras, _event, _state, _watch
from tests.hub.conftest import serve

IDLE_BYE_S = 1.5


async def test_channel_is_invited_while_watched_and_sent_bye_after(
    tmp_path: Path, peers: Any, gb_device: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("SKYHUB_GB_PASSWORD", PASSWORD)
    settings = gb_settings(tmp_path, analysis=False, idle_bye_s=IDLE_BYE_S)
    async with serve(settings) as rh:
        dev = await gb_device(settings, "--channels", "1")
        async with await api(rh, "dispatcher") as c:
            (camera_id,) = await poll(lambda: _cameras(c), 30, "the GB camera")
            cam = await poll(lambda: _state(c, camera_id, "standby"), 10, f"{camera_id} on standby")
            assert cam["on_demand"] is True and "watched" in cam["reason"]
            # Nobody watches: two more keepalives go by and no INVITE, no RTP.
            beats = len(dev.seen("keepalive", status=200))
            await poll(lambda: len(dev.seen("keepalive", status=200)) >= beats + 2, 10, "two more keepalives")
            assert not dev.seen("invite")
            m = (await (await rh.client("admin")).get("/metrics")).text
            assert metric(m, "skyhub_gb_rtp_packets_total") == 0 and metric(m, "skyhub_gb_streams") == 0
            assert metric(m, f'skyhub_camera_state{{camera="{camera_id}",state="standby"}}') == 1
            r = await c.get(f"/api/cameras/{camera_id}/snapshot.jpg")  # a picture alone does not wake it
            assert r.status_code == 503 and "standby" in r.json()["detail"]
            assert (await _state(c, camera_id, "standby")) is not None

        # A WHEP viewer wakes it: INVITE, and decoded frames.
        viewer = await _watch(rh, peers, camera_id, 10)
        assert len(dev.seen("invite")) == 1
        async with await api(rh, "dispatcher") as c:
            await poll(lambda: _state(c, camera_id, "online"), 10, f"{camera_id} online")
            left = time.time()
            assert viewer.location is not None
            assert (await c.delete(viewer.location)).status_code == 204
        await viewer.close()

        # Nobody watches any more: BYE once idle_bye_s has passed, and standby again.
        (bye,) = await poll(lambda: dev.seen("bye"), IDLE_BYE_S + 10, "the BYE at the device")
        assert bye["t"] - left >= IDLE_BYE_S
        async with await api(rh, "dispatcher") as c:
            await poll(lambda: _state(c, camera_id, "standby"), 10, f"{camera_id} on standby again")
            m = (await (await rh.client("admin")).get("/metrics")).text
            assert metric(m, "skyhub_gb_streams") == 0

        # And the next viewer wakes it again.
        again = await _watch(rh, peers, camera_id, 10)
        assert again.frames[0] >= 10 and len(dev.seen("invite")) == 2


async def test_stream_that_stops_gets_bye_and_is_invited_again(
    tmp_path: Path, gb_device: Any, monkeypatch: Any
) -> None:
    """An analysed channel (always invited) whose RTP stops: BYE, then INVITE with the backoff."""
    monkeypatch.setenv("SKYHUB_GB_PASSWORD", PASSWORD)
    settings = gb_settings(tmp_path, rtp_timeout_s=1.0)
    async with serve(settings) as rh:
        dev = await gb_device(settings, "--channels", "1")
        async with await api(rh, "dispatcher") as c:
            (camera_id,) = await poll(lambda: _cameras(c), 30, "the GB camera")
            cam = await poll(lambda: _state(c, camera_id, "online"), 40, f"{camera_id} online")
            assert cam["on_demand"] is False  # analysed: invited whether watched or not
            (first,) = dev.seen("invite")
            await dev.command("mute")
            (bye,) = await poll(lambda: dev.seen("bye"), 15, "the BYE of the silent stream")
            assert bye["call_id"] is not None
            offline = await poll(lambda: _event(rh, "camera.offline"), 10, f"{camera_id} offline")
            assert offline["subject"] == camera_id and "no RTP for 1 s" in offline["data"]["reason"]
            await poll(lambda: len(dev.seen("invite")) >= 2, 15, "a new INVITE")
            await poll(lambda: _state(c, camera_id, "online"), 15, f"{camera_id} online again")
            assert dev.seen("invite")[1]["t"] > bye["t"] >= first["t"]
