"""Field video in over WHIP, with real aiortc peers over loopback: a publisher sending H.264, WHEP
viewers of the camera it becomes, its snapshot and clip, its end, and bad input."""

from __future__ import annotations

import asyncio
import io
import re
import uuid
from pathlib import Path
from typing import Any

import av
import pytest
from aiortc import RTCRtpSender

from hub.calls.peer import h264_codecs
from tests.calls.conftest import BoxVideoTrack, api, calls_settings, poll
from tests.conftest import free_port
from tests.hub.conftest import serve

CAMERA = "field-worker1"
DEVICE_TOKEN = "bodycam-7-publish-token-0123456789"
WHIP = {"devices": [{"id": "bodycam-7", "token_env": "SKYHUB_TEST_BODYCAM_7", "grid": "g2", "name": "Body camera 7"}]}


class PausableBox(BoxVideoTrack):
    """A phone camera that can stop giving frames while its connection stays up (a frozen app)."""

    def __init__(self) -> None:
        super().__init__(fps=15, size=(320, 240))
        self.running = asyncio.Event()
        self.running.set()

    async def recv(self) -> av.VideoFrame:
        await self.running.wait()
        return await super().recv()


def publisher(peers: Any, track: BoxVideoTrack | None = None, codecs: str = "H264") -> Any:
    """An aiortc peer that sends video, preferring ``codecs`` (its own H.264 or VP8 encoder)."""
    peer = peers([("video", "sendonly", track or BoxVideoTrack(fps=15, size=(320, 240)))])
    if codecs == "H264":
        peer.transceivers[0].setCodecPreferences(h264_codecs())
    else:
        caps = RTCRtpSender.getCapabilities("video").codecs
        peer.transceivers[0].setCodecPreferences([c for c in caps if c.mimeType in ("video/VP8", "video/rtx")])
    return peer


async def camera(c: Any, camera_id: str = CAMERA) -> dict[str, Any] | None:
    """The camera as ``GET /api/cameras`` lists it, or None."""
    r = await c.get("/api/cameras")
    assert r.status_code == 200, r.text
    return next((cam for cam in r.json() if cam["id"] == camera_id), None)


async def test_published_video_is_a_camera_viewers_watch(tmp_path: Path, peers: Any) -> None:
    async with serve(calls_settings(tmp_path, cameras=[])) as rh:
        pub = publisher(peers)
        async with await api(rh, "worker1") as w, await api(rh, "dispatcher") as d:
            r = await pub.connect(w, f"/whip/{CAMERA}")
            assert r.status_code == 201, r.text
            assert r.headers["content-type"].startswith("application/sdp")
            assert re.fullmatch(rf"/whip/{CAMERA}/[\w-]+", r.headers["location"])
            assert r.headers["etag"].startswith('"')
            etag = r.headers["etag"]
            assert "a=recvonly" in r.text and "H264" in r.text and "VP8" not in r.text
            # The hub's bandwidth estimates go back to the phone's encoder (unlike a viewer's).
            assert "a=rtcp-fb:" in r.text and " goog-remb" in r.text
            # Listed while live, placed at the worker's grid, online once a keyframe came.
            cam = await poll(lambda: _online(d), 30, "the published camera online in /api/cameras")
            assert (cam["source"], cam["grid"], cam["codec"]) == ("whip", "g1", "h264")
            assert (cam["width"], cam["height"], cam["browser_playable"]) == (320, 240, True)
            assert cam["name"] == "Worker One" and cam["publisher"] == "worker1"

            # A WHEP viewer decodes the publisher's own H.264, passed through.
            viewer = peers([("video", "recvonly", None)])
            r = await viewer.connect(d, f"/whep/{CAMERA}")
            assert r.status_code == 201, r.text
            await poll(lambda: viewer.frames.get(0, 0) >= 20, 30, "frames of the published video on a viewer")
            stream = rh.hub.cameras.get(CAMERA)
            gop = stream.relay.keyframe_group()
            assert gop and gop[0].keyframe and gop[0].data.startswith(b"\x00\x00\x00\x01\x67")  # SPS in front
            (viewer_session,) = [s for s in rh.hub.calls.sessions.all() if s.kind == "whep"]
            track = viewer_session.pc.getTransceivers()[0].sender.track
            assert track.sent >= 20 and track.skipped == 0

            # Trickle as for WHEP: an ICE restart is refused (422), another ICE session's tag 412.
            frag = {"Content-Type": "application/trickle-ice-sdpfrag"}
            r = await w.patch(
                pub.location, content="a=ice-ufrag:new1\r\na=ice-pwd:newpassword0123456789\r\n", headers=frag
            )
            assert r.status_code == 422 and "ICE restart" in r.json()["detail"]
            r = await w.patch(pub.location, content="a=end-of-candidates\r\n", headers={**frag, "If-Match": '"other"'})
            assert r.status_code == 412
            r = await w.patch(pub.location, content="a=end-of-candidates\r\n", headers=frag)
            assert r.status_code == 204 and r.headers["etag"] == etag

            # Snapshots and clips, as for any camera.
            r = await d.get(f"/api/cameras/{CAMERA}/snapshot.jpg")
            assert r.status_code == 200, r.text
            assert r.headers["content-type"] == "image/jpeg"
            with av.open(io.BytesIO(r.content)) as jpeg:
                picture = next(jpeg.decode(video=0))
                assert (picture.width, picture.height) == (320, 240)
            now = gop[0].ts
            clip = await stream.save_clip(tmp_path / "clip.mp4", now - 1.0, now + 1.0)
            with av.open(str(clip)) as mp4:
                frames = sum(1 for _ in mp4.decode(video=0))
                assert frames >= 10 and mp4.streams.video[0].codec_context.name == "h264"

            # The worker stops: the camera goes offline with the reason, its viewer is released.
            r = await w.delete(pub.location)
            assert r.status_code == 204, r.text
            cam = await poll(lambda: _state(d, "offline"), 10, "the camera offline after DELETE")
            assert "worker1 stopped publishing: deleted by the publisher" in cam["reason"]
            await poll(lambda: not rh.hub.calls.sessions.all(), 10, "the viewer released with its camera")
            late = peers([("video", "recvonly", None)])
            r = await late.connect(d, f"/whep/{CAMERA}")
            assert r.status_code == 503 and "offline" in r.json()["detail"]
            assert (await w.delete(pub.location)).status_code == 404

            # The same worker goes live again: the same camera, online again.
            again = publisher(peers)
            assert (await again.connect(w, f"/whip/{CAMERA}")).status_code == 201
            await poll(lambda: _online(d), 30, "the camera online again")


async def _online(c: Any) -> dict[str, Any] | None:
    return await _state(c, "online")


async def _state(c: Any, state: str) -> dict[str, Any] | None:
    cam = await camera(c)
    return cam if cam is not None and cam["state"] == state else None


async def test_publisher_that_stops_sending_goes_offline(tmp_path: Path, peers: Any) -> None:
    settings = calls_settings(tmp_path, cameras=[], whip={"stall_timeout_s": 1.5, "offline_kept_s": 0})
    async with serve(settings) as rh:
        track = PausableBox()
        pub = publisher(peers, track)
        async with await api(rh, "worker1") as w, await api(rh, "dispatcher") as d:
            assert (await pub.connect(w, f"/whip/{CAMERA}")).status_code == 201
            await poll(lambda: _online(d), 30, "the camera online")
            track.running.clear()  # the app freezes; ICE consent and DTLS stay up
            cam = await poll(lambda: _state(d, "offline"), 15, "the camera offline after its video stopped")
            assert "no video for 1.5 s" in cam["reason"]
            assert not rh.hub.calls.sessions.all() and not rh.hub.whip.live
            # Kept offline for whip.offline_kept_s (0 here), then no longer listed.
            await poll(lambda: _gone(d), 20, "the ended field camera forgotten")
            assert (await d.get(f"/api/cameras/{CAMERA}")).status_code == 404


async def _gone(c: Any) -> bool:
    return await camera(c) is None


async def test_device_publishes_with_its_token_and_bad_tokens_are_counted(
    tmp_path: Path, peers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKYHUB_TEST_BODYCAM_7", DEVICE_TOKEN)
    whip = {"devices": [*WHIP["devices"], {"id": "bodycam-8", "token_env": "SKYHUB_TEST_BODYCAM_7", "revoked": True}]}
    async with serve(calls_settings(tmp_path, cameras=[], whip=whip)) as rh:
        pub = publisher(peers)
        sdp = await pub.offer()
        async with await api(rh) as anon, await api(rh, "dispatcher") as d, await api(rh, "worker1") as w:
            post = {"content": sdp, "headers": {"Content-Type": "application/sdp"}}
            for token, path, reason in (
                (None, "/whip/field-bodycam-7", "missing"),
                ("not-the-token", "/whip/field-bodycam-7", "wrong"),
                (DEVICE_TOKEN, "/whip/field-bodycam-8", "revoked"),
                ("garbage.jwt.here", "/whip/field-worker1", "wrong"),
            ):
                headers = {**post["headers"], **({"Authorization": f"Bearer {token}"} if token else {})}
                r = await anon.post(path, content=sdp, headers=headers)
                assert r.status_code == 401, (reason, r.text)
                assert r.headers["www-authenticate"] == "Bearer"
                assert DEVICE_TOKEN not in r.text
            metrics = (await d.get("/metrics")).text
            assert 'skyhub_whip_refused_total{reason="wrong"} 2.0' in metrics
            assert 'skyhub_whip_refused_total{reason="missing"} 1.0' in metrics
            assert 'skyhub_whip_refused_total{reason="revoked"} 1.0' in metrics
            # A login publishes only under its own name.
            r = await w.post("/whip/field-worker2", **post)
            assert r.status_code == 403 and "field-worker1" in r.json()["detail"]
            r = await w.post("/whip/cam-street", **post)
            assert r.status_code == 404
            r = await w.post("/whip/field-" + "x" * 70, **post)
            assert r.status_code == 422 and "camera id" in r.json()["detail"]
            assert not rh.hub.calls.sessions.all() and await camera(d, "field-bodycam-7") is None

            # The right device token: the body camera is a camera at its configured grid.
            r = await pub.connect(_bearer(anon, DEVICE_TOKEN), "/whip/field-bodycam-7")
            assert r.status_code == 201, r.text
            cam = await poll(lambda: _state_of(d, "field-bodycam-7", "online"), 30, "the body camera online")
            assert (cam["grid"], cam["name"], cam["source"]) == ("g2", "Body camera 7", "whip")
            # Someone else publishing the same stream: 409, and the live one goes on.
            second = publisher(peers)
            r = await second.connect(_bearer(anon, DEVICE_TOKEN), "/whip/field-bodycam-7")
            assert r.status_code == 409, r.text
            assert len(rh.hub.calls.sessions.all()) == 1
            # Another token cannot end it; the device's own can.
            assert (await w.delete(pub.location)).status_code == 404
            r = await _bearer(anon, DEVICE_TOKEN).delete(pub.location)
            assert r.status_code == 204
            await poll(lambda: _state_of(d, "field-bodycam-7", "offline"), 10, "the body camera offline")


def _bearer(client: Any, token: str) -> Any:
    client.headers["Authorization"] = f"Bearer {token}"
    return client


async def _state_of(c: Any, camera_id: str, state: str) -> dict[str, Any] | None:
    cam = await camera(c, camera_id)
    return cam if cam is not None and cam["state"] == state else None


@pytest.mark.parametrize(
    ("case", "detail"),
    [
        ("vp8 only", "no usable video codec"),
        ("no fingerprint", "DTLS fingerprint"),
        ("too large", "larger than"),
        ("receive only", "a WHIP publisher sends"),
    ],
)
async def test_bad_offers_are_refused_and_leave_nothing(tmp_path: Path, peers: Any, case: str, detail: str) -> None:
    async with serve(calls_settings(tmp_path, cameras=[])) as rh:
        if case == "vp8 only":
            pub = publisher(peers, codecs="VP8")
        elif case == "receive only":
            pub = peers([("video", "recvonly", None)])
        else:
            pub = publisher(peers)

        def edit(sdp: str) -> str:
            if case == "no fingerprint":
                return "".join(ln for ln in sdp.splitlines(keepends=True) if not ln.startswith("a=fingerprint"))
            if case == "too large":
                return sdp + "a=x-padding:" + "x" * 70_000 + "\r\n"
            return sdp

        async with await api(rh, "worker1") as w:
            r = await pub.connect(w, f"/whip/{CAMERA}", edit)
            assert r.status_code == 422, r.text
            assert detail in r.json()["detail"]
            assert not rh.hub.calls.sessions.all() and not rh.hub.whip.live
            assert await camera(w) is None
            r = await w.options(f"/whip/{CAMERA}")
            assert r.status_code == 204 and r.headers["accept-post"] == "application/sdp"
            r = await w.get(f"/whip/{CAMERA}")
            assert r.status_code == 405 and r.headers["allow"] == "OPTIONS, POST"


async def test_a_device_with_analysis_is_analysed_while_live(
    tmp_path: Path, peers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A body camera whose config asks for analysis, with a zone over its whole picture: its video is
    # decoded while it publishes, and the box crossing its picture is an intrusion in that zone.
    monkeypatch.setenv("SKYHUB_TEST_BODYCAM_7", DEVICE_TOKEN)
    zone = {"id": "all", "kind": "intrusion", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}
    device = {**WHIP["devices"][0], "analysis": {"enabled": True, "fps": 5}, "zones": [zone]}
    cam_id = "field-bodycam-7"
    async with serve(calls_settings(tmp_path, cameras=[], whip={"devices": [device]})) as rh:
        pub = publisher(peers)
        async with await api(rh) as anon, await api(rh, "dispatcher") as d:
            r = await pub.connect(_bearer(anon, DEVICE_TOKEN), f"/whip/{cam_id}")
            assert r.status_code == 201, r.text

            async def alerts(kind: str) -> list[Any]:
                return [e for e in await rh.hub.log.read(0, 10_000) if e.type == kind and e.subject == cam_id]

            started = await poll(lambda: alerts("alert.started"), 45, "an intrusion alert from the published video")
            assert (started[0].data["kind"], started[0].data["zone"]) == ("intrusion", "all")

            async def analysed() -> dict[str, Any] | None:
                cam = await _state_of(d, cam_id, "online")
                return cam if cam is not None and cam["analysed_fps"] > 0 else None

            cam = await poll(analysed, 10, "the body camera online, its frames analysed")
            assert cam["decode_dropped"] == 0
            assert cam_id in rh.hub.analysis.running()

            # It stops publishing: its analysis stops with it and its open alert ends.
            assert (await _bearer(anon, DEVICE_TOKEN).delete(pub.location)).status_code == 204
            await poll(lambda: cam_id not in rh.hub.analysis.running(), 10, "the analysis stopped with the video")
            ended = await poll(lambda: alerts("alert.ended"), 10, "the open alert ended")
            assert {e.data["alert_id"] for e in ended} >= {started[-1].data["alert_id"]}


async def test_a_workers_phone_is_not_decoded_unless_asked(tmp_path: Path, peers: Any) -> None:
    async with serve(calls_settings(tmp_path, cameras=[])) as rh:
        pub = publisher(peers)
        async with await api(rh, "worker1") as w, await api(rh, "dispatcher") as d:
            assert (await pub.connect(w, f"/whip/{CAMERA}")).status_code == 201
            cam = await poll(lambda: _online(d), 30, "the published camera online")
            await asyncio.sleep(1.0)
            cam = await camera(d)
            assert cam is not None and cam["analysed_fps"] == 0
            assert rh.hub.analysis is None or CAMERA not in rh.hub.analysis.running()


async def test_a_camera_published_to_one_node_is_listed_and_watched_from_another(
    tmp_path: Path, peers: Any, pg_url: str, redis_url: str
) -> None:
    storage = {"url": pg_url, "redis_url": redis_url, "redis_prefix": f"t{uuid.uuid4().hex[:8]}"}
    port_a, port_b = free_port(), free_port()

    def node(name: str, port: int) -> Any:
        server = {"ice_addresses": ["127.0.0.1"], "public_url": f"http://127.0.0.1:{port}"}
        return calls_settings(tmp_path / name, cameras=[], storage=storage, server=server)

    async with serve(node("a", port_a), port=port_a) as a, serve(node("b", port_b), port=port_b) as b:
        pub = publisher(peers)
        async with await api(a, "worker1") as w, await api(b, "dispatcher") as db:
            assert (await pub.connect(w, f"/whip/{CAMERA}")).status_code == 201
            # Node B lists it, live on node A, and sends its viewers there.
            cam = await poll(lambda: _state_of(db, CAMERA, "remote"), 15, "the field camera listed on node B")
            assert (cam["owner"], cam["owner_url"]) == (a.hub.redis.node, a.url)
            assert (cam["source"], cam["grid"], cam["name"]) == ("whip", "g1", "Worker One")
            viewer = peers([("video", "recvonly", None)])
            r = await viewer.connect(db, f"/whep/{CAMERA}")
            assert r.status_code == 307, r.text
            assert r.headers["location"] == f"{a.url}/whep/{CAMERA}"
            r = await viewer.connect(db, r.headers["location"])  # the same login is good on node A
            assert r.status_code == 201, r.text
            await poll(lambda: viewer.frames.get(0, 0) >= 10, 30, "frames on a viewer sent from node B")
            r = await db.get(f"/api/cameras/{CAMERA}/snapshot.jpg")
            assert r.status_code == 307 and r.headers["location"] == f"{a.url}/api/cameras/{CAMERA}/snapshot.jpg"

            # It stops: node B no longer lists it (within a heartbeat or two), and has no viewer to send.
            assert (await w.delete(pub.location)).status_code == 204
            await poll(lambda: _absent(db, CAMERA), 15, "the field camera gone from node B")
            late = peers([("video", "recvonly", None)])
            assert (await late.connect(db, f"/whep/{CAMERA}")).status_code == 404


async def _absent(c: Any, camera_id: str) -> bool:
    return await camera(c, camera_id) is None
