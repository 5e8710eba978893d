"""Clips: remuxed from the pre-roll buffer to MP4, same packets, no re-encoding."""

from __future__ import annotations

import time
from pathlib import Path

import av
import pytest

from streams.clips import ClipError, PacketRing, remux
from streams.media import CodecInfo, Packet, iter_nals
from tests.conftest import wait_until
from tests.streams.conftest import ManagerFactory


def _nal_payloads(data: bytes) -> list[bytes]:
    return [data[s:e] for s, e in iter_nals(data)]


def _avcc_nals(data: bytes) -> list[bytes]:
    out, i = [], 0
    while i + 4 <= len(data):
        n = int.from_bytes(data[i : i + 4], "big")
        out.append(data[i + 4 : i + 4 + n])
        i += 4 + n
    return out


async def test_clip_contains_preroll_and_the_same_packets(make_manager: ManagerFactory, tmp_path: Path) -> None:
    m = await make_manager({"id": "c", "url": "synthetic://street", "preroll_s": 5, "analysis": {"enabled": False}})
    cam = m.get("c")
    assert cam is not None
    await wait_until(lambda: cam.ring.seconds >= 5, 20, "five seconds of pre-roll buffered")
    alert_at = time.time()
    source = {p.dts: p for p in cam.ring.select(alert_at - 3, alert_at + 1)}
    path = await cam.save_clip(tmp_path / "clips" / "alert.mp4", alert_at - 3, alert_at + 1)
    assert path.is_file()
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        assert (s.codec_context.name, s.width, s.height) == ("h264", 640, 360)
        packets = [p for p in c.demux(s) if p.size]
        duration = float((packets[-1].pts - packets[0].pts) * s.time_base)
        assert duration >= 3.5  # the pre-roll (from the keyframe before alert-3 s) and the second after
        assert packets[0].is_keyframe
        frames = sum(len(p.decode()) for p in packets)
    assert frames == len(packets)  # everything decodes
    # Same bytes as received: the muxer only swapped start codes for lengths (and moved SPS/PPS).
    received = [p for dts, p in sorted(source.items())]
    for got, sent in zip(packets[1:20], received[1:20], strict=False):
        assert _avcc_nals(bytes(got)) == _nal_payloads(sent.data)


def test_ring_keeps_whole_keyframe_groups_and_respects_bytes() -> None:
    codec = CodecInfo("h264", 320, 240)
    ring = PacketRing(preroll_s=2.0, max_bytes=10_000)
    t0 = 1000.0
    for i in range(100):  # 10 fps, keyframe every second, 100 bytes each
        ring.add(Packet(b"x" * 100, i, i, i % 10 == 0, t0 + i / 10, codec))
    assert 2.0 <= ring.seconds < 3.1
    assert ring.bytes == sum(p.size for p in ring.select(0, t0 + 100))
    sel = ring.select(t0 + 8.5, t0 + 9.0)
    assert sel[0].keyframe and sel[0].ts == t0 + 8.0 and sel[-1].ts <= t0 + 9.0
    small = PacketRing(preroll_s=60, max_bytes=1000)
    for i in range(100):
        small.add(Packet(b"x" * 100, i, i, i % 5 == 0, t0 + i / 10, codec))
    assert 0 < small.bytes <= 1000
    assert small.bytes == sum(p.size for p in small.select(0, t0 + 100))
    small.clear()
    assert small.bytes == 0 and small.select(0, t0 + 100) == []


def test_remux_refuses_empty_or_headless_input(tmp_path: Path) -> None:
    with pytest.raises(ClipError):
        remux([], tmp_path / "x.mp4")
    p = Packet(b"\x00\x00\x00\x01\x41", 0, 0, False, 0.0, CodecInfo("h264", 2, 2))
    with pytest.raises(ClipError):
        remux([p], tmp_path / "x.mp4")
