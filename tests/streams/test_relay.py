"""Packet relay: keyframe start, bounded queues, slow viewers drop until a keyframe."""

from __future__ import annotations

import time

from streams.media import CodecInfo, Packet, parameter_sets
from streams.relay import PacketRelay
from tests.conftest import wait_until
from tests.streams.conftest import ManagerFactory

CODEC = CodecInfo("h264", 320, 240, extradata=b"\x00\x00\x00\x01gSPS\x00\x00\x00\x01hPPS")


def _stream(relay: PacketRelay, n: int, gop: int = 10, start: int = 0) -> list[Packet]:
    out = []
    for i in range(start, start + n):
        p = Packet(bytes([i % 256]) * 100, i * 3600, i * 3600, i % gop == 0, time.time(), CODEC)
        relay.publish(p)
        out.append(p)
    return out


def test_new_subscriber_starts_at_cached_keyframe_group() -> None:
    relay = PacketRelay("c")
    sent = _stream(relay, 25)  # keyframes at 0, 10, 20
    sub = relay.subscribe()
    got = [sub.get_nowait() for _ in range(sub.qsize())]
    assert got == sent[20:]
    assert got[0] is not None and got[0].keyframe
    assert sub.codec is CODEC
    assert sub.dropped == 0


def test_subscriber_without_cache_waits_for_keyframe_without_counting_drops() -> None:
    relay = PacketRelay("c")
    _stream(relay, 5, start=1)  # no keyframe yet
    sub = relay.subscribe()
    _stream(relay, 5, start=6)  # 6..10: keyframe at 10
    got = [sub.get_nowait() for _ in range(sub.qsize())]
    assert [p.pts // 3600 for p in got if p] == [10]
    assert sub.dropped == 0


def test_slow_subscriber_drops_until_keyframe_others_unaffected() -> None:
    relay = PacketRelay("c")
    fast = relay.subscribe(maxsize=8, name="fast")
    slow = relay.subscribe(maxsize=8, name="slow")
    received = []
    for i in range(100):
        p = Packet(b"x" * 100, i, i, i % 10 == 0, time.time(), CODEC)
        relay.publish(p)
        while (q := fast.get_nowait()) is not None:  # the fast one keeps up
            received.append(q)
        assert slow.qsize() <= slow.maxsize  # memory stays bounded
    assert len(received) == 100 and fast.dropped == 0
    assert slow.dropped > 0
    # After its drops, the slow one resumes exactly at a keyframe, with nothing missing after it.
    backlog = [slow.get_nowait() for _ in range(slow.qsize())]
    seq = [p.pts for p in backlog if p]
    assert seq[0] % 10 == 0 and seq == list(range(seq[0], seq[0] + len(seq)))
    assert slow.dropped + len(seq) == 100
    assert slow.stats()["dropped"] == slow.dropped
    assert relay.dropped_total() == slow.dropped


def test_gap_makes_everyone_wait_for_keyframe_and_close_ends_iteration() -> None:
    relay = PacketRelay("c")
    sub = relay.subscribe()
    _stream(relay, 3)
    relay.gap()
    _stream(relay, 12, start=3)  # 3..14, keyframe at 10
    pts = [p.pts // 3600 for p in (sub.get_nowait() for _ in range(sub.qsize())) if p]
    assert pts == [0, 1, 2, 10, 11, 12, 13, 14]
    assert sub.dropped == 0
    relay.close()
    assert relay.subscribers == []


async def test_real_camera_subscriber_gets_sps_pps_first(make_manager: ManagerFactory) -> None:
    m = await make_manager({"id": "s", "url": "synthetic://plaza", "analysis": {"enabled": False}})
    cam = m.get("s")
    assert cam is not None
    await wait_until(lambda: cam.state == "online", 15, "online")
    a = cam.subscribe(name="a")
    first = await a.get()
    assert first.keyframe
    assert first.data.startswith(b"\x00\x00\x00\x01")  # Annex B
    assert parameter_sets("h264", first.data)  # SPS/PPS travel with the keyframe
    b = cam.subscribe(maxsize=4, name="b")  # never read: must not hold up "a"
    for _ in range(40):
        await a.get()
    assert b.qsize() <= 4
    assert a.dropped == 0
    await wait_until(lambda: b.dropped > 0, 10, "slow viewer drops")
    health = cam.health()  # no await since reading b.dropped: the figures are of one moment
    assert health["viewers"] == 2 and health["viewer_drops"] == a.dropped + b.dropped == b.dropped
    assert {q["name"]: q["dropped"] for q in health["viewer_queues"]} == {"a": 0, "b": b.dropped}
    lost = b.dropped
    cam.unsubscribe(b)  # a viewer that left still counts in the total: it never goes down
    assert cam.health()["viewers"] == 1 and cam.health()["viewer_drops"] == lost
