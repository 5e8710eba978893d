"""Video the hub produces: a peer's camera, decoded once and encoded once, fanned out as packets.

A dispatcher's video in a briefing, or either side's video in a call, arrives decoded from aiortc.
:class:`EncodedFeed` encodes it to H.264 **once**, in its own thread, into a
:class:`streams.relay.PacketRelay`; every receiver gets those packets through a
:class:`hub.calls.tracks.PassthroughTrack`, exactly like a camera. So ten listeners cost one
encoder, late joiners start at the cached keyframe group, and a wall can watch the feed by WHEP.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from streams.media import CLOCK_HZ, CodecInfo, Packet
from streams.relay import PacketRelay

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EncoderSettings:
    """How the hub encodes video it produces."""

    width: int
    """Output width in pixels (even)."""
    height: int
    """Output height in pixels (even)."""
    fps: float
    """Most frames per second encoded; faster input is thinned."""
    bitrate_bps: int
    """Target bitrate."""
    keyframe_interval_s: float
    """Spacing of keyframes, where late joiners start."""


class _H264:
    """libx264 for live video: constrained baseline, no B-frames, SPS/PPS before every keyframe."""

    def __init__(self, s: EncoderSettings) -> None:
        self.s = s
        self.codec = CodecInfo("h264", s.width, s.height, "Constrained Baseline", "yuv420p", fps=s.fps)
        ctx: Any = av.CodecContext.create("libx264", "w")
        ctx.width, ctx.height, ctx.pix_fmt = s.width, s.height, "yuv420p"
        ctx.time_base = Fraction(1, CLOCK_HZ)
        ctx.framerate = Fraction(round(s.fps * 1000), 1000)
        ctx.bit_rate = s.bitrate_bps
        keyint = max(1, round(s.fps * s.keyframe_interval_s))
        ctx.options = {
            "preset": "ultrafast",
            "tune": "zerolatency",
            "profile": "baseline",
            "x264-params": f"keyint={keyint}:min-keyint={keyint}:scenecut=0:bframes=0:repeat-headers=1",
        }
        self.ctx = ctx
        self.force_keyframe = False

    def encode(self, frame: av.VideoFrame, pts: int) -> list[tuple[bytes, bool]]:
        """Encode one frame (in the encoder thread); Annex B access units with keyframe flags."""
        if frame.width != self.s.width or frame.height != self.s.height or frame.format.name != "yuv420p":
            frame = frame.reformat(self.s.width, self.s.height, "yuv420p")
        frame.pts = pts
        frame.time_base = Fraction(1, CLOCK_HZ)
        if self.force_keyframe:
            frame.pict_type = av.video.frame.PictureType.I
            self.force_keyframe = False
        return [(bytes(p), bool(p.is_keyframe)) for p in self.ctx.encode(frame)]

    def close(self) -> None:
        """Free the encoder (in the encoder pool, never while it encodes)."""
        self.ctx = None


class EncodedFeed:
    """A peer's video track encoded once into a packet relay (two owned tasks; encodes in a shared pool)."""

    def __init__(
        self, name: str, track: MediaStreamTrack, settings: EncoderSettings, executor: ThreadPoolExecutor
    ) -> None:
        self.name = name
        self.relay = PacketRelay(name)
        self._track = track
        self._settings = settings
        self._latest: av.VideoFrame | None = None
        self._fresh = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._executor = executor
        self._encoder: _H264 | None = None
        self._inflight: Future[Any] | None = None
        self.received = 0
        """Frames decoded from the peer."""
        self.encoded = 0
        """Frames encoded (once, for every receiver)."""
        self.skipped = 0
        """Frames replaced before the encoder got to them (encoder busy or input too fast)."""

    def start(self) -> None:
        """Start reading and encoding (idempotent)."""
        if self._tasks:
            return
        self._tasks = [
            asyncio.create_task(self._read(), name=f"feed-read:{self.name}"),
            asyncio.create_task(self._encode(), name=f"feed-encode:{self.name}"),
        ]

    async def _read(self) -> None:
        # Drain the peer's track all the time (aiortc queues without bound); keep only the newest.
        try:
            while True:
                frame = await self._track.recv()
                self.received += 1
                if self._latest is not None:
                    self.skipped += 1
                self._latest = frame  # type: ignore[assignment]
                self._fresh.set()
        except MediaStreamError:
            log.debug("feed %s: the peer's video ended", self.name)

    async def _encode(self) -> None:
        t0 = time.monotonic()
        min_gap_s = 1.0 / self._settings.fps
        next_m = 0.0
        while True:
            await self._fresh.wait()
            self._fresh.clear()
            frame, self._latest = self._latest, None
            if frame is None:
                continue
            now = time.monotonic()
            if now < next_m:  # thin input above the configured rate
                self.skipped += 1
                continue
            next_m = max(next_m + min_gap_s, now - min_gap_s)
            if self._encoder is None:
                self._encoder = await self._run(_H264, self._settings)
            encoder = self._encoder
            pts = round((now - t0) * CLOCK_HZ)
            units = await self._run(encoder.encode, frame, pts)
            self.encoded += 1
            wall = time.time()
            for data, key in units:
                self.relay.publish(Packet(data, pts, pts, key, wall, encoder.codec))

    async def _run(self, fn: Any, *args: Any) -> Any:
        # One job of this feed at a time, and we remember it: when the task awaiting it is
        # cancelled the thread still finishes the job, and aclose() must wait for that before
        # freeing the encoder (libx264 is not safe to use from two threads at once).
        job = self._executor.submit(fn, *args)
        self._inflight = job
        return await asyncio.wrap_future(job)

    async def aclose(self) -> None:
        """Stop both tasks and free the encoder; end every receiver's subscription. Idempotent."""
        tasks, self._tasks = self._tasks, []
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        job, self._inflight = self._inflight, None
        if job is not None and not job.done():
            await asyncio.wrap_future(job)
        encoder, self._encoder = self._encoder, None
        if encoder is not None:
            await asyncio.wrap_future(self._executor.submit(encoder.close))
        self.relay.close()
        self._latest = None

    def stats(self) -> dict[str, Any]:
        """Figures for the call's state."""
        return {"received": self.received, "encoded": self.encoded, "skipped": self.skipped}
