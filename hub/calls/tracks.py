"""Tracks the hub sends: encoded video passed through as it is, and switchable audio.

:class:`PassthroughTrack` hands aiortc ``av.Packet`` objects (H.264, Annex B, integer pts on a
90 kHz time base); aiortc's H.264 codec only packetises them (``pack()``), it never re-encodes.
Its source is a :class:`streams.relay.PacketRelay` — a camera's, or the one fed by video the hub
encoded once (:mod:`hub.calls.feeds`) — and can be switched without renegotiation.

:class:`AudioSwitch` sends 20 ms audio frames from whichever :class:`AudioFanout` it is switched to,
and silence when none: how the floor holder's voice reaches a briefing and nobody else's does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from fractions import Fraction
from typing import Any

import av
from aiortc import MediaStreamTrack
from aiortc.codecs.h264 import H264Encoder
from aiortc.mediastreams import VIDEO_TIME_BASE, MediaStreamError, convert_timebase

from streams.media import TIME_BASE, Packet
from streams.relay import PacketRelay, PacketSubscription, SubscriptionClosed

log = logging.getLogger(__name__)

MAX_FRAME_GAP = 90_000
"""Largest step of the outgoing timeline between two frames (1 s at 90 kHz): bridges pauses."""
KEYFRAME_REPLAY_MIN_INTERVAL_S = 1.0
"""At most one replay of the cached keyframe group per second, however often a viewer asks."""
AUDIO_RATE = 48_000
AUDIO_SAMPLES = 960
"""One 20 ms Opus frame at 48 kHz."""
AUDIO_PTIME_S = AUDIO_SAMPLES / AUDIO_RATE
AUDIO_QUEUE_FRAMES = 6
"""Per-listener audio queue (120 ms): drop-oldest, so a stall never turns into lasting delay."""


class PassthroughTrack(MediaStreamTrack):
    """A video track that forwards encoded H.264 packets from a relay (no decoding, no encoding).

    A new source starts at its cached keyframe group; those packets, already old, go out at once
    with timestamps squeezed together, so the picture appears immediately and the browser does not
    add their age as playout delay. A keyframe request (PLI/FIR) replays the cached group the same
    way instead of waiting for the camera's next keyframe.

    When the source itself ends (a camera stops or moves to another hub node, a call feed closes),
    a track made with ``ends_with_source`` ends too (``readyState`` "ended", the "ended" event), so
    whoever owns the peer connection can release it; otherwise it sends nothing until switched.
    """

    kind = "video"

    def __init__(
        self, source: PacketRelay | None, name: str, queue_packets: int = 240, ends_with_source: bool = False
    ) -> None:
        super().__init__()
        self.name = name
        self._queue_packets = queue_packets
        self._ends_with_source = ends_with_source
        self.source_ended = False
        """The source ended while this track forwarded it (only ``ends_with_source`` tracks keep this)."""
        self._source: PacketRelay | None = None
        self._sub: PacketSubscription | None = None
        self._switched = asyncio.Event()
        self._replay: deque[Packet] = deque()
        self._catchup = 0
        self._last_out: int | None = None
        self._prev_dts = 0
        self._last_replay_m = float("-inf")
        self.sent = 0
        """Packets handed to aiortc."""
        self.keyframe_requests = 0
        """PLI/FIR received from the viewer."""
        self.replays = 0
        """Times the cached keyframe group was replayed for this viewer."""
        self.skipped = 0
        """Packets not sent because they were not H.264."""
        self._dropped_before = 0
        self.switch(source)

    @property
    def source(self) -> PacketRelay | None:
        """The relay being forwarded, if any."""
        return self._source

    def check_source(self) -> bool:
        """Whether the source ended; notices it even before aiortc reads (the connection may still be
        setting up), ending the track as :meth:`recv` would."""
        sub = self._sub
        if sub is not None and sub.closed:  # we set _sub to None whenever we close it ourselves
            self._source_gone(sub)
        return self.source_ended

    def _source_gone(self, sub: PacketSubscription) -> None:
        if sub is not self._sub:
            return
        self._leave(sub)
        self._sub = None
        self._source = None
        if self._ends_with_source and self.readyState == "live":
            log.info("track %s: its source ended", self.name)
            self.source_ended = True
            self.stop()

    @property
    def dropped(self) -> int:
        """Packets lost because this viewer was slow, over every source it has forwarded."""
        return self._dropped_before + (self._sub.dropped if self._sub is not None else 0)

    def _leave(self, sub: PacketSubscription) -> None:
        """Close ``sub`` (idempotent), keeping the count of what it dropped."""
        self._dropped_before += sub.dropped
        sub.close()

    def switch(self, source: PacketRelay | None) -> None:
        """Forward ``source`` from its cached keyframe group on (``None``: send nothing)."""
        if source is self._source and (source is None or self._sub is not None):
            return
        if self._sub is not None:
            self._leave(self._sub)
            self._sub = None
        self._replay.clear()
        self._source = source
        if source is not None and self.readyState == "live":
            self._sub = source.subscribe(self._queue_packets, self.name)
            self._catchup = self._sub.qsize()
        self._switched.set()

    def request_keyframe(self) -> None:
        """The viewer lost the picture: replay the cached keyframe group (rate-limited)."""
        self.keyframe_requests += 1
        now = time.monotonic()
        if self._source is None or self._sub is None or now - self._last_replay_m < KEYFRAME_REPLAY_MIN_INTERVAL_S:
            return
        gop = self._source.keyframe_group()
        if not gop:
            return  # nothing cached: the next keyframe is on its way anyway
        self._last_replay_m = now
        self.replays += 1
        try:
            while self._sub.get_nowait() is not None:  # the group holds these too
                pass
        except SubscriptionClosed:
            return
        self._catchup = 0
        self._replay = deque(gop)

    async def _next(self) -> tuple[Packet, bool]:
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            if self._replay:
                return self._replay.popleft(), True
            sub = self._sub
            if sub is None:
                self._switched.clear()
                await self._switched.wait()
                continue
            try:
                packet = await sub.get()  # switch() and stop() close it, which wakes this up
            except SubscriptionClosed:
                self._source_gone(sub)  # unless switched meanwhile: the source itself ended
                continue
            if sub is not self._sub:
                continue  # switched meanwhile
            squeeze = self._catchup > 0
            if squeeze:
                self._catchup -= 1
            return packet, squeeze

    async def recv(self) -> av.Packet:
        """The next packet, re-stamped onto this viewer's own continuous timeline."""
        while True:
            packet, squeeze = await self._next()
            if packet.codec.codec != "h264":
                self.skipped += 1
                continue
            if self._last_out is None:
                out = 0
            elif squeeze:
                out = self._last_out + 1
            else:
                out = self._last_out + min(max(packet.dts - self._prev_dts, 1), MAX_FRAME_GAP)
            self._prev_dts = packet.dts
            self._last_out = out
            av_packet = av.Packet(packet.data)
            # B-frames keep their reordering offset; browser cameras rarely send any.
            av_packet.pts = out + max(0, packet.pts - packet.dts)
            av_packet.dts = out
            av_packet.time_base = TIME_BASE
            av_packet.opaque = packet  # lets SharedPacketizer reuse the payloads made for others
            self.sent += 1
            return av_packet

    def stop(self) -> None:
        """End the track and its relay subscription (idempotent)."""
        if self._sub is not None:
            self._leave(self._sub)
            self._sub = None
        self._source = None
        self._replay.clear()
        self._switched.set()
        super().stop()


class SharedPacketizer:
    """Stands in for aiortc's H.264 encoder on passthrough senders: packetises once for everyone.

    The RTP payloads (FU-A fragments, STAP-A aggregates) of a relay packet are the same for every
    viewer; only the RTP header and the encryption differ. aiortc's own H.264 encoder would split
    and fragment the same access unit again for each viewer. This one does it for the first viewer
    and hands the others the same payload list; the timestamp is still each viewer's own.
    """

    def __init__(self, cache_packets: int = 256) -> None:
        self._cache: OrderedDict[int, tuple[Packet, list[bytes]]] = OrderedDict()
        self._max = cache_packets
        self.packed = 0
        """Access units packetised."""
        self.reused = 0
        """Times a packetisation was reused for another viewer."""

    def pack(self, av_packet: av.Packet) -> tuple[list[bytes], int]:
        """(RTP payloads, RTP timestamp) for one access unit, as aiortc's ``Encoder.pack``."""
        source: Any = av_packet.opaque
        hit = self._cache.get(id(source)) if source is not None else None
        if hit is not None and hit[0] is source:
            payloads = hit[1]
            self.reused += 1
        else:
            payloads = H264Encoder._packetize(H264Encoder._split_bitstream(bytes(av_packet)))
            self.packed += 1
            if source is not None:
                # Holding the packet keeps its id from being reused while it is a cache key.
                self._cache[id(source)] = (source, payloads)
                if len(self._cache) > self._max:
                    self._cache.popitem(last=False)
        assert av_packet.pts is not None and av_packet.time_base is not None
        return payloads, convert_timebase(av_packet.pts, av_packet.time_base, VIDEO_TIME_BASE)

    def encode(self, frame: object, force_keyframe: bool = False) -> tuple[list[bytes], int]:
        """Passthrough senders never get decoded frames."""
        raise TypeError("a passthrough sender got a decoded frame")


class AudioFanout:
    """Reads a peer's audio track continuously and hands each frame to every subscribed switch.

    Always draining the remote track matters: aiortc queues received frames without bound, so a
    voice nobody listens to (a listener without the floor) would otherwise grow memory.
    """

    def __init__(self, track: MediaStreamTrack, name: str) -> None:
        self.name = name
        self._track = track
        self._queues: list[deque[av.AudioFrame]] = []
        self._task: asyncio.Task[None] | None = None
        self.frames = 0
        """Frames read from the peer."""
        self.dropped = 0
        """Frames a subscriber's full queue pushed out."""

    def start(self) -> None:
        """Start reading (idempotent)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"audio:{self.name}")

    async def _run(self) -> None:
        try:
            while True:
                frame = await self._track.recv()
                if not isinstance(frame, av.AudioFrame):
                    continue
                self.frames += 1
                for q in self._queues:
                    if len(q) == q.maxlen:
                        self.dropped += 1
                    q.append(frame)
        except MediaStreamError:
            log.debug("audio %s: the peer's track ended", self.name)

    def subscribe(self) -> deque[av.AudioFrame]:
        """A bounded drop-oldest queue of this voice's frames."""
        q: deque[av.AudioFrame] = deque(maxlen=AUDIO_QUEUE_FRAMES)
        self._queues.append(q)
        return q

    def unsubscribe(self, q: deque[av.AudioFrame]) -> None:
        """Stop filling ``q``."""
        if q in self._queues:
            self._queues.remove(q)

    async def aclose(self) -> None:
        """Stop reading (idempotent)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._queues.clear()


def _silence() -> av.AudioFrame:
    frame = av.AudioFrame(format="s16", layout="stereo", samples=AUDIO_SAMPLES)
    for plane in frame.planes:
        plane.update(bytes(plane.buffer_size))
    frame.sample_rate = AUDIO_RATE
    return frame


class AudioSwitch(MediaStreamTrack):
    """An audio track paced at 20 ms that plays the voice it is switched to, or silence."""

    kind = "audio"

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self._source: AudioFanout | None = None
        self._queue: deque[av.AudioFrame] | None = None
        self._samples = 0
        self._start_m: float | None = None
        self.voiced = 0
        """Frames sent that carried a voice (not silence)."""

    @property
    def source(self) -> AudioFanout | None:
        """The voice being played, if any."""
        return self._source

    def switch(self, source: AudioFanout | None) -> None:
        """Play ``source`` from now on (``None``: silence)."""
        if source is self._source:
            return
        if self._source is not None and self._queue is not None:
            self._source.unsubscribe(self._queue)
        self._source = source
        self._queue = source.subscribe() if source is not None else None

    async def recv(self) -> av.AudioFrame:
        """The next 20 ms of audio, on time."""
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._start_m is None:
            self._start_m = now
        else:
            due = self._start_m + (self._samples + AUDIO_SAMPLES) / AUDIO_RATE
            if due - now > 0:
                await asyncio.sleep(due - now)
            elif now - due > 0.5:  # the loop stalled: restart the clock rather than burst
                self._start_m = now - (self._samples + AUDIO_SAMPLES) / AUDIO_RATE
            self._samples += AUDIO_SAMPLES
        voice = self._queue.popleft() if self._queue else None
        if voice is not None and voice.samples == AUDIO_SAMPLES and voice.sample_rate == AUDIO_RATE:
            # A copy: the same decoded frame goes to several listeners, each encoding in a thread.
            frame = av.AudioFrame.from_ndarray(voice.to_ndarray(), format=voice.format.name, layout=voice.layout.name)
            frame.sample_rate = AUDIO_RATE
            self.voiced += 1
        else:
            frame = _silence()
        frame.pts = self._samples
        frame.time_base = Fraction(1, AUDIO_RATE)
        return frame

    def stop(self) -> None:
        """End the track (idempotent)."""
        self.switch(None)
        super().stop()
