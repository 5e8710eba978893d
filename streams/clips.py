"""Clip buffers: the last seconds of a camera's packets, and remuxing them to MP4.

:class:`PacketRing` keeps whole keyframe groups covering at least the pre-roll, bounded in
bytes, so an alert can save video from before it started. :func:`remux` writes packets to an
MP4 as they are: no decoding, no re-encoding.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections import deque
from fractions import Fraction
from pathlib import Path

import av

from streams.media import TIME_BASE, Packet

log = logging.getLogger(__name__)


class ClipError(Exception):
    """A clip could not be made (no packets for the period, say)."""


class PacketRing:
    """Recent packets in whole keyframe groups: at least ``preroll_s`` seconds, at most ``max_bytes``."""

    def __init__(self, preroll_s: float, max_bytes: int) -> None:
        self.preroll_s = preroll_s
        self.max_bytes = max_bytes
        self._gops: deque[list[Packet]] = deque()
        self._gop_bytes: deque[int] = deque()
        """Bytes of each group in ``_gops`` (so dropping one does not walk its packets)."""
        self.bytes = 0
        """Bytes held now."""
        self.trimmed = 0
        """Packets dropped early to respect ``max_bytes``."""

    def add(self, packet: Packet) -> None:
        """Append a packet; old keyframe groups go once the newer ones cover the pre-roll."""
        gops = self._gops
        size = len(packet.data)
        if packet.keyframe:
            gops.append([packet])
            self._gop_bytes.append(size)
        elif gops:
            gops[-1].append(packet)
            self._gop_bytes[-1] += size
        else:
            return  # no keyframe yet: nothing decodable to keep
        self.bytes += size
        # The second group starting before (newest - preroll) means the first is not needed.
        while len(gops) > 1 and gops[1][0].ts <= packet.ts - self.preroll_s:
            self._drop_first()
        while self.bytes > self.max_bytes and gops:
            if len(gops) == 1:  # one group alone is too big: keep nothing rather than a broken group
                self.trimmed += len(gops[0])
            self._drop_first()

    def _drop_first(self) -> None:
        self._gops.popleft()
        self.bytes -= self._gop_bytes.popleft()

    def clear(self) -> None:
        """Forget everything (the stream's parameters changed)."""
        self._gops.clear()
        self._gop_bytes.clear()
        self.bytes = 0

    @property
    def seconds(self) -> float:
        """Time span held, by arrival time."""
        if not self._gops:
            return 0.0
        return self._gops[-1][-1].ts - self._gops[0][0].ts

    def select(self, start_ts: float, end_ts: float) -> list[Packet]:
        """Packets from the last keyframe at or before ``start_ts`` (or the oldest held) to ``end_ts``."""
        gops = list(self._gops)
        first = 0
        for i, gop in enumerate(gops):
            if gop[0].ts <= start_ts:
                first = i
        return [p for gop in gops[first:] for p in gop if p.ts <= end_ts]


def remux(packets: list[Packet], path: Path) -> Path:
    """Write ``packets`` (starting at a keyframe, one codec) to ``path`` without re-encoding.

    Blocking: run it in a thread. The file appears atomically (written aside, then renamed).
    """
    if not packets:
        raise ClipError("no video in the requested period")
    if not packets[0].keyframe:
        raise ClipError("a clip must start at a keyframe")
    codec = packets[0].codec
    packets = [p for p in packets if (p.codec.width, p.codec.height) == (codec.width, codec.height)]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    fmt = "mov" if path.suffix.lower() == ".mov" else "mp4"
    base = packets[0].dts
    try:
        with av.open(tmp, "w", format=fmt) as out:
            rate = Fraction(round(codec.fps * 1000), 1000) if codec.fps else None
            stream = out.add_mux_stream(codec.codec, rate=rate, width=codec.width, height=codec.height)
            stream.time_base = TIME_BASE
            for p in packets:
                ap = av.Packet(p.data)
                ap.stream = stream
                ap.time_base = TIME_BASE
                ap.dts = p.dts - base
                ap.pts = max(p.pts - base, ap.dts)
                ap.is_keyframe = p.keyframe
                out.mux(ap)
        os.replace(tmp, path)
    except av.error.FFmpegError as exc:
        raise ClipError(f"the clip could not be written: {exc}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
