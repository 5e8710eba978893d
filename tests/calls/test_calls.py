"""One-to-one calls with real aiortc peers: ring, accept, media both ways, decline, busy, camera."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.calls.conftest import BoxVideoTrack, ToneTrack, api, calls_settings, poll
from tests.hub.conftest import serve

SDP = {"Content-Type": "application/sdp"}


def call_slots(freq: float) -> list[Any]:
    return [("audio", "sendrecv", ToneTrack(freq)), ("video", "sendrecv", BoxVideoTrack())]


async def _events(rh: Any, prefix: str = "call.") -> list[dict[str, Any]]:
    async with await api(rh, "admin") as c:
        return list((await c.get("/api/events", params={"type": prefix, "limit": 1000})).json()["events"])


async def test_call_carries_media_both_ways_and_a_camera(tmp_path: Path, peers: Any, call_page: Any) -> None:
    async with serve(calls_settings(tmp_path)) as rh:
        worker_page = await call_page(rh, "worker1")
        async with await api(rh, "dispatcher") as d, await api(rh, "worker1") as w:
            r = await d.post("/api/calls", json={"to": "worker1"})
            assert r.status_code == 201, r.text
            call = r.json()
            assert call["state"] == "ringing"
            await poll(lambda: (worker_page.last(call["id"]) or {}).get("state") == "ringing", 10, "the ring")
            caller = peers(call_slots(440))
            assert (await caller.connect(d, f"/api/calls/{call['id']}/media")).status_code == 201
            assert (await w.post(f"/api/calls/{call['id']}/accept")).json()["state"] == "active"
            callee = peers(call_slots(880))
            r = await callee.connect(w, f"/api/calls/{call['id']}/media")
            assert r.status_code == 201, r.text
            # Media both ways: each side decodes the other's video and hears the other's tone.
            await poll(lambda: caller.frames.get(1, 0) >= 10 and callee.frames.get(1, 0) >= 10, 40, "video both ways")
            await poll(lambda: abs(caller.heard_hz(0) - 880) < 30, 20, "the caller hearing the callee")
            await poll(lambda: abs(callee.heard_hz(0) - 440) < 30, 20, "the callee hearing the caller")
            # The worker's phone camera onto the wall: WHEP on @worker1 decodes it.
            wall = peers([("video", "recvonly", None)])
            assert (await wall.connect(d, "/whep/@worker1")).status_code == 201
            await poll(lambda: wall.frames.get(0, 0) >= 5, 30, "the worker's video on the wall")
            # A camera into the call: the worker now sees the camera's own packets (no transcoding).
            cam = rh.hub.cameras.get("cam-street")
            r = await d.post(f"/api/calls/{call['id']}/camera", json={"camera": "cam-street"})
            assert r.status_code == 200 and r.json()["camera"] == "cam-street"
            member = rh.hub.calls.calls[call["id"]].members["worker1"]
            assert member.video_out.source is cam.relay
            n = callee.frames[1]
            await poll(lambda: callee.frames[1] >= n + 10, 30, "camera frames in the call")
            assert (await w.post(f"/api/calls/{call['id']}/camera", json={"camera": None})).status_code == 403
            # Hang up: everything is released and the log tells the story.
            assert (await w.post(f"/api/calls/{call['id']}/hangup")).json()["state"] == "ended"
            await poll(lambda: rh.hub.calls.sessions.count("call") == 0, 10, "call sessions released")
            assert not [s for s in cam.relay.subscribers if s.name.startswith("call:")]
        types = [e["type"] for e in await _events(rh)]
        assert types == ["call.started", "call.joined", "call.accepted", "call.joined", "call.camera", "call.ended"]


async def test_decline_busy_unreachable_and_not_invited(tmp_path: Path, peers: Any, call_page: Any) -> None:
    async with serve(calls_settings(tmp_path)) as rh:
        await call_page(rh, "worker1")
        async with (
            await api(rh, "dispatcher") as d,
            await api(rh, "coordinator") as co,
            await api(rh, "worker1") as w1,
            await api(rh, "worker2") as w2,
        ):
            assert (await d.post("/api/calls", json={"to": "worker2"})).json()["reason"] == "unreachable"
            assert (await d.post("/api/calls", json={"to": "nobody"})).status_code == 404
            assert (await d.post("/api/calls", json={"to": "dispatcher"})).status_code == 400
            assert (await w1.post("/api/calls", json={"to": "dispatcher"})).status_code == 403  # workers do not ring
            call = (await d.post("/api/calls", json={"to": "worker1"})).json()
            # Busy: worker1 is ringing already.
            r = await co.post("/api/calls", json={"to": "worker1"})
            assert r.status_code == 409 and r.json()["reason"] == "busy"
            # A worker who was not invited cannot join, accept or see it.
            intruder = peers([("audio", "sendrecv", None), ("video", "sendrecv", None)])
            r = await intruder.connect(w2, f"/api/calls/{call['id']}/media")
            assert r.status_code == 403 and "not invited" in r.json()["detail"]
            assert (await w2.post(f"/api/calls/{call['id']}/accept")).status_code == 403
            assert (await w2.get(f"/api/calls/{call['id']}")).status_code == 403
            # Wrong offer shape for a call.
            wrong = peers([("video", "recvonly", None)])
            r = await wrong.connect(w1, f"/api/calls/{call['id']}/media")
            assert r.status_code == 400 and "audio, video" in r.json()["detail"]
            # Decline ends it.
            assert (await w1.post(f"/api/calls/{call['id']}/decline")).json()["state"] == "ended"
            assert (await w1.post(f"/api/calls/{call['id']}/decline")).status_code == 409
            r = await intruder.connect(w1, f"/api/calls/{call['id']}/media")
            assert r.status_code in (403, 409)
        types = [e["type"] for e in await _events(rh)]
        assert types == ["call.unreachable", "call.started", "call.busy", "call.declined", "call.ended"]
        assert len(rh.hub.calls.sessions) == 0


async def test_unanswered_call_ends(tmp_path: Path, call_page: Any) -> None:
    async with serve(calls_settings(tmp_path, calls={"ring_timeout_s": 1})) as rh:
        page = await call_page(rh, "worker1")
        async with await api(rh, "dispatcher") as d:
            call = (await d.post("/api/calls", json={"to": "worker1"})).json()
            await poll(lambda: (page.last(call["id"]) or {}).get("ended_reason") == "no answer", 10, "a missed call")
            assert (await d.post("/api/calls", json={"to": "worker1"})).status_code == 201  # not busy any more
