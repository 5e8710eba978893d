"""A briefing to five listeners with real aiortc peers: one encode for all, floor control."""

from __future__ import annotations

import asyncio
import copy
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiortc.codecs.opus import OpusEncoder

from hub.calls.tracks import VoiceEncoder
from tests.calls.conftest import BoxVideoTrack, ToneTrack, api, calls_settings, poll
from tests.hub.conftest import _HASH, BASE_CONFIG, serve

LISTENERS = [f"l{i}" for i in range(1, 6)]
WINDOW_S = 3.0
"""How long the one-encode-for-everyone figures are watched."""
TONE = {"dispatcher": 2000.0, **{u: 300.0 + 200 * i for i, u in enumerate(LISTENERS)}}


def _settings(tmp: Path) -> Any:
    users = copy.deepcopy(BASE_CONFIG["users"]) + [{"username": u, "roles": ["worker"]} for u in LISTENERS]
    for u in users:
        u["password_hash"] = _HASH
    directory = copy.deepcopy(BASE_CONFIG["directory"])
    directory["people"] += [{"id": u, "name": u, "roles": ["worker"], "grids": ["g1"]} for u in LISTENERS]
    return calls_settings(tmp, users=users, directory=directory)


def listener_slots(username: str) -> list[Any]:
    return [("audio", "sendrecv", ToneTrack(TONE[username])), ("audio", "recvonly", None), ("video", "recvonly", None)]


def near(hz: float, want: float) -> bool:
    return abs(hz - want) < 30 if want else hz == 0.0


async def test_briefing_to_five_listeners_with_floor_control(tmp_path: Path, peers: Any) -> None:
    async with serve(_settings(tmp_path)) as rh:
        svc = rh.hub.calls
        clients = {u: await api(rh, u) for u in ["dispatcher", *LISTENERS]}
        d = clients["dispatcher"]
        released: list[Any] = []  # every media session that ended, with its reason (for failure messages)
        svc.sessions.on_release.append(released.append)
        try:
            r = await d.post("/api/briefings", json={"node": "g1"})
            assert r.status_code == 201, r.text
            call = r.json()
            invited = {m["username"] for m in call["members"]}
            assert set(LISTENERS) <= invited and "worker2" not in invited  # worker2 is off duty (g2 anyway)
            cid = call["id"]
            speaker = peers(
                [("audio", "sendrecv", ToneTrack(TONE["dispatcher"])), ("video", "sendonly", BoxVideoTrack())]
            )
            assert (await speaker.connect(d, f"/api/calls/{cid}/media")).status_code == 201
            listeners = {}
            for u in LISTENERS[:4]:
                listeners[u] = peers(listener_slots(u))
                r = await listeners[u].connect(clients[u], f"/api/calls/{cid}/media")
                assert r.status_code == 201, r.text
            await poll(lambda: all(p.frames.get(2, 0) >= 10 for p in listeners.values()), 60, "4 listeners decoding")
            # A late joiner starts at a keyframe and decodes at once.
            listeners["l5"] = late = peers(listener_slots("l5"))
            assert (await late.connect(clients["l5"], f"/api/calls/{cid}/media")).status_code == 201
            await poll(lambda: late.frames.get(2, 0) >= 5, 20, "the late joiner's first frames")
            await poll(lambda: all(p.frames.get(2, 0) >= 20 for p in listeners.values()), 60, "5 listeners decoding")

            # Encoded once: one feed, every listener forwards the same relay.
            live = svc.calls[cid]
            feed = live.members["dispatcher"].video_in
            assert feed is not None and feed.encoded > 0
            assert all(live.members[u].video_out.source is feed.relay for u in LISTENERS)
            assert all(live.members[u].video_in is None for u in LISTENERS)
            # One encode per frame for the whole audience: over a few seconds the feed encodes at
            # most the configured 10 fps, every listener decodes those same frames, and each packet
            # is packetised once and reused for the other four listeners.
            encoded0, packed0, reused0 = feed.encoded, svc.packetizer.packed, svc.packetizer.reused
            frames0 = {u: p.frames[2] for u, p in listeners.items()}
            await asyncio.sleep(WINDOW_S)
            encoded = feed.encoded - encoded0
            assert 5 <= encoded <= WINDOW_S * 10 * 1.2 + 2, encoded
            assert all(p.frames[2] - frames0[u] >= encoded // 3 for u, p in listeners.items())
            packed, reused = svc.packetizer.packed - packed0, svc.packetizer.reused - reused0
            assert packed > 0 and reused >= 3 * packed, (packed, reused)

            def heard(u: str, index: int) -> float:
                return listeners[u].heard_hz(index)

            # Everyone hears the speaker; the floor track is silent while nobody holds it.
            await poll(lambda: all(near(heard(u, 0), TONE["dispatcher"]) for u in LISTENERS), 30, "the speaker")
            await poll(lambda: all(near(heard(u, 1), 0) for u in LISTENERS), 20, "a silent floor")

            async def floor(who: str, **body: Any) -> dict[str, Any]:
                r = await clients[who].post(f"/api/calls/{cid}/floor", json=body)
                assert r.status_code == 200, r.text
                return dict(r.json())

            def state(what: str) -> Callable[[], str]:
                def describe() -> str:
                    members = {u: (round(heard(u, 1)), live.members[u].session) for u in LISTENERS}
                    closed = [f"{s.owner}: {s.reason}" for s in released if s.subject == cid]
                    return f"{what}; floor Hz and session per listener {members}; sessions ended: {closed}"

                return describe

            async def floor_is(holder: str | None) -> None:
                want = TONE[holder] if holder else 0.0
                others = [u for u in LISTENERS if u != holder]
                group = state(f"the group hearing {holder}")
                await poll(lambda: all(near(heard(u, 1), want) for u in others), 30, group)
                await poll(lambda: near(speaker.heard_hz(0), want), 30, f"the speaker hearing {holder}")

            # l2 asks, the speaker grants: only l2's voice reaches the group.
            assert (await floor("l2", action="request"))["floor"] == {"holder": None, "waiting": {"l2": 0}}
            r = await clients["l3"].post(f"/api/calls/{cid}/floor", json={"action": "grant", "to": "l3"})
            assert r.status_code == 403  # listeners cannot grant
            assert (await floor("dispatcher", action="grant", to="l2"))["floor"]["holder"] == "l2"
            await floor_is("l2")
            # l4 asks with a higher priority: it preempts l2.
            assert (await floor("l4", action="request", priority=2))["floor"]["holder"] == "l4"
            await floor_is("l4")
            # l1 asks with a normal priority: it waits.
            assert (await floor("l1", action="request"))["floor"]["holder"] == "l4"
            # The speaker revokes: silence again.
            assert (await floor("dispatcher", action="revoke"))["floor"]["holder"] is None
            await floor_is(None)
            # The holder's phone vanishes: its media is released within 5 s and the floor falls back
            # to nobody, but l3 keeps their place in the briefing for the rejoin grace.
            await floor("dispatcher", action="grant", to="l3")
            await floor_is("l3")
            listeners["l3"].vanish()
            t0 = time.monotonic()
            await poll(lambda: live.members["l3"].session is None, 10, "l3's media released", period_s=0.05)
            assert time.monotonic() - t0 < 5.0
            assert live.floor.holder is None and live.members["l3"].audio_in is None
            assert live.members["l3"].state.value == "accepted"
            await poll(lambda: all(near(heard(u, 1), 0) for u in LISTENERS if u != "l3"), 30, state("a silent floor"))
            assert svc.sessions.count("briefing", cid) == 5  # the speaker and four listeners remain
            # Without media there is no floor to have: neither asked for nor given.
            r = await clients["l3"].post(f"/api/calls/{cid}/floor", json={"action": "request"})
            assert r.status_code == 409 and "not connected" in r.json()["detail"]
            r = await d.post(f"/api/calls/{cid}/floor", json={"action": "grant", "to": "l3"})
            assert r.status_code == 409
            # l3 is back with a new connection and hears the speaker again.
            listeners["l3"] = back = peers(listener_slots("l3"))
            assert (await back.connect(clients["l3"], f"/api/calls/{cid}/media")).status_code == 201
            await poll(lambda: back.frames.get(2, 0) >= 5, 30, "l3's video again")
            await poll(lambda: near(heard("l3", 0), TONE["dispatcher"]), 30, "l3 hearing the speaker again")
            assert svc.sessions.count("briefing", cid) == 6
            # A holder who hangs up takes the floor with them; so does a waiting request (l1's).
            await floor("l3", action="request")
            await floor("dispatcher", action="grant", to="l3")
            await floor_is("l3")
            assert (await clients["l3"].post(f"/api/calls/{cid}/hangup")).json()["floor"]["holder"] is None
            await poll(lambda: all(near(heard(u, 1), 0) for u in LISTENERS if u != "l3"), 30, state("a silent floor"))
            assert "l1" in live.floor.waiting
            after = (await clients["l1"].post(f"/api/calls/{cid}/hangup")).json()
            assert after["floor"] == {"holder": None, "waiting": {}}
            assert {m["username"]: m["state"] for m in after["members"]}["l1"] == "left"
            r = await peers(listener_slots("l3")).connect(clients["l3"], f"/api/calls/{cid}/media")
            assert r.status_code == 403 and "left" in r.json()["detail"]
            assert svc.sessions.count("briefing", cid) == 4
            assert (await d.post(f"/api/calls/{cid}/floor", json={"action": "shout"})).status_code == 422
            r = await clients["l1"].post(f"/api/calls/{cid}/floor", json={"action": "request", "priority": 7})
            assert r.status_code == 422

            assert (await d.post(f"/api/calls/{cid}/hangup")).json()["state"] == "ended"
            await poll(lambda: len(svc.sessions) == 0, 10, "every session released")
            # What the members' bounded queues let go is kept after their media is released.
            metrics = (await d.get("/metrics")).text
            assert set(svc.dropped) == {"video_packets", "voice_frames", "video_frames"}
            for what, n in svc.dropped.items():
                assert f'skyhub_rtc_dropped_total{{what="{what}"}} {float(n)}' in metrics, what
        finally:
            for c in clients.values():
                await c.aclose()
        async with await api(rh, "admin") as a:
            events = (await a.get("/api/events", params={"type": "floor.", "limit": 100})).json()["events"]
        assert [(e["type"], e["data"]["member"]) for e in events] == [
            ("floor.requested", "l2"),
            ("floor.granted", "l2"),
            ("floor.revoked", "l2"),
            ("floor.granted", "l4"),
            ("floor.requested", "l1"),
            ("floor.revoked", "l4"),
            ("floor.granted", "l3"),
            ("floor.released", "l3"),
            ("floor.requested", "l3"),
            ("floor.granted", "l3"),
            ("floor.released", "l3"),
        ]


async def test_camera_briefing_forwards_the_camera_packets(tmp_path: Path, peers: Any) -> None:
    """A camera addresses the group: listeners get its own packets, nothing is encoded."""
    async with serve(_settings(tmp_path)) as rh:
        cam = rh.hub.cameras.get("cam-street")
        await poll(lambda: cam.relay.keyframe_group(), 60, "the camera's first keyframe")
        async with await api(rh, "dispatcher") as d, await api(rh, "l1") as l1:
            assert (await d.post("/api/briefings", json={"node": "g1", "camera": "nope"})).status_code == 404
            assert (await d.post("/api/briefings", json={"node": "nowhere"})).status_code == 404
            call = (await d.post("/api/briefings", json={"node": "g1", "camera": "cam-street"})).json()
            listener = peers(listener_slots("l1"))
            assert (await listener.connect(l1, f"/api/calls/{call['id']}/media")).status_code == 201
            await poll(lambda: listener.frames.get(2, 0) >= 10, 30, "camera frames at the listener")
            live = rh.hub.calls.calls[call["id"]]
            assert live.members["l1"].video_out.source is cam.relay
            assert all(m.video_in is None for m in live.members.values())  # no feed, no encoder
            assert (await d.post(f"/api/calls/{call['id']}/hangup")).json()["state"] == "ended"
            await poll(lambda: not [s for s in cam.relay.subscribers if s.name.startswith("call:")], 10, "released")


async def test_the_speakers_voice_is_encoded_once_for_all_listeners(
    tmp_path: Path, peers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every Opus encode in this process, per encoder: the hub's voices and every aiortc sender's
    # (the test's clients encode their own tones with aiortc, the hub's senders must not).
    encodes: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()

    def counted(cls: Any) -> None:
        real = cls.encode

        def encode(self: Any, frame: Any, *args: Any) -> Any:
            encodes[self] = encodes.get(self, 0) + 1
            return real(self, frame, *args)

        monkeypatch.setattr(cls, "encode", encode)

    counted(VoiceEncoder)
    counted(OpusEncoder)
    async with serve(_settings(tmp_path)) as rh:
        svc = rh.hub.calls
        clients = {u: await api(rh, u) for u in ["dispatcher", *LISTENERS]}
        r = await clients["dispatcher"].post("/api/briefings", json={"node": "g1"})
        assert r.status_code == 201, r.text
        cid = r.json()["id"]
        speaker = peers([("audio", "sendrecv", ToneTrack(TONE["dispatcher"])), ("video", "sendonly", BoxVideoTrack())])
        assert (await speaker.connect(clients["dispatcher"], f"/api/calls/{cid}/media")).status_code == 201
        listeners = {u: peers(listener_slots(u)) for u in LISTENERS}
        for u, p in listeners.items():
            assert (await p.connect(clients[u], f"/api/calls/{cid}/media")).status_code == 201
        await poll(
            lambda: all(near(p.heard_hz(0), TONE["dispatcher"]) for p in listeners.values()), 60, "all hear the speaker"
        )

        live = svc.calls[cid]
        voice = live.members["dispatcher"].audio_in
        assert voice is not None
        hub_encoders = [e for e in encodes if isinstance(e, VoiceEncoder)]
        heard0 = {u: p.frames[0] for u, p in listeners.items()}
        encoded0, read0, hub0 = voice.encoded, voice.frames, sum(encodes[e] for e in hub_encoders)
        await asyncio.sleep(WINDOW_S)
        encoded, read = voice.encoded - encoded0, voice.frames - read0
        # One encode per 20 ms frame of the speaker for the five listeners together, and no other
        # voice encoded (nobody holds the floor: the listeners' own voices are drained, not encoded).
        assert encoded >= 10 and abs(encoded - read) <= 2, (encoded, read)
        assert [e for e in encodes if isinstance(e, VoiceEncoder)] == hub_encoders == [voice._encoder]
        assert abs(sum(encodes[e] for e in hub_encoders) - hub0 - encoded) <= 1  # one may be in flight
        assert all(live.members[u].audio_in.encoded == 0 for u in LISTENERS)  # type: ignore[union-attr]
        # Every listener got that audio, and the hub's own senders only packetised it.
        assert all(p.frames[0] - heard0[u] >= encoded * 0.5 for u, p in listeners.items())
        sessions = [m.session for m in live.members.values() if m.session is not None]
        senders = [t.sender for s in sessions for t in s.pc.getTransceivers()]
        audio = [s._RTCRtpSender__encoder for s in senders if s.kind == "audio" and s.track is not None]
        assert len(audio) == 1 + 2 * len(LISTENERS)  # the speaker's, and two per listener
        assert all(encodes.get(e, 0) == 0 for e in audio if e is not None)
        print(
            f"\nbriefing to {len(LISTENERS)} listeners: {read} frames of the speaker in {WINDOW_S:.0f} s, "
            f"{encoded} Opus encodes for all of them, 0 in the hub's {len(audio)} audio senders"
        )
