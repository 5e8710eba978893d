"""H.265 GB channels: analysed as they are; browser viewers get H.264 (the device's H.264
sub-stream, else one shared transcode, within gb28181.max_transcodes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.calls.conftest import api, poll
from tests.gb28181.conftest import PASSWORD, gb_settings, metric
from tests.gb28181.test_platform import _analysed, _cameras, _state, _watch
from tests.hub.conftest import serve

H265 = ("--h265", "--h265-seconds", "4")
"""The simulator sends its clip re-encoded to H.265 (libx265)."""


async def _camera(c: Any, camera_id: str) -> dict[str, Any]:
    return (await _cameras(c))[camera_id]


async def test_h265_channel_is_analysed_and_its_viewers_get_one_shared_transcode(
    tmp_path: Path, peers: Any, gb_device: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("SKYHUB_GB_PASSWORD", PASSWORD)
    settings = gb_settings(tmp_path)
    async with serve(settings) as rh:
        dev = await gb_device(settings, "--channels", "1", *H265)  # no H.264 sub-stream: H.265 there too
        async with await api(rh, "dispatcher") as c:
            (camera_id,) = await poll(lambda: _cameras(c), 60, "the GB camera")
            cam = await poll(lambda: _state(c, camera_id, "online"), 40, f"{camera_id} online")
            assert cam["codec"] == "hevc" and cam["browser_playable"] is False
            assert cam["browser_video"] == "transcoded" and cam["transcode"] is None  # would be; nobody watches
            assert "cannot be played" not in cam["reason"]  # browsers can, as H.264
            await poll(lambda: _analysed(c, camera_id), 20, "the H.265 channel analysed")
        # Two WHEP viewers decode H.264 frames (aiortc offers H.264 only): one transcode for both.
        first = await _watch(rh, peers, camera_id, 20)
        second = await _watch(rh, peers, camera_id, 20)
        assert first.frames[0] >= 20 and second.frames[0] >= 20
        subs = dev.seen("invite", stream=1)
        assert subs, "the sub-stream was tried first"
        async with await api(rh, "dispatcher") as c:
            cam = await _camera(c, camera_id)
            assert cam["browser_video"] == "transcoded" and cam["viewers"] == 2
            assert cam["transcode"]["frames"] >= 20 and cam["transcode"]["cpu_s"] > 0
            m = (await (await rh.client("admin")).get("/metrics")).text
            assert metric(m, "skyhub_gb_transcodes") == 1
            # The sub-stream, found to be H.265 too, was ended again.
            await poll(lambda: dev.seen("bye"), 10, "the BYE of the sub-stream")
            for viewer in (first, second):
                assert viewer.location is not None
                assert (await c.delete(viewer.location)).status_code == 204
            # Nobody watches: the transcode stops (the analysis keeps the channel itself).
            await poll(
                lambda: _metric_is(rh, "skyhub_gb_transcodes", 0), 10, "the transcode stopped with its last viewer"
            )
            assert (await _camera(c, camera_id))["state"] == "online"


async def _metric_is(rh: Any, name: str, value: float) -> bool:
    async with await rh.client("admin") as a:
        return metric((await a.get("/metrics")).text, name) == value


async def test_an_h264_substream_goes_to_viewers_as_it_is(
    tmp_path: Path, peers: Any, gb_device: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("SKYHUB_GB_PASSWORD", PASSWORD)
    settings = gb_settings(tmp_path, analysis=False)
    async with serve(settings) as rh:
        dev = await gb_device(settings, "--channels", "1", *H265, "--sub-h264")
        async with await api(rh, "dispatcher") as c:
            (camera_id,) = await poll(lambda: _cameras(c), 60, "the GB camera")
        # On standby: the first viewer wakes it, meets H.265, and moves to the sub-stream.
        viewer = await _watch(rh, peers, camera_id, 20)
        assert viewer.frames[0] >= 20
        assert dev.seen("invite", stream=1) and dev.seen("invite", stream=0)
        async with await api(rh, "dispatcher") as c:
            cam = await _camera(c, camera_id)
            assert cam["codec"] == "hevc" and cam["browser_video"] == "substream" and cam["transcode"] is None
            m = (await (await rh.client("admin")).get("/metrics")).text
            assert metric(m, "skyhub_gb_transcodes") == 0
        # The next viewer goes to the sub-stream straight away.
        again = await _watch(rh, peers, camera_id, 10)
        assert again.frames[0] >= 10


async def test_past_max_transcodes_a_viewer_is_refused_with_the_reason(
    tmp_path: Path, peers: Any, gb_device: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("SKYHUB_GB_PASSWORD", PASSWORD)
    settings = gb_settings(tmp_path, max_transcodes=1, substream=False)
    async with serve(settings) as rh:
        await gb_device(settings, "--channels", "2", *H265)
        async with await api(rh, "dispatcher") as c:
            one, two = sorted(await poll(lambda: _two(c), 60, "two GB cameras"))
            for cam in (one, two):
                await poll(lambda cam=cam: _state(c, cam, "online"), 40, f"{cam} online")
        await _watch(rh, peers, one, 10)
        async with await api(rh, "dispatcher") as c:
            cam = await _camera(c, two)
            assert cam["browser_video"] == "pictures" and "max_transcodes" in cam["browser_video_reason"]
            viewer = peers([("video", "recvonly", None)])
            r = await viewer.connect(c, f"/whep/{two}")
            assert r.status_code == 415, r.text
            assert "max_transcodes" in r.json()["detail"] and r.json()["codec"] == "hevc"
            shot = await c.get(f"/api/cameras/{two}/snapshot.jpg")  # pictures instead, as the wall shows
            assert shot.status_code == 200 and shot.headers["content-type"] == "image/jpeg"
            m = (await (await rh.client("admin")).get("/metrics")).text
            assert metric(m, "skyhub_gb_transcodes_refused_total") >= 1


async def _two(c: Any) -> dict[str, dict[str, Any]] | None:
    cams = await _cameras(c)
    return cams if len(cams) == 2 else None
