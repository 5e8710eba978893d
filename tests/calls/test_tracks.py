"""What a viewer's bounded queue lets go is counted, across every source it forwards."""

from __future__ import annotations

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
