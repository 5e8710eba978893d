"""Peer lifecycle: a vanished viewer is released when its consent runs out, a quiet one is kept;
100 calls leave nothing behind."""

from __future__ import annotations

import asyncio
import ctypes
import gc
import os
import signal
import sys
import threading
import time
import weakref
from pathlib import Path
from typing import Any

import pytest
from aiortc import RTCPeerConnection

from hub.calls.feeds import EncodedFeed
from hub.calls.ice import CONSENT_EXPIRY_S, CONSENT_INTERVAL, CONSENT_ROUND_MAX_S
from hub.calls.sessions import CLOSE_TIMEOUT_S, COLLECT_AFTER_S
from hub.calls.tracks import AudioFanout, AudioSwitch, PassthroughTrack
from streams.relay import PacketRelay
from tests.calls.conftest import BoxVideoTrack, Peer, ToneTrack, api, calls_settings, poll
from tests.conftest import REPO
from tests.hub.conftest import serve

RECEIVER = REPO / "scripts" / "webrtc_receiver.py"


async def test_vanished_viewer_is_released_when_its_consent_runs_out(tmp_path: Path) -> None:
    # A receive-only viewer's quiet is not a sign of anything (see the next test); consent is. The
    # hub's real rule: calls.consent_expiry_s (RFC 7675's 30 s by default; a third of it here, so
    # the test does not wait half a minute) without an answer to retransmitted consent checks.
    assert calls_settings(tmp_path).calls.consent_expiry_s == CONSENT_EXPIRY_S == 30.0
    expiry_s = CONSENT_EXPIRY_S / 3
    async with serve(calls_settings(tmp_path, calls={"consent_expiry_s": expiry_s})) as rh:
        cam = rh.hub.cameras.get("cam-street")
        sessions = rh.hub.calls.sessions
        reasons: list[str] = []
        sessions.on_release.append(lambda s: reasons.append(s.reason or ""))
        await poll(lambda: cam.relay.keyframe_group(), 60, "the camera's first keyframe")
        token = await rh.token("dispatcher")
        cmd = [sys.executable, str(RECEIVER), "--hub", rh.url, "--token", token, "--source", "cam-street"]
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
        try:
            await poll(lambda: [s for s in sessions.all() if s.connected_m is not None], 30, "the viewer connected")
            await poll(lambda: cam.relay.subscribers and cam.relay.subscribers[0].delivered > 20, 30, "packets flowing")
        finally:
            # No DTLS close, no DELETE: the process is simply gone, like a phone losing its network.
            proc.send_signal(signal.SIGKILL)
            await asyncio.wait_for(proc.wait(), 10)
        t0 = time.monotonic()
        bound_s = expiry_s + CONSENT_ROUND_MAX_S + CLOSE_TIMEOUT_S
        await poll(lambda: len(sessions) == 0, bound_s + 5, "the vanished viewer released", period_s=0.1)
        released_after_s = time.monotonic() - t0
        # Consent was answered until the kill, so it expires no sooner than the expiry after the
        # last answer (at most one check interval before the kill) and no later than the bound.
        assert expiry_s - 1.2 * CONSENT_INTERVAL <= released_after_s <= bound_s, released_after_s
        # Consent lost: aioice closes the ICE connection, which ends DTLS too.
        assert len(reasons) == 1 and "ICE failed" in reasons[0], reasons
        assert cam.relay.subscribers == []
        assert sessions.vanished == 1


async def test_a_viewer_that_sends_nothing_keeps_watching(tmp_path: Path, peers: Any) -> None:
    # A receive-only player sends only RTCP, as seldom as it likes (RFC 3550's default interval is
    # 5 s, GStreamer's webrtcbin uses it); this one sends none at all, only ICE consent answers.
    async with serve(calls_settings(tmp_path)) as rh:
        cam = rh.hub.cameras.get("cam-street")
        sessions = rh.hub.calls.sessions
        await poll(lambda: cam.relay.keyframe_group(), 60, "the camera's first keyframe")
        viewer = peers([("video", "recvonly", None)])

        async def no_rtcp(packet: Any) -> None:
            return None

        viewer.transceivers[0].receiver._send_rtcp = no_rtcp
        async with await api(rh, "dispatcher") as c:
            r = await viewer.connect(c, "/whep/cam-street")
            assert r.status_code == 201, r.text
            await poll(lambda: viewer.frames.get(0, 0) >= 5, 30, "the first frames")
            (session,) = sessions.all()
            heard = session.received_packets()  # the DTLS handshake, nothing since
            quiet_s = 4 * rh.hub.calls.config.peer_timeout_s
            await asyncio.sleep(quiet_s)
            assert session.received_packets() == heard, "the viewer was not silent: this test proves nothing"
            frames = viewer.frames[0]
            await poll(lambda: viewer.frames[0] > frames + 5, 10, "frames still arriving")
            assert sessions.all() == [session] and sessions.vanished == 0
            assert (await c.delete(r.headers["location"])).status_code == 204


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _rss_mb() -> float:
    # Give freed heap back first, so what is left is memory still in use (not allocator slack).
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _own_threads() -> list[str]:
    # Threads our code starts (encoders) — the loop's default executor is a fixed-size pool.
    return sorted(
        t.name for t in threading.enumerate() if not t.name.startswith(("asyncio_", "ThreadPoolExecutor", "hub-encode"))
    )


@pytest.mark.timeout(600)
async def test_100_call_cycles_leave_nothing_behind(tmp_path: Path, call_page: Any) -> None:
    async with serve(calls_settings(tmp_path, cameras=[])) as rh:
        svc = rh.hub.calls
        await call_page(rh, "worker1")
        async with await api(rh, "dispatcher") as d, await api(rh, "worker1") as w:

            async def cycle() -> None:
                call = (await d.post("/api/calls", json={"to": "worker1"})).json()
                caller = Peer([("audio", "sendrecv", ToneTrack(440)), ("video", "sendrecv", BoxVideoTrack())])
                callee = Peer([("audio", "sendrecv", ToneTrack(880)), ("video", "sendrecv", BoxVideoTrack())])
                assert (await caller.connect(d, f"/api/calls/{call['id']}/media")).status_code == 201
                assert (await callee.connect(w, f"/api/calls/{call['id']}/media")).status_code == 201
                live = svc.calls[call["id"]]
                await poll(
                    lambda: all(m.video_in is not None and m.video_in.encoded > 0 for m in live.members.values()),
                    30,
                    "both videos encoded by the hub",
                    period_s=0.02,
                )
                assert (await d.post(f"/api/calls/{call['id']}/hangup")).status_code == 200
                await caller.close()
                await callee.close()
                await poll(lambda: len(svc.sessions) == 0, 10, "sessions released", period_s=0.02)

            async def settle() -> tuple[int, list[str], int, float]:
                await asyncio.sleep(0.5)
                gc.collect()
                return len(asyncio.all_tasks()), _own_threads(), _fds(), _rss_mb()

            def alive() -> dict[str, int]:
                gc.collect()
                kinds = (RTCPeerConnection, PassthroughTrack, AudioSwitch, AudioFanout, EncodedFeed, PacketRelay)
                return {k.__name__: sum(isinstance(o, k) for o in gc.get_objects()) for k in kinds}

            for _ in range(3):  # warm-up: codec libraries, executor threads, caches
                await cycle()
            tasks0, threads0, fds0, rss0 = await settle()
            objects0 = alive()
            for i in range(100):
                await cycle()
                if os.environ.get("SKYHUB_LEAK_TRACE") and i % 20 == 19:
                    print(f"cycle {i + 1}: rss {_rss_mb():.0f} MB, tasks {len(asyncio.all_tasks())}, fds {_fds()}")
            tasks1, threads1, fds1, rss1 = await settle()
            objects = alive()
    # Hub and test peers alike: peer connections, tracks, feeds and relays do not pile up
    # (at most the last call's may still be referenced from a finished frame or log record).
    assert all(objects[k] <= max(objects0[k], 1) for k in objects), (objects0, objects)
    assert tasks1 <= tasks0, f"tasks {tasks0} -> {tasks1}"
    assert threads1 == threads0, f"threads {threads0} -> {threads1}"
    assert fds1 <= fds0 + 2, f"file descriptors {fds0} -> {fds1}"
    assert rss1 - rss0 < 40, f"memory grew {rss1 - rss0:.1f} MB over 100 calls ({rss0:.0f} -> {rss1:.0f} MB)"
    assert svc.sessions.released >= 2 * 103
    print(f"100 calls: tasks {tasks0}->{tasks1}, fds {fds0}->{fds1}, rss {rss0:.0f}->{rss1:.0f} MB")


async def test_a_closed_peer_connection_is_freed_without_waiting_for_pythons_collector(
    tmp_path: Path, call_page: Any
) -> None:
    """aiortc's objects refer to each other in cycles: a closed call's peer connections, with their
    native DTLS, SRTP and codec state, are freed only by a full collection, which in a big process
    comes rarely. With Python's automatic collection off, the registry's own collection after the
    sessions closed must still free them."""
    async with serve(calls_settings(tmp_path, cameras=[])) as rh:
        svc = rh.hub.calls
        hub_pcs: list[weakref.ref[RTCPeerConnection]] = []
        svc.sessions.on_release.append(lambda s: hub_pcs.append(weakref.ref(s.pc)))
        await call_page(rh, "worker1")
        automatic = gc.isenabled()
        gc.disable()
        try:
            async with await api(rh, "dispatcher") as d, await api(rh, "worker1") as w:
                call = (await d.post("/api/calls", json={"to": "worker1"})).json()
                caller = Peer([("audio", "sendrecv", ToneTrack(440)), ("video", "sendrecv", BoxVideoTrack())])
                callee = Peer([("audio", "sendrecv", ToneTrack(880)), ("video", "sendrecv", BoxVideoTrack())])
                assert (await caller.connect(d, f"/api/calls/{call['id']}/media")).status_code == 201
                assert (await callee.connect(w, f"/api/calls/{call['id']}/media")).status_code == 201
                await poll(lambda: caller.frames.get(1, 0) >= 5 and callee.frames.get(1, 0) >= 5, 30, "video")
                assert (await d.post(f"/api/calls/{call['id']}/hangup")).status_code == 200
                await caller.close()
                await callee.close()
                await poll(lambda: len(hub_pcs) == 2 and len(svc.sessions) == 0, 10, "sessions released")
                collections = svc.sessions.collections
                await poll(
                    lambda: all(ref() is None for ref in hub_pcs),
                    COLLECT_AFTER_S + 10,
                    lambda: f"{sum(ref() is not None for ref in hub_pcs)} of 2 closed peer connections still alive",
                )
                assert svc.sessions.collections > collections
        finally:
            if automatic:
                gc.enable()


async def test_shutdown_releases_live_calls_and_viewers(tmp_path: Path, peers: Any, call_page: Any) -> None:
    async with serve(calls_settings(tmp_path)) as rh:
        svc = rh.hub.calls
        await poll(lambda: rh.hub.cameras.get("cam-street").relay.keyframe_group(), 60, "keyframe")
        await call_page(rh, "worker1")
        async with await api(rh, "dispatcher") as d:
            viewer = peers([("video", "recvonly", None)])
            assert (await viewer.connect(d, "/whep/cam-street")).status_code == 201
            call = (await d.post("/api/calls", json={"to": "worker1"})).json()
            caller = peers([("audio", "sendrecv", ToneTrack(440)), ("video", "sendrecv", BoxVideoTrack())])
            assert (await caller.connect(d, f"/api/calls/{call['id']}/media")).status_code == 201
            await poll(lambda: viewer.frames.get(0, 0) > 0, 30, "the viewer's first frame")
            await poll(lambda: svc.calls[call["id"]].members["dispatcher"].video_in is not None, 30, "the feed")
    # The hub stopped with a viewer and a ringing call up: nothing of them is left running.
    assert len(svc.sessions) == 0 and svc.encode_pool is None and not svc.calls
    assert svc.ended[call["id"]].ended_reason == "hub shutting down"
    names = [t.get_name() for t in asyncio.all_tasks()]
    assert not [n for n in names if n.startswith(("feed-", "audio:", "close-session", "peer-sessions"))], names
    assert not [t.name for t in threading.enumerate() if t.name.startswith("hub-encode")]
