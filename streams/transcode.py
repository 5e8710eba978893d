"""One shared H.264 transcode of a camera whose own video browsers cannot play (H.265).

A :class:`Transcoder` takes the camera's packets from its relay (a subscription of its own, named
``transcode``), decodes them and encodes H.264 with libx264 (ultrafast, zerolatency, constrained
baseline, no B-frames, SPS/PPS before every keyframe) in a thread of its own, and publishes the
result into another relay that every browser viewer of the camera shares: one encode per camera,
however many watch. Pictures wider than :data:`MAX_WIDTH` are scaled down to it first.

The queue into the thread is bounded (:data:`QUEUE_PACKETS`): when the thread falls behind, new
packets are dropped (counted in :attr:`Transcoder.dropped`) until the next keyframe, so the delay
never grows; the relay subscription drops the same way when the loop side falls behind.
:class:`TranscodeBudget` caps how many run at once in the hub.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from dataclasses import replace
from fractions import Fraction
from typing import Any

import av

from streams.media import CLOCK_HZ, TIME_BASE, CodecInfo, Packet, parameter_sets
from streams.relay import PacketRelay, PacketSubscription, SubscriptionClosed

log = logging.getLogger(__name__)

QUEUE_PACKETS = 50
"""Packets waiting for the transcode thread (two seconds of a 25 fps camera); newer ones are dropped."""
MAX_WIDTH = 1280
"""Wider pictures are scaled down to this (and the height in proportion) before encoding."""
BITS_PER_PIXEL_FRAME = 0.09
"""Target bitrate per pixel and frame (about 2 Mbit/s at 720p, 25 fps)."""
KEYFRAME_INTERVAL_S = 2.0
"""Keyframe spacing of the H.264: where a new viewer starts."""
JOIN_TIMEOUT_S = 2.0
DEFAULT_MAX_TRANSCODES = 2


class TranscodeBudget:
    """How many transcodes may run at once in the hub (event loop only)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        """The most at once (``gb28181.max_transcodes``)."""
        self.running: set[str] = set()
        """Cameras being transcoded now."""
        self.refused = 0
        """Viewers who got no transcode because the limit was reached."""

    def available(self, camera_id: str) -> bool:
        """Whether ``camera_id`` has, or could have, a transcode now."""
        return camera_id in self.running or len(self.running) < self.limit

    def take(self, camera_id: str) -> bool:
        """Count a transcode for ``camera_id``; False past the limit (whoever refuses a viewer for
        it counts that in :attr:`refused`)."""
        if not self.available(camera_id):
            return False
        self.running.add(camera_id)
        return True

    def give(self, camera_id: str) -> None:
        """The camera's transcode ended."""
        self.running.discard(camera_id)

    def refusal(self) -> str:
        """Why a viewer gets no transcode, in words."""
        return f"the hub's limit of {self.limit} H.264 transcodes at once is reached (gb28181.max_transcodes)"


def _encoder(width: int, height: int, fps: float) -> Any:
    ctx: Any = av.CodecContext.create("libx264", "w")
    ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
    ctx.time_base = Fraction(1, CLOCK_HZ)
    ctx.framerate = Fraction(round(fps * 1000), 1000)
    ctx.bit_rate = int(width * height * fps * BITS_PER_PIXEL_FRAME)
    ctx.thread_count = 1
    keyint = max(1, round(fps * KEYFRAME_INTERVAL_S))
    ctx.options = {
        "preset": "ultrafast",
        "tune": "zerolatency",
        "profile": "baseline",
        "x264-params": f"keyint={keyint}:min-keyint={keyint}:scenecut=0:bframes=0:repeat-headers=1",
    }
    return ctx


class Transcoder:
    """Decodes a relay's packets and publishes them as H.264 into ``out`` (start/stop on the loop)."""

    def __init__(self, camera_id: str, source: PacketRelay, out: PacketRelay) -> None:
        self.camera_id = camera_id
        self._source = source
        self.out = out
        self._queue: queue.Queue[Packet | None] = queue.Queue(QUEUE_PACKETS)
        self._sub: PacketSubscription | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self._done: asyncio.Future[None] | None = None
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._need_keyframe = True
        self.codec: CodecInfo | None = None
        """The H.264 made, once the first frame is encoded."""
        self.frames_in = 0
        """Pictures decoded."""
        self.frames_out = 0
        """Pictures encoded."""
        self.dropped = 0
        """Packets dropped because the thread was behind (then up to the next keyframe)."""
        self.errors = 0
        """Packets that could not be decoded."""
        self.cpu_s = 0.0
        """CPU time the thread has used (decoding, scaling, encoding)."""
        self.started_at = 0.0
        """Monotonic time it started."""

    @property
    def skipped(self) -> int:
        """Packets lost before the thread: its queue's drops and the relay subscription's."""
        return self.dropped + (self._sub.dropped if self._sub is not None else 0)

    def start(self) -> None:
        """Subscribe to the source and start the thread (on the event loop)."""
        if self._task is not None:
            return
        loop = asyncio.get_running_loop()
        self._loop = loop
        self.started_at = time.monotonic()
        self._sub = self._source.subscribe(QUEUE_PACKETS * 2, "transcode")
        self._done = loop.create_future()
        self._thread = threading.Thread(target=self._main, name=f"transcode-{self.camera_id}", daemon=True)
        self._thread.start()
        self._task = asyncio.create_task(self._feed(self._sub), name=f"transcode-feed-{self.camera_id}")
        log.info("camera %s: H.264 transcode started for browser viewers", self.camera_id)

    async def stop(self) -> None:
        """Stop feeding, end the thread (bounded wait) and unsubscribe (idempotent)."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        if self._sub is not None:
            self._sub.close()
        self._stop.set()
        try:
            self._queue.put_nowait(None)  # wakes the thread at once
        except queue.Full:
            pass
        if self._done is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._done), JOIN_TIMEOUT_S)
            except TimeoutError:
                log.warning("camera %s: transcode thread did not stop within %.1f s", self.camera_id, JOIN_TIMEOUT_S)
        log.info(
            "camera %s: H.264 transcode stopped (%d frames, %.1f s of CPU, %d packets dropped)",
            self.camera_id,
            self.frames_out,
            self.cpu_s,
            self.skipped,
        )

    async def _feed(self, sub: PacketSubscription) -> None:
        try:
            async for packet in sub:
                if self._need_keyframe and not packet.keyframe:
                    continue
                try:
                    self._queue.put_nowait(packet)
                    self._need_keyframe = False
                except queue.Full:
                    self.dropped += 1
                    self._need_keyframe = True
                    if self.dropped in (1, 100) or self.dropped % 1000 == 0:
                        log.warning("camera %s: transcode behind, %d packets dropped", self.camera_id, self.dropped)
        except SubscriptionClosed:
            pass

    # -- the thread ------------------------------------------------------------------------------

    def _main(self) -> None:
        cpu0 = time.thread_time()
        try:
            self._run()
        except Exception:  # a library error ends the transcode; viewers see the stream stop
            log.exception("camera %s: transcode failed", self.camera_id)
        finally:
            self.cpu_s = time.thread_time() - cpu0
            loop, done = self._loop, self._done
            if loop is not None and done is not None:
                try:
                    loop.call_soon_threadsafe(_resolve, done)
                except RuntimeError:  # the loop is closed
                    pass

    def _run(self) -> None:
        decoder: Any = None
        encoder: Any = None
        size = (0, 0)
        cpu0 = time.thread_time()
        while not self._stop.is_set():
            try:
                packet = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            if packet is None:
                break
            if decoder is None or decoder.name != packet.codec.codec:
                decoder = av.CodecContext.create(packet.codec.codec, "r")
                decoder.thread_count = 1
            raw = av.Packet(packet.data)
            raw.pts, raw.dts, raw.time_base = packet.pts, packet.dts, TIME_BASE
            try:
                frames = decoder.decode(raw)
            except av.error.FFmpegError:
                self.errors += 1
                continue
            out: list[Packet] = []
            for frame in frames:
                self.frames_in += 1
                width, height = frame.width, frame.height
                if width > MAX_WIDTH:
                    width, height = MAX_WIDTH, round(height * MAX_WIDTH / width / 2) * 2
                if encoder is None or (width, height) != size:
                    size = (width, height)
                    encoder = _encoder(width, height, packet.codec.fps or 25.0)
                    self.codec = CodecInfo(
                        "h264", width, height, "Constrained Baseline", "yuv420p", fps=packet.codec.fps
                    )
                if (frame.width, frame.height) != size or frame.format.name != "yuv420p":
                    frame = frame.reformat(width, height, "yuv420p")
                pts = frame.pts if frame.pts is not None else packet.pts
                frame.pts, frame.time_base = pts, TIME_BASE
                frame.pict_type = av.video.frame.PictureType.NONE
                for p in encoder.encode(frame):
                    out.append(self._packet(bytes(p), p, packet))
                self.frames_out += 1
            if out:
                self._post(out)
            self.cpu_s = time.thread_time() - cpu0

    def _packet(self, data: bytes, p: Any, source: Packet) -> Packet:
        codec = self.codec
        assert codec is not None
        keyframe = bool(p.is_keyframe)
        if keyframe:
            params = parameter_sets("h264", data)
            if params and params != codec.extradata:
                codec = self.codec = replace(codec, extradata=params)
        pts = p.pts if p.pts is not None else source.pts
        dts = p.dts if p.dts is not None else pts
        return Packet(data, pts, dts, keyframe, source.ts, codec, source.discontinuity)

    def _post(self, packets: list[Packet]) -> None:
        loop = self._loop
        if loop is None:
            return
        try:
            loop.call_soon_threadsafe(self._publish, packets)
        except RuntimeError:  # the loop is closed
            self._stop.set()

    def _publish(self, packets: list[Packet]) -> None:
        if self._task is None:
            return  # stopped meanwhile
        for packet in packets:
            self.out.publish(packet)

    def stats(self) -> dict[str, Any]:
        """Figures for the camera's health."""
        running_s = max(1e-6, time.monotonic() - self.started_at)
        return {
            "frames": self.frames_out,
            "dropped": self.skipped,
            "errors": self.errors,
            "cpu_s": round(self.cpu_s, 3),
            "cpu_share": round(self.cpu_s / running_s, 4),
        }


def _resolve(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_result(None)
