"""A viewer's track across switches: what its bounded queue lets go is counted, and its timeline follows the clock."""

from __future__ import annotations

import pytest

from hub.calls import tracks
from hub.calls.tracks import PassthroughTrack
from streams.media import CodecInfo, Packet
from streams.relay import PacketRelay

H264 = CodecInfo("h264", 160, 120)


def burst(relay: PacketRelay, n: int) -> None:
    for i in range(n):
        relay.publish(Packet(b"\x00\x00\x00\x01\x41", i, i, i == 0, float(i), H264))


async def test_a_slow_viewer_s_losses_add_up_over_switches_and_stop() -> None:
    a, b = PacketRelay("a"), PacketRelay("b")
    track = PassthroughTrack(a, "viewer", queue_packets=4)
    burst(a, 10)  # nobody reads: six pushed out of a four-packet queue
    assert track.dropped == 6
    track.switch(b)  # the losses on the old source stay counted
    burst(b, 7)
    assert track.dropped == 6 + 3
    track.stop()
    assert track.dropped == 9


async def test_after_a_pause_the_timeline_moves_on_with_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """A viewer parked for 5 s, then switched to another camera: its next frame is stamped 5 s on
    (not a tick on, which a browser's jitter buffer would take for a frame 5 s late); within a
    source, frames keep their own spacing and the cached group still goes out squeezed."""
    clock = [100.0]
    monkeypatch.setattr(tracks.time, "monotonic", lambda: clock[0])
    a, b = PacketRelay("a"), PacketRelay("b")
    track = PassthroughTrack(a, "viewer")
    for i in range(3):  # 10 fps: 9,000 ticks apart
        a.publish(Packet(b"\x00\x00\x00\x01\x41", i * 9000, i * 9000, i == 0, float(i), H264))
    stamps = []
    for _ in range(3):
        stamps.append((await track.recv()).pts)
        clock[0] += 0.1
    assert stamps == [0, 9000, 18000]
    track.switch(None)  # parked
    clock[0] += 5.0
    track.switch(b)
    b.publish(Packet(b"\x00\x00\x00\x01\x65", 777, 777, True, 0.0, H264))
    b.publish(Packet(b"\x00\x00\x00\x01\x41", 9777, 9777, False, 0.1, H264))
    first = (await track.recv()).pts
    assert first == 18000 + round(5.1 * 90_000)
    second = (await track.recv()).pts
    assert second - first == 9000
    track.stop()


async def test_shared_packing_sends_what_aiortc_s_own_packer_sends() -> None:
    """A viewer whose sender packs through the hub's SharedPacketizer gets the same RTP payloads
    and timestamps as one packed by aiortc's H.264 encoder, and the second such viewer of a frame
    reuses the first one's payloads."""
    from aiortc.codecs.h264 import H264Encoder

    from hub.calls.tracks import SharedPacketizer

    relay = PacketRelay("cam")
    own, shared1, shared2 = (PassthroughTrack(relay, f"viewer{i}") for i in range(3))
    shared1.restamped_only = shared2.restamped_only = True
    big = b"\x00\x00\x00\x01\x65" + bytes(range(256)) * 12  # more than one RTP packet: FU-A fragments
    relay.publish(Packet(b"\x00\x00\x00\x01\x67\x42\x00\x1e\x00\x00\x00\x01\x68\xce" + big, 0, 0, True, 0.0, H264))
    relay.publish(Packet(b"\x00\x00\x00\x01\x41" + bytes(300), 9000, 9000, False, 0.1, H264))
    packer, theirs = SharedPacketizer(), H264Encoder()
    for _ in range(2):
        expected = theirs.pack(await own.recv())
        assert packer.pack(await shared1.recv()) == expected
        assert packer.pack(await shared2.recv()) == expected
    assert len(expected[0]) == 1 and expected[1] == 9000
    assert packer.packed == 2 and packer.reused == 2
    for t in (own, shared1, shared2):
        t.stop()
