"""A camera whose video is pushed to the hub (WHIP) instead of pulled by a reader thread.

A field worker's phone or a body camera publishes H.264 over WebRTC; viewers get it as it came.
It is decoded only when its analysis is configured: then a thread of its own decodes every access
unit and keeps the frames the analysis rate asks for (see :class:`AnalysisDecoder`). Each complete
access unit, as the publisher's packetiser cut it, goes into the same
:class:`~streams.relay.PacketRelay` and clip ring as a pulled camera's packets, so viewers
(passthrough), snapshots (decoded from the cached keyframe), clips and the camera's health work
exactly as for any camera. What differs is only where packets come from and when the camera ends:
it goes ``offline`` when its publisher stops, with the reason.

The codec parameters (size, profile, chroma format) are read from the stream's own SPS, on the
event loop: a few dozen bits, no decoder.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import av

from streams.bridge import BridgePump
from streams.camera import CameraStream
from streams.config import SourceConfig
from streams.media import START_CODE, CameraState, CodecInfo, Frame, Packet, iter_nals
from streams.snapshot import converted
from streams.supervisor import EmitFn
from streams.workpool import MediaPools

log = logging.getLogger(__name__)

NAL_IDR = 5
NAL_SPS = 7
NAL_PPS = 8
HIGH_PROFILES = frozenset({100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135})
"""``profile_idc`` values whose SPS carries chroma format and bit depth (H.264 7.3.2.1.1)."""
PROFILE_NAMES = {66: "Baseline", 77: "Main", 88: "Extended", 100: "High", 110: "High 10", 122: "High 4:2:2"}
PIX_FMTS = {0: "gray", 1: "yuv420p", 2: "yuv422p", 3: "yuv444p"}


class _Bits:
    """Reads an RBSP bit by bit (exp-Golomb codes included)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def u(self, n: int) -> int:
        value = 0
        for _ in range(n):
            byte = self.pos >> 3
            if byte >= len(self.data):
                raise ValueError("SPS ends early")
            value = (value << 1) | ((self.data[byte] >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return value

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("bad exp-Golomb code in SPS")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)


def _rbsp(nal: bytes) -> bytes:
    """The NAL unit's payload without emulation-prevention bytes (``00 00 03`` → ``00 00``)."""
    return nal.replace(b"\x00\x00\x03", b"\x00\x00")


def sps_codec(sps: bytes) -> CodecInfo:
    """Codec parameters from an H.264 SPS NAL unit (header byte included); ValueError if unreadable."""
    b = _Bits(_rbsp(sps[1:]))
    profile_idc = b.u(8)
    constraints = b.u(8)
    b.u(8)  # level_idc
    b.ue()  # seq_parameter_set_id
    chroma, depth = 1, 8
    if profile_idc in HIGH_PROFILES:
        chroma = b.ue()
        if chroma == 3:
            b.u(1)  # separate_colour_plane_flag
        depth = b.ue() + 8
        b.ue()  # bit_depth_chroma_minus8
        b.u(1)  # qpprime_y_zero_transform_bypass_flag
        if b.u(1):  # seq_scaling_matrix_present_flag
            for i in range(8 if chroma != 3 else 12):
                if b.u(1):
                    last = nxt = 8
                    for _ in range(16 if i < 6 else 64):
                        if nxt:
                            nxt = (last + b.se() + 256) % 256
                        last = nxt or last
    b.ue()  # log2_max_frame_num_minus4
    poc_type = b.ue()
    if poc_type == 0:
        b.ue()
    elif poc_type == 1:
        b.u(1)
        b.se()
        b.se()
        for _ in range(b.ue()):
            b.se()
    b.ue()  # max_num_ref_frames
    b.u(1)  # gaps_in_frame_num_value_allowed_flag
    width = (b.ue() + 1) * 16
    map_units = b.ue() + 1
    frame_mbs_only = b.u(1)
    if not frame_mbs_only:
        b.u(1)  # mb_adaptive_frame_field_flag
    b.u(1)  # direct_8x8_inference_flag
    height = (2 - frame_mbs_only) * map_units * 16
    if b.u(1):  # frame_cropping_flag
        left, right, top, bottom = b.ue(), b.ue(), b.ue(), b.ue()
        unit_x = 1 if chroma in (0, 3) else 2
        unit_y = (2 if chroma == 1 else 1) * (2 - frame_mbs_only)
        width -= unit_x * (left + right)
        height -= unit_y * (top + bottom)
    if width <= 0 or height <= 0:
        raise ValueError(f"SPS gives a {width}x{height} picture")
    profile = PROFILE_NAMES.get(profile_idc, f"profile {profile_idc}")
    if profile_idc == 66 and constraints & 0x40:
        profile = "Constrained Baseline"
    pix_fmt = PIX_FMTS.get(chroma, "yuv420p")
    if depth > 8 and chroma:
        pix_fmt += f"{depth}le"
    return CodecInfo("h264", width, height, profile, pix_fmt)


DECODE_QUEUE_UNITS = 90
"""Access units waiting for the analysis decoder (3 s at 30 fps); when full, units are dropped,
counted, and decoding starts again at the next keyframe (a decoder fed after a gap shows garbage)."""


class AnalysisDecoder:
    """Decodes a published camera's access units in a thread and hands the analysis rate's frames,
    small and grey, to the event loop. :meth:`feed` never blocks: a full queue drops (counted)."""

    def __init__(self, camera_id: str, fps: float, size: tuple[int, int], deliver: Callable[[Frame], None]) -> None:
        self.camera_id = camera_id
        self.interval_s = 1.0 / fps
        self.size = size
        self.dropped = 0
        """Access units not decoded: the queue was full, or waiting for a keyframe after that."""
        self.errors = 0
        """Access units the decoder refused (damaged)."""
        self._deliver = deliver
        self._loop = asyncio.get_running_loop()
        self._queue: queue.Queue[tuple[bytes, float, bool] | None] = queue.Queue(DECODE_QUEUE_UNITS)
        self._need_key = True
        self._thread = threading.Thread(target=self._run, name=f"decode-{camera_id}", daemon=True)
        self._thread.start()

    def feed(self, data: bytes, ts: float, keyframe: bool) -> None:
        """One access unit (event loop)."""
        if self._need_key and not keyframe:
            self.dropped += 1
            return
        try:
            self._queue.put_nowait((data, ts, keyframe))
            self._need_key = False
        except queue.Full:
            self.dropped += 1
            self._need_key = True

    def close(self) -> None:
        """Stop the thread (it ends after what it is decoding now; what waits is dropped)."""
        while True:
            try:
                self._queue.put_nowait(None)
                return
            except queue.Full:
                with contextlib.suppress(queue.Empty):
                    self._queue.get_nowait()

    def _run(self) -> None:
        codec = av.CodecContext.create("h264", "r")
        w, h = self.size
        next_at = 0.0
        seq = 0
        while (item := self._queue.get()) is not None:
            data, ts, _keyframe = item
            try:
                frames = codec.decode(av.Packet(data))
            except av.FFmpegError:
                self.errors += 1
                continue
            for frame in frames:
                if ts < next_at - self.interval_s / 4:
                    continue
                next_at = max(next_at + self.interval_s, ts - self.interval_s)
                gray = converted(frame, width=w, height=h, format="gray").to_ndarray()
                seq += 1
                try:
                    self._loop.call_soon_threadsafe(self._deliver, Frame(gray, ts, seq))
                except RuntimeError:  # the loop is closed: the hub is stopping
                    return


class PublishedCamera(CameraStream):
    """A camera fed by a publisher: :meth:`begin` when one connects, :meth:`push` each access unit
    (event loop), :meth:`end` with the reason when it stops.

    Between publishers it stays registered, ``offline`` with the last reason, and the next
    publisher of the same name carries on as the same camera.
    """

    def __init__(
        self,
        config: SourceConfig,
        emit: EmitFn,
        data_dir: Path,
        pump: BridgePump | None = None,
        pools: MediaPools | None = None,
    ) -> None:
        super().__init__(config, emit, data_dir, pump, pools)
        self.publisher: str | None = None
        """Who publishes now (a username or a device id), None between publishers."""
        self.publishes = 0
        """Publishers so far."""
        self.units = 0
        """Access units received in all."""
        self.skipped = 0
        """Access units dropped while waiting for a keyframe (a join, or no SPS known yet)."""
        self.last_unit_m: float | None = None
        """When the newest access unit arrived (monotonic)."""
        self.last_keyframe_m: float | None = None
        """When the newest keyframe arrived (monotonic)."""
        self.decode_dropped = 0
        """Access units the analysis decoder dropped, over past publishers (see :class:`AnalysisDecoder`)."""
        self._params: dict[int, bytes] = {}
        self._first = True
        self._begun_m = 0.0
        self._decoder: AnalysisDecoder | None = None

    async def start(self) -> None:
        """Start the state events and the stall watchdog (no reader thread: packets are pushed)."""
        if self._started:
            return
        self._started = True
        self.supervisor.reason = "waiting for a publisher"
        self.supervisor.start()

    async def stop(self) -> None:
        """End viewers' subscriptions and frame slots and flush state events (idempotent)."""
        if not self._started:
            return
        self._started = False
        self._stop_decoder()
        self.relay.close()
        for slot in list(self._slots):
            slot.close()
        await self.supervisor.stop()
        if self._own_pools:
            self.pools.shutdown()

    def begin(self, publisher: str, config: SourceConfig | None = None) -> None:
        """A publisher connected (its video follows); ``config`` updates where the camera stands."""
        if config is not None:
            self.config = config
        self.publisher = publisher
        self.publishes += 1
        self._first = True
        self._params = {}
        self._last_key_pts = None
        self._begun_m = time.monotonic()
        self.last_unit_m = None
        self.last_keyframe_m = None
        self.ring.clear()  # a new timeline: a clip never spans two publishers
        self.supervisor.set_state(CameraState.STARTING, f"{publisher} is connecting")
        self._stop_decoder()
        a = self.config.analysis
        if a.enabled:
            self._decoder = AnalysisDecoder(self.id, a.fps, (a.width, a.height), self._on_frame)

    def end(self, reason: str) -> None:
        """The publisher stopped: viewers' subscriptions end and the camera goes offline with ``reason``."""
        if self.publisher is None:
            return
        log.info("camera %s: publisher %s stopped: %s", self.id, self.publisher, reason)
        self.publisher = None
        self._stop_decoder()
        self.relay.gap()
        self.relay.close()
        self.supervisor.set_state(CameraState.OFFLINE, reason)

    def _stop_decoder(self) -> None:
        decoder, self._decoder = self._decoder, None
        if decoder is not None:
            self.decode_dropped += decoder.dropped
            decoder.close()

    def silent_s(self) -> float:
        """Seconds since the newest access unit (or since the publisher connected, before the first)."""
        last = self.last_unit_m if self.last_unit_m is not None else self._begun_m
        return time.monotonic() - last

    def push(self, data: bytes, timestamp: int) -> bool:
        """One H.264 access unit (Annex B) at ``timestamp`` (90 kHz, from the publisher's RTP);
        returns whether it was a keyframe. Event loop only."""
        if self.publisher is None:
            return False
        now_m = time.monotonic()
        self.units += 1
        self.last_unit_m = now_m
        keyframe = False
        for start, end in iter_nals(data):
            kind = data[start] & 0x1F
            if kind == NAL_IDR:
                keyframe = True
            elif kind in (NAL_SPS, NAL_PPS):
                nal = data[start:end]
                if kind == NAL_SPS and nal != self._params.get(NAL_SPS):
                    self._new_sps(nal)
                self._params[kind] = nal
        if keyframe:
            self.last_keyframe_m = now_m
        codec = self.codec
        if self._first and (not keyframe or codec is None or NAL_PPS not in self._params):
            self.skipped += 1  # a viewer or a clip can only start at a keyframe with its parameter sets
            return keyframe
        assert codec is not None
        if keyframe and not any(data[s] & 0x1F == NAL_SPS for s, _ in iter_nals(data)):
            # New viewers start at the cached keyframe: it must carry the parameter sets itself.
            data = START_CODE + self._params[NAL_SPS] + START_CODE + self._params[NAL_PPS] + data
        packet = Packet(data, timestamp, timestamp, keyframe, time.time(), codec, discontinuity=self._first)
        if self._first:
            self._first = False
            self._on_connected(codec)
        self._on_packet(packet)
        if self._decoder is not None:
            self._decoder.feed(data, packet.ts, keyframe)
        self._packets.roll(now_m)
        self._frames.roll(now_m)
        self.supervisor.alive(packet.ts)
        return keyframe

    def _new_sps(self, sps: bytes) -> None:
        try:
            info = sps_codec(sps)
        except (ValueError, IndexError) as exc:
            log.warning("camera %s: unreadable SPS from %s: %s", self.id, self.publisher, exc)
            return
        codec = replace(info, extradata=START_CODE + sps)
        old = self.codec
        self.codec = codec
        if old is not None and not self._first and (old.width, old.height) != (codec.width, codec.height):
            self.ring.clear()  # a clip cannot mix resolutions
            log.info("camera %s: %s changed resolution to %dx%d", self.id, self.publisher, codec.width, codec.height)

    def health(self) -> dict[str, Any]:
        """The camera's figures, with ``source`` ``whip`` and who publishes."""
        dropped = self.decode_dropped + (self._decoder.dropped if self._decoder is not None else 0)
        return {**super().health(), "source": "whip", "publisher": self.publisher, "decode_dropped": dropped}
