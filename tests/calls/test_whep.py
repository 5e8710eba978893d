"""WHEP viewers over loopback with a real aiortc peer: passthrough video, keyframes, bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription

from hub.calls.ice import pin_host_addresses
from tests.calls.conftest import CAMERAS, api, calls_settings, poll
from tests.calls.test_dtls import setup_of
from tests.hub.conftest import serve
from tests.streams.conftest import make_video

SDP = {"Content-Type": "application/sdp"}
FRAG = {"Content-Type": "application/trickle-ice-sdpfrag"}


async def _offer(video: bool = True, audio: bool = False) -> str:
    pc = RTCPeerConnection()
    if audio:
        pc.addTransceiver("audio", direction="recvonly")
    if video:
        pc.addTransceiver("video", direction="recvonly")
    offer = await pc.createOffer()
    pin_host_addresses(pc, ["127.0.0.1"])
    await pc.setLocalDescription(offer)
    sdp = pc.localDescription.sdp
    await pc.close()
    return str(sdp)


async def test_viewer_gets_camera_packets_without_reencoding(tmp_path: Path, peers: Any) -> None:
    async with serve(calls_settings(tmp_path)) as rh:
        cam = rh.hub.cameras.get("cam-street")
        await poll(lambda: cam.relay.keyframe_group(), 60, "the camera's first keyframe")
        viewer = peers([("video", "recvonly", None)])
        async with await api(rh, "dispatcher") as c:
            r = await viewer.connect(c, "/whep/cam-street")
            assert r.status_code == 201, r.text
            assert r.headers["content-type"].startswith("application/sdp")
            assert r.headers["location"].startswith("/whep/cam-street/")
            # Only the configured host address is announced (no public STUN, no other interface).
            candidates = [ln for ln in r.text.splitlines() if ln.startswith("a=candidate")]
            assert candidates and all(" 127.0.0.1 " in ln for ln in candidates)
            assert "H264" in r.text and "VP8" not in r.text
            # Keyframe requests and retransmissions, but no bandwidth estimates: the hub cannot
            # send a camera's video at another rate, and each report costs it a packet to decrypt.
            feedback = {ln.split(" ", 1)[1] for ln in r.text.splitlines() if ln.startswith("a=rtcp-fb:")}
            assert {"nack", "nack pli"} <= feedback and "goog-remb" not in feedback, feedback
            # The cached keyframe group arrives first: a picture at once, then live frames.
            await poll(lambda: viewer.frames.get(0, 0) >= 1, 20, "the first decoded frame")
            await poll(lambda: viewer.frames.get(0, 0) >= 30, 30, "live frames")
            (session,) = rh.hub.calls.sessions.all()
            track = session.pc.getTransceivers()[0].sender.track
            assert track.sent >= 30 and track.skipped == 0
            # A keyframe request is answered from the cache (not by encoding anything).
            await viewer.transceivers[0].receiver._send_rtcp_pli(session.pc.getTransceivers()[0].sender._ssrc)
            await poll(lambda: track.replays >= 1, 10, "the cached keyframe group replayed")
            frames = viewer.frames[0]
            await poll(lambda: viewer.frames[0] > frames + 5, 20, "frames after the replay")
            # A second viewer: both decode, and each packet is packetised once for the two of them.
            second = peers([("video", "recvonly", None)])
            assert (await second.connect(c, "/whep/cam-street")).status_code == 201
            await poll(lambda: second.frames.get(0, 0) >= 10, 30, "the second viewer's frames")
            assert rh.hub.calls.packetizer.reused > 10
            await c.delete(second.location)
            # DELETE the Location: the viewer and its subscription are released.
            assert len(cam.relay.subscribers) == 1
            d = await c.delete(r.headers["location"])
            assert d.status_code == 204
            await poll(lambda: not cam.relay.subscribers, 5, "the subscription closed")
            assert len(rh.hub.calls.sessions) == 0
            assert (await c.delete(r.headers["location"])).status_code == 404


async def test_bad_input(tmp_path: Path) -> None:
    hevc = make_video(tmp_path / "hevc.mp4", codec="libx265", seconds=4)
    cameras = [
        *CAMERAS,
        {"id": "cam-dead", "url": "rtsp://127.0.0.1:9/x", "connect_timeout_s": 1, "analysis": {"enabled": False}},
        {"id": "cam-hevc", "url": f"file://{hevc}", "analysis": {"enabled": False}},
    ]
    settings = calls_settings(tmp_path, cameras=cameras, calls={"max_viewers_per_camera": 1})
    async with serve(settings) as rh:
        good = await _offer()
        async with await api(rh, "dispatcher") as c:
            await poll(lambda: rh.hub.cameras.get("cam-street").relay.keyframe_group(), 60, "street keyframe")
            await poll(lambda: rh.hub.cameras.get("cam-hevc").codec is not None, 60, "the H.265 camera")
            await poll(lambda: rh.hub.cameras.get("cam-dead").state.value == "offline", 60, "the dead camera")

            # Not SDP at all: 400. Not sent as SDP: 415, saying what to send.
            r = await c.post("/whep/cam-street", content="v=0\r\nthis is not SDP\r\n", headers=SDP)
            assert r.status_code == 400 and "malformed SDP" in r.json()["detail"]
            r = await c.post("/whep/cam-street", content="hello", headers=SDP)
            assert r.status_code == 400 and "v=0" in r.json()["detail"]
            r = await c.post("/whep/cam-street", content=b"\xff\xfe", headers=SDP)
            assert r.status_code == 400
            r = await c.post("/whep/cam-street", content=good, headers={"Content-Type": "text/plain"})
            assert r.status_code == 415 and "application/sdp" in r.json()["detail"]
            assert r.headers["accept-post"] == "application/sdp"
            # SDP the hub cannot use: 422 with the reason (unusable_offers covers the rest).
            r = await c.post("/whep/cam-street", content=await _offer(video=False, audio=True), headers=SDP)
            assert r.status_code == 422 and "no video" in r.json()["detail"]
            r = await c.post("/whep/nope", content=good, headers=SDP)
            assert r.status_code == 404
            r = await c.post("/whep/cam-dead", content=good, headers=SDP)
            assert r.status_code == 503 and r.json()["state"] == "offline" and "offline" in r.json()["detail"]
            assert int(r.headers["retry-after"]) > 0
            r = await c.post("/whep/cam-hevc", content=good, headers=SDP)
            assert r.status_code == 415 and "H.265" in r.json()["detail"]
            # The cap: one viewer allowed, the second is told when to retry.
            first = await c.post("/whep/cam-street", content=good, headers=SDP)
            assert first.status_code == 201
            r = await c.post("/whep/cam-street", content=await _offer(), headers=SDP)
            assert r.status_code == 503 and "viewers" in r.json()["detail"] and int(r.headers["retry-after"]) > 0
            await c.delete(first.headers["location"])
        async with await api(rh, "worker1") as w:  # a worker sees only their grids' cameras
            assert (await w.post("/whep/cam-hevc", content=good, headers=SDP)).status_code == 404
            assert (await w.post("/whep/@dispatcher", content=good, headers=SDP)).status_code == 403
        async with await api(rh) as anon:
            assert (await anon.post("/whep/cam-street", content=good, headers=SDP)).status_code == 401
        assert len(rh.hub.calls.sessions) == 0


async def test_answer_is_usable_by_a_browser_style_offer_with_audio(tmp_path: Path, peers: Any) -> None:
    """WHEP players often offer audio too; the hub answers it inactive and sends video."""
    async with serve(calls_settings(tmp_path)) as rh:
        await poll(lambda: rh.hub.cameras.get("cam-street").relay.keyframe_group(), 60, "keyframe")
        viewer = peers([("audio", "recvonly", None), ("video", "recvonly", None)])
        async with await api(rh, "viewer") as c:
            r = await viewer.connect(c, "/whep/cam-street")
            assert r.status_code == 201, r.text
        await poll(lambda: viewer.frames.get(1, 0) >= 5, 30, "video frames")
        answer = RTCSessionDescription(r.text, "answer")
        assert "m=audio" in answer.sdp and "a=inactive" in answer.sdp


async def test_viewer_ends_with_its_source_and_frees_its_place(tmp_path: Path, peers: Any) -> None:
    """A camera that stops (or moves to another hub node) takes its viewers' sessions with it."""
    async with serve(calls_settings(tmp_path, calls={"max_viewers_per_camera": 1})) as rh:
        cameras, sessions = rh.hub.cameras, rh.hub.calls.sessions
        await poll(lambda: cameras.get("cam-street").relay.keyframe_group(), 60, "the camera's first keyframe")
        async with await api(rh, "dispatcher") as c:
            viewer = peers([("video", "recvonly", None)])
            r = await viewer.connect(c, "/whep/cam-street")
            assert r.status_code == 201, r.text
            await poll(lambda: viewer.frames.get(0, 0) >= 5, 30, "the viewer's frames")
            await cameras.stop_camera("cam-street")
            # The session closes at once; the viewer sees its connection end (and can offer again).
            await poll(lambda: sessions.count("whep") == 0, 2, "the viewer's session closed", period_s=0.05)
            await poll(lambda: viewer.pc.connectionState in ("closed", "failed"), 10, "the viewer told")
            assert (await c.delete(r.headers["location"])).status_code == 404
            # The camera is back: its single viewer place is free again.
            await cameras.start_camera("cam-street")
            cam = cameras.get("cam-street")
            await poll(lambda: cam.relay.keyframe_group(), 60, "the restarted camera's keyframe")
            again = peers([("video", "recvonly", None)])
            r = await again.connect(c, "/whep/cam-street")
            assert r.status_code == 201, r.text
            await poll(lambda: again.frames.get(0, 0) >= 5, 30, "frames after the restart")
            assert (await c.delete(r.headers["location"])).status_code == 204
            # A viewer still connecting when the camera stops goes too (not after connect_timeout_s).
            r = await c.post("/whep/cam-street", content=await _offer(), headers=SDP)
            assert r.status_code == 201, r.text
            assert sessions.count("whep") == 1
            await cameras.stop_camera("cam-street")
            await poll(lambda: sessions.count("whep") == 0, 2, "the unconnected viewer closed", period_s=0.05)
            assert sessions.vanished == 0  # ended by its source, not mistaken for a vanished peer
            # Not ingested here any more: told to retry, never handed a dead session.
            r = await c.post("/whep/cam-street", content=await _offer(), headers=SDP)
            assert r.status_code == 503 and int(r.headers["retry-after"]) > 0
            assert len(sessions) == 0


def _without(prefix: str) -> Any:
    return lambda sdp: "".join(ln for ln in sdp.splitlines(keepends=True) if not ln.startswith(prefix))


async def _vp8_only_offer() -> str:
    pc = RTCPeerConnection()
    t = pc.addTransceiver("video", direction="recvonly")
    t.setCodecPreferences([c for c in RTCRtpReceiver.getCapabilities("video").codecs if c.mimeType == "video/VP8"])
    pin_host_addresses(pc, ["127.0.0.1"])
    await pc.setLocalDescription(await pc.createOffer())
    sdp = str(pc.localDescription.sdp)
    await pc.close()
    return sdp


async def test_unusable_offers_get_422_with_the_reason_and_leave_nothing(tmp_path: Path) -> None:
    async with serve(calls_settings(tmp_path)) as rh:
        cam = rh.hub.cameras.get("cam-street")
        await poll(lambda: cam.relay.keyframe_group(), 60, "the camera's first keyframe")
        good = await _offer()
        sha1 = _without("a=fingerprint:")(good).replace(
            "a=setup:", "a=fingerprint:sha-1 " + ":".join(["AB"] * 20) + "\r\na=setup:", 1
        )
        cases = {
            # A fingerprint missing used to get a 201, then an AssertionError inside aiortc.
            "no DTLS fingerprint": _without("a=fingerprint:")(good),
            "no a=setup": _without("a=setup:")(good),
            "sha-1 not supported": sha1,
            "no usable video codec": await _vp8_only_offer(),
            "does not multiplex RTCP": _without("a=rtcp-mux")(good),
            "no ICE credentials": _without("a=ice-pwd:")(good),
            # Found by the SDP fuzz: an m-line without a direction got a 500 (ValueError inside aiortc).
            "has no direction": _without("a=recvonly")(_without("a=sendrecv")(good)),
            # Found by the SDP fuzz: a BUNDLE naming a mid no m-line has was a 500 (AttributeError in aiortc).
            "has no a=mid": _without("a=mid:")(good),
            "which no m-line has": good.replace("a=group:BUNDLE ", "a=group:BUNDLE x9 ", 1),
            "larger than 65536 bytes": good + "a=x-padding:" + "x" * 70_000 + "\r\n",
            "no video section": await _offer(video=False, audio=True),
            "no media sections": good.split("m=")[0],
        }
        async with await api(rh, "dispatcher") as c:
            for reason, sdp in cases.items():
                r = await c.post("/whep/cam-street", content=sdp, headers=SDP)
                assert (r.status_code, reason in r.json()["detail"]) == (422, True), (reason, r.status_code, r.text)
                assert len(rh.hub.calls.sessions) == 0 and cam.relay.subscribers == [], reason
            # The same offer with its fingerprint is fine.
            r = await c.post("/whep/cam-street", content=good, headers=SDP)
            assert r.status_code == 201, r.text
            assert (await c.delete(r.headers["location"])).status_code == 204
        assert rh.hub.calls.sessions.released == 1


async def test_whep_protocol_options_etag_trickle_and_delete(tmp_path: Path, peers: Any) -> None:
    async with serve(calls_settings(tmp_path)) as rh:
        cam = rh.hub.cameras.get("cam-street")
        sessions = rh.hub.calls.sessions
        await poll(lambda: cam.relay.keyframe_group(), 60, "the camera's first keyframe")
        async with await api(rh) as anon:
            # OPTIONS needs no token and says what the endpoint and a session take (405 before).
            r = await anon.options("/whep/cam-street")
            assert r.status_code == 204 and r.headers["accept-post"] == "application/sdp"
            assert {m.strip() for m in r.headers["allow"].split(",")} == {"OPTIONS", "POST"}
            r = await anon.options("/whep/cam-street/any-session")
            assert r.status_code == 204 and r.headers["accept-patch"] == FRAG["Content-Type"]
            assert {m.strip() for m in r.headers["allow"].split(",")} == {"OPTIONS", "PATCH", "DELETE"}
        async with await api(rh, "dispatcher") as c, await api(rh, "viewer") as other:
            # A player that trickles: its offer carries no candidate, a PATCH brings them.
            viewer = peers([("video", "recvonly", None)])
            sdp = await viewer.offer()
            candidates = [ln for ln in sdp.splitlines() if ln.startswith("a=candidate:")]
            bare = "".join(
                ln for ln in sdp.splitlines(keepends=True) if not ln.startswith(("a=candidate:", "a=end-of"))
            )
            r = await c.post("/whep/cam-street", content=bare, headers=SDP)
            assert r.status_code == 201, r.text
            location, etag, answer = r.headers["location"], r.headers["etag"], r.text
            assert etag.startswith('"') and etag.endswith('"') and len(etag) > 2
            assert "link" not in r.headers  # no STUN/TURN configured
            assert setup_of(r.text) == ["passive"]
            (session,) = sessions.all()
            ufrag = next(ln for ln in sdp.splitlines() if ln.startswith("a=ice-ufrag:"))
            pwd = next(ln for ln in sdp.splitlines() if ln.startswith("a=ice-pwd:"))
            fragment = "\r\n".join([ufrag, pwd, "m=video 9 UDP/TLS/RTP/SAVPF 0", "a=mid:0", *candidates]) + "\r\n"
            r = await c.patch(location, content=fragment, headers={**FRAG, "If-Match": etag})
            assert r.status_code == 204, r.text
            assert r.headers["etag"] == etag
            ice = session.pc.getTransceivers()[0].receiver.transport.transport
            port = int(candidates[0].split()[5])
            assert [x for x in ice.getRemoteCandidates() if x.port == port]
            assert (await c.patch(location, content="a=end-of-candidates\r\n", headers=FRAG)).status_code == 204
            await viewer.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
            await poll(lambda: viewer.frames.get(0, 0) >= 5, 30, "frames after trickling")
            # What a PATCH may not do.
            r = await c.patch(location, content=fragment, headers={**FRAG, "If-Match": '"another-ice-session"'})
            assert r.status_code == 412
            restart = f"a=ice-ufrag:newufrag\r\na=ice-pwd:{'p' * 24}\r\n" + "\r\n".join(candidates) + "\r\n"
            r = await c.patch(location, content=restart, headers={**FRAG, "If-Match": "*"})
            assert r.status_code == 422 and "ICE restart" in r.json()["detail"]
            r = await c.patch(location, content=fragment, headers=SDP)
            assert r.status_code == 415 and r.headers["accept-patch"] == FRAG["Content-Type"]
            r = await c.patch(location, content="a=candidate:garbage\r\n", headers=FRAG)
            assert r.status_code == 400
            r = await c.patch(location, content="hello\r\n", headers=FRAG)
            assert r.status_code == 400
            many = "".join(f"a=candidate:{i} 1 udp 1 127.0.0.1 {40000 + i} typ host\r\n" for i in range(70))
            r = await c.patch(location, content=many, headers=FRAG)
            assert r.status_code == 422 and "at most" in r.json()["detail"]
            r = await c.patch(location, content="a=x:" + "x" * 20_000, headers=FRAG)
            assert r.status_code == 422 and "larger than" in r.json()["detail"]
            # Someone else's session, or none: 404 for PATCH and DELETE alike.
            assert (await other.patch(location, content=fragment, headers=FRAG)).status_code == 404
            assert (await other.delete(location)).status_code == 404
            assert (await c.patch("/whep/cam-street/nope", content=fragment, headers=FRAG)).status_code == 404
            assert (
                await c.patch(location.replace("cam-street", "other"), content=fragment, headers=FRAG)
            ).status_code == 404
            # Still watching through all of that; DELETE ends it, after which it is unknown.
            frames = viewer.frames[0]
            await poll(lambda: viewer.frames[0] > frames + 5, 20, "frames after the refused PATCHes")
            assert (await c.delete(location)).status_code == 204
            assert len(sessions) == 0 and cam.relay.subscribers == []
            assert (await c.delete(location)).status_code == 404
            assert (await c.patch(location, content=fragment, headers=FRAG)).status_code == 404
            # Methods WHEP does not use: 405 naming every method the path takes.
            for method, url, allow in (
                ("GET", "/whep/cam-street", {"OPTIONS", "POST"}),
                ("PUT", location, {"OPTIONS", "PATCH", "DELETE"}),
            ):
                r = await c.request(method, url)
                assert r.status_code == 405 and {m.strip() for m in r.headers["allow"].split(",")} == allow


async def test_configured_ice_servers_are_sent_as_link_headers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKYHUB_TEST_TURN_PASSWORD", 'se"cret')
    servers = [
        {"urls": ["stun:127.0.0.1:3478"]},
        {
            "urls": ["turn:127.0.0.1:3478?transport=udp"],
            "username": "hub",
            "credential_env": "SKYHUB_TEST_TURN_PASSWORD",
        },
    ]
    async with serve(calls_settings(tmp_path, calls={"ice_servers": servers})) as rh:
        await poll(lambda: rh.hub.cameras.get("cam-street").relay.keyframe_group(), 60, "the camera's first keyframe")
        async with await api(rh, "dispatcher") as c:
            # Nothing answers on 127.0.0.1:3478: the hub gathers for its timeout (5 s), then answers.
            r = await c.post("/whep/cam-street", content=await _offer(), headers=SDP)
            assert r.status_code == 201, r.text
            assert r.headers.get_list("link") == [
                '<stun:127.0.0.1:3478>; rel="ice-server"',
                '<turn:127.0.0.1:3478?transport=udp>; rel="ice-server"; username="hub"; '
                'credential="se\\"cret"; credential-type="password"',
            ]
            assert (await c.delete(r.headers["location"])).status_code == 204
        async with await api(rh) as anon:  # never to someone without a token
            assert "link" not in (await anon.options("/whep/cam-street")).headers


async def test_a_player_on_a_configured_origin_may_ask_and_others_get_no_cors(tmp_path: Path) -> None:
    calls = {"video_width": 320, "video_height": 180, "whep_allow_origins": ["https://Player.example:8443"]}
    async with serve(calls_settings(tmp_path, calls=calls)) as rh, await api(rh) as anon:
        preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
        r = await anon.options("/whep/cam-street", headers={"Origin": "https://player.example:8443", **preflight})
        assert r.status_code == 204
        assert r.headers["access-control-allow-origin"] == "https://player.example:8443"
        assert "Authorization" in r.headers["access-control-allow-headers"]
        # The offer itself still needs a token; its refusal carries CORS so the player can read why.
        r = await anon.post("/whep/cam-street", content="v=0\r\n", headers={"Origin": "https://player.example:8443"})
        assert r.status_code == 401 and "Location" in r.headers["access-control-expose-headers"]
        r = await anon.options("/whep/cam-street", headers={"Origin": "https://evil.example", **preflight})
        assert "access-control-allow-origin" not in r.headers
    async with serve(calls_settings(tmp_path, calls={**calls, "whep_allow_origins": ["*"]})) as rh, await api(rh) as c:
        r = await c.options("/whep/cam-street", headers={"Origin": "https://anywhere.example", **preflight})
        assert r.headers["access-control-allow-origin"] == "https://anywhere.example"


async def test_one_login_cannot_take_every_place_at_a_camera(tmp_path: Path) -> None:
    """The attack found: 40 parallel offers from worker1 took 31 of a camera's 32 places and left
    an admin with 503. Now a login holds a few views of a camera and a bounded number in all."""
    calls = {"max_viewers_per_camera": 6, "max_views_of_a_camera_per_user": 2, "max_viewers_per_user": 3}
    yard = {"id": "cam-yard", "url": "synthetic://street", "grid": "g1", "analysis": {"enabled": False}}
    async with serve(calls_settings(tmp_path, calls=calls, cameras=[*CAMERAS, yard])) as rh:
        cam = rh.hub.cameras.get("cam-street")
        await poll(lambda: cam.relay.keyframe_group(), 60, "the camera's first keyframe")
        async with await api(rh, "worker1") as w, await api(rh, "admin") as a:
            offers = [await _offer() for _ in range(5)]
            codes = [(await w.post("/whep/cam-street", content=o, headers=SDP)).status_code for o in offers]
            assert codes == [201, 201, 429, 429, 429]
            r = await w.post("/whep/cam-street", content=await _offer(), headers=SDP)
            assert r.status_code == 429 and "cam-street 2 times" in r.json()["detail"]
            assert int(r.headers["retry-after"]) > 0
            # The other camera: one more, then the login's own cap.
            await poll(lambda: rh.hub.cameras.get("cam-yard").relay.keyframe_group(), 60, "cam-yard's keyframe")
            assert (await w.post("/whep/cam-yard", content=await _offer(), headers=SDP)).status_code == 201
            r = await w.post("/whep/cam-yard", content=await _offer(), headers=SDP)
            assert r.status_code == 429 and "3 streams" in r.json()["detail"]
            # The admin still gets in.
            assert (await a.post("/whep/cam-street", content=await _offer(), headers=SDP)).status_code == 201
            assert rh.hub.calls.sessions.count("whep", owner="worker1") == 3


async def test_an_offer_with_hundreds_of_candidates_is_refused(tmp_path: Path) -> None:
    async with serve(calls_settings(tmp_path)) as rh:
        cam = rh.hub.cameras.get("cam-street")
        await poll(lambda: cam.relay.keyframe_group(), 60, "the camera's first keyframe")
        sdp = await _offer()
        flood = "".join(f"a=candidate:{i} 1 udp 2130706431 127.0.0.1 {20000 + i} typ host\r\n" for i in range(300))
        at = sdp.index("a=end-of-candidates") if "a=end-of-candidates" in sdp else sdp.index("a=ice-ufrag")
        async with await api(rh, "dispatcher") as c:
            r = await c.post("/whep/cam-street", content=sdp[:at] + flood + sdp[at:], headers=SDP)
            assert r.status_code == 422 and "at most 32" in r.json()["detail"]
            assert len(rh.hub.calls.sessions) == 0


async def test_a_connected_viewer_switches_cameras_parks_and_comes_back(tmp_path: Path, peers: Any) -> None:
    """The wall's layout switch: one connection shows another camera (its own picture, at once),
    parks, comes back; refused switches leave it showing what it showed; the record follows."""
    wide = make_video(tmp_path / "wide.mp4", size=(480, 270), seconds=4, gop=10)
    cameras = [
        *CAMERAS,
        {"id": "cam-wide", "url": f"file://{wide}", "grid": "g1", "analysis": {"enabled": False}},
        {"id": "cam-far", "url": f"file://{wide}", "grid": "g2", "analysis": {"enabled": False}},
        {"id": "cam-dead", "url": "rtsp://127.0.0.1:9/x", "grid": "g1", "connect_timeout_s": 1},
    ]
    settings = calls_settings(tmp_path, cameras=cameras, calls={"max_viewers_per_camera": 1})
    async with serve(settings) as rh:
        street, wide_cam = rh.hub.cameras.get("cam-street"), rh.hub.cameras.get("cam-wide")
        await poll(lambda: street.relay.keyframe_group() and wide_cam.relay.keyframe_group(), 60, "both keyframes")
        await poll(lambda: rh.hub.cameras.get("cam-dead").state.value == "offline", 60, "the dead camera")
        async with await api(rh, "worker1") as w, await api(rh, "admin") as admin, await api(rh, "dispatcher") as d:
            viewer = peers([("video", "recvonly", None)])
            assert (await viewer.connect(w, "/whep/cam-street")).status_code == 201
            first = viewer.location
            assert first is not None
            await poll(lambda: viewer.frames.get(0, 0) >= 5, 30, "the street's frames")
            street_size = viewer.sizes[0]
            (session,) = rh.hub.calls.sessions.all()

            r = await w.post(first + "/switch", json={"camera": "cam-wide"})
            assert r.status_code == 200, r.text
            moved = r.json()["location"]
            assert r.json()["camera"] == "cam-wide" and moved.startswith("/whep/cam-wide/")
            # The same connection, now with the other camera's own picture.
            await poll(lambda: viewer.sizes.get(0) == (480, 270), 10, lambda: f"the wide picture (got {viewer.sizes})")
            assert street_size != (480, 270)
            assert rh.hub.calls.sessions.all() == [session] and not street.relay.subscribers
            # Its URL is the one last given (the old one is gone).
            assert (await w.post(first + "/switch", json={"camera": "cam-wide"})).status_code == 404
            frames = viewer.frames[0]
            await poll(lambda: viewer.frames[0] >= frames + 10, 20, "the wide camera's frames go on")

            # Refused: each with its reason, and the viewer keeps its picture.
            other = peers([("video", "recvonly", None)])  # the street's one place taken
            assert (await other.connect(d, "/whep/cam-street")).status_code == 201
            bad = [
                ({"camera": "cam-street"}, 503),  # full
                ({"camera": "nope"}, 404),
                ({"camera": "cam-far"}, 404),  # on a grid worker1 does not see
                ({"camera": "cam-dead"}, 503),
                ({"camera": ""}, 422),
                ({"camera": 7}, 422),
                ({"cam": "cam-street"}, 422),
            ]
            for body, code in bad:
                r = await w.post(moved + "/switch", json=body)
                assert r.status_code == code, (body, r.text)
                assert r.json()["detail"]
            r = await w.post(moved + "/switch", content=b"{not json", headers={"Content-Type": "application/json"})
            assert r.status_code == 422
            assert (await d.post(moved + "/switch", json={"camera": "cam-street"})).status_code == 404  # not theirs
            assert (await w.post("/whep/cam-wide/nope/switch", json={"camera": "cam-street"})).status_code == 404
            assert session.subject == "cam-wide" and len(wide_cam.relay.subscribers) == 1
            assert (await d.delete(other.location)).status_code == 204
            frames = viewer.frames[0]
            await poll(lambda: viewer.frames[0] >= frames + 5, 20, "frames after the refusals")

            # Parked: nothing is forwarded; then back to the street, its picture at once.
            r = await w.post(moved + "/switch", json={"camera": None})
            assert r.status_code == 200 and r.json()["camera"] is None
            assert not wide_cam.relay.subscribers and session.subject == ""
            assert rh.hub.calls.sessions.count("whep", owner="worker1") == 1
            r = await w.post(moved + "/switch", json={"camera": "cam-street"})
            assert r.status_code == 200
            await poll(lambda: viewer.sizes.get(0) == street_size, 10, "the street's picture again")

            # The viewing record: each camera's view, ended by the switch or the park.
            async def views() -> list[dict[str, Any]]:
                r = await admin.get("/api/audit", params={"user": "worker1"})
                return [x for x in r.json()["records"] if x["kind"] == "live"]

            assert (await w.delete(r.json()["location"])).status_code == 204
            await poll(lambda: rh.hub.calls.sessions.count() == 0, 10, "the session released")

            async def all_ended() -> bool:
                got = await views()
                return len(got) == 3 and all(x["ended_at"] is not None for x in got)

            await poll(all_ended, 10, "three views, all ended")
            by_camera = {(x["camera"], x["end_reason"]) for x in await views()}
            assert by_camera == {
                ("cam-street", "switched to cam-wide"),
                ("cam-wide", "parked"),
                ("cam-street", "deleted by the viewer"),
            }
