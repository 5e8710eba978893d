"""One-to-one calls with real aiortc peers: ring, accept, media both ways, decline, busy, camera."""

from __future__ import annotations

import asyncio
import time
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
            # The wall's view of the worker's camera ends with the call (its source is gone).
            await poll(lambda: rh.hub.calls.sessions.count("whep") == 0, 5, "the @worker1 viewer closed")
            await poll(lambda: wall.pc.connectionState in ("closed", "failed"), 10, "the wall told")
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
            assert r.status_code == 422 and "audio, video" in r.json()["detail"]
            # Audio without Opus: refused, saying what was offered (the hub's voices are Opus).
            no_opus = peers([("audio", "sendrecv", None), ("video", "sendrecv", None)])
            r = await no_opus.connect(w1, f"/api/calls/{call['id']}/media", _without_opus)
            assert r.status_code == 422 and "no Opus" in r.json()["detail"] and "PCMU" in r.json()["detail"]
            assert call["id"] in {c["id"] for c in (await d.get("/api/calls")).json()}  # still ringing
            # Decline ends it.
            assert (await w1.post(f"/api/calls/{call['id']}/decline")).json()["state"] == "ended"
            assert (await w1.post(f"/api/calls/{call['id']}/decline")).status_code == 409
            r = await intruder.connect(w1, f"/api/calls/{call['id']}/media")
            assert r.status_code == 409 and "the call has ended (declined by worker1)" in r.json()["detail"]
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


async def _call_with_media(rh: Any, d: Any, w: Any, peers: Any, page: Any) -> tuple[str, Any, Any]:
    """A live call dispatcher ↔ worker1 with video both ways; (call id, caller, callee)."""
    call = (await d.post("/api/calls", json={"to": "worker1"})).json()
    await poll(lambda: (page.last(call["id"]) or {}).get("state") == "ringing", 10, "the ring")
    caller, callee = peers(call_slots(440)), peers(call_slots(880))
    assert (await caller.connect(d, f"/api/calls/{call['id']}/media")).status_code == 201
    assert (await callee.connect(w, f"/api/calls/{call['id']}/media")).status_code == 201
    await poll(lambda: caller.frames.get(1, 0) >= 5 and callee.frames.get(1, 0) >= 5, 40, "video both ways")
    return call["id"], caller, callee


async def test_member_who_vanishes_rejoins_within_the_grace(tmp_path: Path, peers: Any, call_page: Any) -> None:
    """A phone losing its network: its media is released in seconds, the call waits for it to come back."""
    async with serve(calls_settings(tmp_path, calls={"rejoin_grace_s": 30})) as rh:
        svc = rh.hub.calls
        page = await call_page(rh, "worker1")
        async with await api(rh, "dispatcher") as d, await api(rh, "worker1") as w:
            cid, caller, callee = await _call_with_media(rh, d, w, peers, page)
            live = svc.calls[cid]
            callee.vanish()
            t0 = time.monotonic()
            # The media session goes within the 5 s; the worker keeps their place in the call.
            await poll(lambda: live.members["worker1"].session is None, 10, "the media released", period_s=0.05)
            assert time.monotonic() - t0 < 5.0
            assert live.members["worker1"].video_in is None and svc.sessions.count("call", cid) == 1
            seen = await poll(
                lambda: page.last(cid) if not _member(page.last(cid), "worker1")["media"] else None, 5, ""
            )
            assert seen["state"] == "active" and _member(seen, "worker1")["state"] == "accepted"
            assert _member(seen, "worker1")["rejoin_by"] > time.time() + 20
            # Nothing ends while the worker is away; the caller cannot be rung by anyone else.
            await asyncio.sleep(2)
            assert live.state.value == "active"
            async with await api(rh, "coordinator") as co:
                assert (await co.post("/api/calls", json={"to": "worker1"})).json()["reason"] == "busy"
            # Back with a new connection: the same call carries media both ways again.
            back = peers(call_slots(660))
            r = await back.connect(w, f"/api/calls/{cid}/media")
            assert r.status_code == 201, r.text
            n = caller.frames[1]
            await poll(lambda: back.frames.get(1, 0) >= 5 and caller.frames[1] >= n + 5, 40, "video both ways again")
            await poll(lambda: abs(caller.heard_hz(0) - 660) < 30, 20, "the caller hearing the worker again")
            await poll(lambda: abs(back.heard_hz(0) - 440) < 30, 20, "the worker hearing the caller again")
            assert _member(page.last(cid), "worker1")["rejoin_by"] is None
            assert live.state.value == "active" and svc.sessions.count("call", cid) == 2
            assert (await d.post(f"/api/calls/{cid}/hangup")).json()["state"] == "ended"
        types = [e["type"] for e in await _events(rh)]
        assert types == [
            "call.started",
            "call.joined",
            "call.accepted",
            "call.joined",
            "call.media_lost",
            "call.busy",
            "call.joined",
            "call.ended",
        ]


async def test_member_who_does_not_come_back_leaves_when_the_grace_ends(
    tmp_path: Path, peers: Any, call_page: Any
) -> None:
    async with serve(calls_settings(tmp_path, calls={"rejoin_grace_s": 3})) as rh:
        svc = rh.hub.calls
        page = await call_page(rh, "worker1")
        async with await api(rh, "dispatcher") as d, await api(rh, "worker1") as w:
            cid, _caller, callee = await _call_with_media(rh, d, w, peers, page)
            live = svc.calls[cid]
            callee.vanish()
            await poll(lambda: live.members["worker1"].session is None, 10, "the media released", period_s=0.05)
            lost_m = time.monotonic()
            await poll(lambda: live.state.value == "ended", 10, "the call to end after the grace", period_s=0.05)
            assert time.monotonic() - lost_m >= 2.5  # not before the grace
            assert "worker1 left" in (live.ended_reason or "") and "not back within 3 s" in live.ended_reason
            await poll(lambda: len(svc.sessions) == 0, 10, "every session released")
            r = await peers(call_slots(660)).connect(w, f"/api/calls/{cid}/media")
            assert r.status_code == 409 and "ended" in r.json()["detail"]
        types = [e["type"] for e in await _events(rh)]
        assert types[-3:] == ["call.media_lost", "call.left", "call.ended"]


async def test_a_briefing_invitation_does_not_make_a_worker_busy(tmp_path: Path, peers: Any, call_page: Any) -> None:
    """Invited to a briefing but not in it: a dispatcher can still call; joined: busy."""
    async with serve(calls_settings(tmp_path, cameras=[])) as rh:
        page = await call_page(rh, "worker1")
        async with await api(rh, "coordinator") as co, await api(rh, "dispatcher") as d, await api(rh, "worker1") as w:
            brief = (await co.post("/api/briefings", json={"node": "g1"})).json()
            assert _member(brief, "worker1")["state"] == "invited"
            r = await d.post("/api/calls", json={"to": "worker1"})
            assert r.status_code == 201, r.text
            call = r.json()
            await poll(lambda: (page.last(call["id"]) or {}).get("state") == "ringing", 10, "the ring")
            assert (await w.post(f"/api/calls/{call['id']}/accept")).json()["state"] == "active"
            # In the call, the briefing waits: joining it now is refused, not a second conversation.
            listener = peers(
                [("audio", "sendrecv", ToneTrack(300)), ("audio", "recvonly", None), ("video", "recvonly", None)]
            )
            r = await listener.connect(w, f"/api/calls/{brief['id']}/media")
            assert r.status_code == 409 and r.json()["reason"] == "busy"
            r = await w.post(f"/api/calls/{brief['id']}/accept")  # nor by answering without media
            assert r.status_code == 409 and r.json()["reason"] == "busy"
            assert (await d.post(f"/api/calls/{call['id']}/hangup")).json()["state"] == "ended"
            # Free again: the briefing is still open to them; once they joined it, they are busy.
            listener = peers(
                [("audio", "sendrecv", ToneTrack(300)), ("audio", "recvonly", None), ("video", "recvonly", None)]
            )
            assert (await listener.connect(w, f"/api/calls/{brief['id']}/media")).status_code == 201
            r = await d.post("/api/calls", json={"to": "worker1"})
            assert r.status_code == 409 and r.json()["reason"] == "busy"


def _member(call: dict[str, Any] | None, username: str) -> dict[str, Any]:
    assert call is not None
    return dict(next(m for m in call["members"] if m["username"] == username))


def _without_opus(sdp: str) -> str:
    """An offer whose audio m-line lists only G.711 (as some SIP gateways send)."""
    out: list[str] = []
    section = ""
    for line in sdp.splitlines():
        if line.startswith("m="):
            section = line[2:].split()[0]
            if section == "audio":
                out += [" ".join([*line.split()[:3], "0", "8"])]
                out += ["a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000"]
                continue
        if section == "audio" and line.startswith(("a=rtpmap:", "a=fmtp:", "a=rtcp-fb:")):
            continue
        out.append(line)
    return "\r\n".join(out) + "\r\n"
