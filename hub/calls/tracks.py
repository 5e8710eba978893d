"""Tracks the hub sends: encoded video passed through as it is, and switchable audio.

:class:`PassthroughTrack` hands aiortc ``av.Packet`` objects (H.264, Annex B, integer pts on a
90 kHz time base); aiortc's H.264 codec only packetises them (``pack()``), it never re-encodes.
Its source is a :class:`streams.relay.PacketRelay` — a camera's, or the one fed by video the hub
encoded once (:mod:`hub.calls.feeds`) — and can be switched without renegotiation.

:class:`AudioSwitch` sends 20 ms of Opus from whichever :class:`AudioFanout` it is switched to,
and silence when none: how the floor holder's voice reaches a briefing and nobody else's does.
A voice is encoded **once**, by its fanout, for every listener together (only while somebody
listens); each listener's sender only packetises (aiortc's ``Encoder.pack``), so a briefing to N
listeners costs one Opus encode per 20 ms per voice heard, not N.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import av
from aiortc import MediaStreamTrack
from aiortc.codecs.h264 import H264Encoder
from aiortc.mediastreams import VIDEO_TIME_BASE, MediaStreamError, convert_timebase

from streams.media import CLOCK_HZ, TIME_BASE, Packet
from streams.relay import PacketRelay, PacketSubscription, SubscriptionClosed

log = logging.getLogger(__name__)

MAX_FRAME_GAP = 90_000
"""Largest step of the outgoing timeline between two frames (1 s at 90 kHz): bridges pauses."""
MAX_RESUME_GAP = 600 * 90_000
"""Largest step across a switch (10 minutes): the timeline follows the clock while nothing is sent."""
KEYFRAME_REPLAY_MIN_INTERVAL_S = 1.0
"""At most one replay of the cached keyframe group per second, however often a viewer asks."""
AUDIO_RATE = 48_000
AUDIO_SAMPLES = 960
"""One 20 ms Opus frame at 48 kHz."""
AUDIO_PTIME_S = AUDIO_SAMPLES / AUDIO_RATE
AUDIO_QUEUE_FRAMES = 6
"""Per-listener audio queue (120 ms): drop-oldest, so a stall never turns into lasting delay."""
VOICE_LATE_S = 0.5
"""How long a listener's track waits for a voice's late packet before it plays silence instead."""
AUDIO_BITRATE_BPS = 96_000
"""Opus bitrate of a voice (aiortc's own encoder uses the same)."""
AUDIO_TIME_BASE = Fraction(1, AUDIO_RATE)
assert TIME_BASE == VIDEO_TIME_BASE, "relay timestamps go out as RTP timestamps unconverted"


@dataclass(slots=True)
class Restamped:
    """A relay packet on one viewer's timeline (90 kHz), as a :class:`SharedPacketizer` takes it:
    no ``av.Packet`` with its own copy of the bytes for every viewer of every frame."""

    packet: Packet
    pts: int


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
        self,
        source: PacketRelay | None,
        name: str,
        queue_packets: int = 240,
        ends_with_source: bool = False,
        fallback: Callable[[], PacketRelay | None] | None = None,
    ) -> None:
        """``fallback``: where to go when the source's packets turn out not to be H.264 (a camera's
        H.264 view); it may answer None (none to be had), which ends the track."""
        super().__init__()
        self.name = name
        self._fallback = fallback
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
        self._last_out_m = 0.0
        self._resume = False
        self._prev_dts = 0
        self._last_replay_m = float("-inf")
        self.restamped_only = False
        """``recv`` gives :class:`Restamped` packets: set when its sender packs through a
        :class:`SharedPacketizer` (else aiortc's own H.264 packer wants ``av.Packet``)."""
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

    def watch(self, source: PacketRelay, fallback: Callable[[], PacketRelay | None] | None) -> None:
        """Forward another camera: ``source`` from its cached keyframe group on, with ``fallback`` as
        the constructor takes it (where to go should its packets not be H.264)."""
        self._fallback = fallback
        self.switch(source)

    def switch(self, source: PacketRelay | None) -> None:
        """Forward ``source`` from its cached keyframe group on (``None``: send nothing)."""
        if source is self._source and (source is None or self._sub is not None):
            return
        if self._sub is not None:
            self._leave(self._sub)
            self._sub = None
        self._replay.clear()
        self._source = source
        self._resume = True
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

    async def recv(self) -> av.Packet | Restamped:  # type: ignore[override]
        """The next packet, re-stamped onto this viewer's own continuous timeline."""
        while True:
            packet, squeeze = await self._next()
            if packet.codec.codec != "h264":
                fallback, self._fallback = self._fallback, None
                if fallback is not None:
                    relay = fallback()
                    if relay is None:  # no H.264 to be had: this viewer gets nothing
                        log.info(
                            "track %s: its source is %s and no H.264 of it can be had", self.name, packet.codec.codec
                        )
                        self.source_ended = self._ends_with_source
                        self.stop()
                        raise MediaStreamError
                    log.info("track %s: its source is %s; switching to its H.264", self.name, packet.codec.codec)
                    self.switch(relay)
                    continue
                self.skipped += 1
                continue
            now = time.monotonic()
            if self._last_out is None:
                out = 0
            elif self._resume:
                # The first packet after a switch (a parked viewer's new camera, the floor's next
                # speaker): the timeline has moved on with the clock meanwhile, as a camera's does,
                # so the viewer's jitter buffer does not take the new frames for seconds late.
                out = self._last_out + min(max(round((now - self._last_out_m) * CLOCK_HZ), 1), MAX_RESUME_GAP)
            elif squeeze:
                out = self._last_out + 1
            else:
                out = self._last_out + min(max(packet.dts - self._prev_dts, 1), MAX_FRAME_GAP)
            self._resume = False
            self._prev_dts = packet.dts
            self._last_out = out
            self._last_out_m = now
            # B-frames keep their reordering offset; browser cameras rarely send any.
            pts = out + max(0, packet.pts - packet.dts)
            self.sent += 1
            if self.restamped_only:
                return Restamped(packet, pts)
            av_packet = av.Packet(packet.data)
            av_packet.pts = pts
            av_packet.dts = out
            av_packet.time_base = TIME_BASE
            av_packet.opaque = packet  # lets SharedPacketizer reuse the payloads made for others
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

    def pack(self, av_packet: av.Packet | Restamped) -> tuple[list[bytes], int]:
        """(RTP payloads, RTP timestamp) for one access unit, as aiortc's ``Encoder.pack``."""
        if isinstance(av_packet, Restamped):
            source: Any = av_packet.packet
            timestamp = av_packet.pts  # already on the 90 kHz RTP clock
        else:
            source = av_packet.opaque
            assert av_packet.pts is not None and av_packet.time_base is not None
            timestamp = convert_timebase(av_packet.pts, av_packet.time_base, VIDEO_TIME_BASE)
        hit = self._cache.get(id(source)) if source is not None else None
        if hit is not None and hit[0] is source:
            payloads = hit[1]
            self.reused += 1
        else:
            data = source.data if isinstance(av_packet, Restamped) else bytes(av_packet)
            payloads = H264Encoder._packetize(H264Encoder._split_bitstream(data))
            self.packed += 1
            if source is not None:
                # Holding the packet keeps its id from being reused while it is a cache key.
                self._cache[id(source)] = (source, payloads)
                if len(self._cache) > self._max:
                    self._cache.popitem(last=False)
        return payloads, timestamp

    def encode(self, frame: object, force_keyframe: bool = False) -> tuple[list[bytes], int]:
        """Passthrough senders never get decoded frames."""
        raise TypeError("a passthrough sender got a decoded frame")


class VoiceEncoder:
    """One libopus encoder: audio frames of any size, rate or layout in, 20 ms Opus packets out.

    Set up as aiortc's ``OpusEncoder`` (s16 stereo, 48 kHz, VoIP), so listeners decode the same
    stream they did when aiortc encoded it per listener. Not thread-safe: one caller at a time.
    """

    def __init__(self) -> None:
        self.codec: Any = av.CodecContext.create("libopus", "w")
        self.codec.bit_rate = AUDIO_BITRATE_BPS
        self.codec.format = "s16"
        self.codec.layout = "stereo"
        self.codec.options = {"application": "voip"}
        self.codec.sample_rate = AUDIO_RATE
        self.codec.time_base = AUDIO_TIME_BASE
        self._resampler = av.AudioResampler(format="s16", layout="stereo", rate=AUDIO_RATE, frame_size=AUDIO_SAMPLES)
        self._pts = 0

    def encode(self, frame: av.AudioFrame) -> list[bytes]:
        """The Opus packets ``frame`` completes (usually one; none while the encoder fills up)."""
        out: list[bytes] = []
        for chunk in self._resampler.resample(frame):
            chunk.pts = self._pts  # our own timeline: a peer's timestamps may jump or repeat
            chunk.time_base = AUDIO_TIME_BASE
            self._pts += chunk.samples
            out += [bytes(p) for p in self.codec.encode(chunk)]
        return out


@functools.cache
def silence_payload() -> bytes:
    """20 ms of silence as Opus, encoded once per process and sent wherever no voice plays."""
    encoder = VoiceEncoder()
    packets: list[bytes] = []
    for _ in range(4):  # past the encoder's start-up: a packet of its steady state
        packets += encoder.encode(_silence())
    return packets[-1]


class VoiceSubscription:
    """One listener's bounded drop-oldest queue of a voice's Opus packets, and a wake-up when more come.

    Compared by identity: two listeners' queues often hold the same packets, and unsubscribing one
    must never take the other's place (``deque`` compares by contents).
    """

    __slots__ = ("packets", "arrived")

    def __init__(self) -> None:
        self.packets: deque[bytes] = deque(maxlen=AUDIO_QUEUE_FRAMES)
        self.arrived = asyncio.Event()


class AudioFanout:
    """Reads a peer's audio track continuously; while anyone listens, encodes each frame once and
    hands the Opus packet to every subscribed switch.

    Always draining the remote track matters: aiortc queues received frames without bound, so a
    voice nobody listens to (a listener without the floor) would otherwise grow memory. Such a
    voice is drained and not encoded.
    """

    def __init__(self, track: MediaStreamTrack, name: str, executor: Executor | None = None) -> None:
        self.name = name
        self._track = track
        self._executor = executor
        self._encoder: VoiceEncoder | None = None
        self._subs: list[VoiceSubscription] = []
        self._task: asyncio.Task[None] | None = None
        self.frames = 0
        """Frames read from the peer."""
        self.encoded = 0
        """Opus packets encoded: one per 20 ms for all listeners together."""
        self.dropped = 0
        """Packets a subscriber's full queue pushed out."""

    def start(self) -> None:
        """Start reading (idempotent)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"audio:{self.name}")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                frame = await self._track.recv()
                if not isinstance(frame, av.AudioFrame):
                    continue
                self.frames += 1
                if not self._subs:
                    self._encoder = None  # a voice heard again starts a fresh stream
                    continue
                if self._encoder is None:
                    self._encoder = VoiceEncoder()
                # In a thread: the event loop never encodes. One at a time, in order.
                packets = await loop.run_in_executor(self._executor, self._encoder.encode, frame)
                for payload in packets:
                    self.encoded += 1
                    for sub in self._subs:
                        if len(sub.packets) == sub.packets.maxlen:
                            self.dropped += 1
                        sub.packets.append(payload)
                for sub in self._subs:
                    sub.arrived.set()
        except MediaStreamError:
            log.debug("audio %s: the peer's track ended", self.name)

    def subscribe(self) -> VoiceSubscription:
        """A bounded drop-oldest queue of this voice's Opus packets."""
        sub = VoiceSubscription()
        self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: VoiceSubscription) -> None:
        """Stop filling ``sub`` (and only it)."""
        self._subs = [s for s in self._subs if s is not sub]

    async def aclose(self) -> None:
        """Stop reading (idempotent)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._subs.clear()


def _silence() -> av.AudioFrame:
    frame = av.AudioFrame(format="s16", layout="stereo", samples=AUDIO_SAMPLES)
    for plane in frame.planes:
        plane.update(bytes(plane.buffer_size))
    frame.sample_rate = AUDIO_RATE
    return frame


class AudioSwitch(MediaStreamTrack):
    """An audio track paced at 20 ms that plays the voice it is switched to, or silence, as Opus
    packets already encoded (the sender only packetises them).

    A voice's packet that is not there when due (its encode waited for a thread, its peer's packets
    came in a burst) is waited for, up to :data:`VOICE_LATE_S`, rather than stood in for by silence:
    the silence is another encoder's packet, and a decoder fed one stream's packets interleaved with
    another's produces next to nothing (a voice behind by one packet in two is all but inaudible).
    A voice later than that has gone quiet: silence until its next packet, a single change of stream.
    """

    kind = "audio"

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self._source: AudioFanout | None = None
        self._sub: VoiceSubscription | None = None
        self._quiet = True
        """The voice has no packet ready: silence plays until it has one (not waited for each time)."""
        self._samples = 0
        self._start_m: float | None = None
        self.voiced = 0
        """Packets sent that carried a voice (not silence)."""

    @property
    def source(self) -> AudioFanout | None:
        """The voice being played, if any."""
        return self._source

    def switch(self, source: AudioFanout | None) -> None:
        """Play ``source`` from now on (``None``: silence)."""
        if source is self._source:
            return
        old = self._sub
        if self._source is not None and old is not None:
            self._source.unsubscribe(old)
            old.arrived.set()  # a recv waiting for the old voice moves on
        self._source = source
        self._sub = source.subscribe() if source is not None else None
        self._quiet = True  # a new voice starts with its first packet, silence till then

    async def recv(self) -> av.Packet:
        """The next 20 ms of audio, on time, as one Opus packet."""
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
        payload = await self._voice()
        if payload is not None:
            self.voiced += 1
        else:
            payload = silence_payload()
        packet = av.Packet(payload)  # the same bytes for every listener; the timestamp is this one's
        packet.pts = self._samples
        packet.time_base = AUDIO_TIME_BASE
        return packet

    async def _voice(self) -> bytes | None:
        """The voice's next packet; None for silence (no voice, or one gone quiet)."""
        deadline = asyncio.get_running_loop().time() + VOICE_LATE_S
        while (sub := self._sub) is not None:
            if sub.packets:
                self._quiet = False
                return sub.packets.popleft()
            if self._quiet:
                return None
            sub.arrived.clear()
            try:
                async with asyncio.timeout_at(deadline):
                    await sub.arrived.wait()  # a packet, a switch or stop() wakes this up
            except TimeoutError:
                if sub is self._sub:
                    self._quiet = True
                    log.debug("audio %s: its voice is %.1f s late; silence until it is back", self.name, VOICE_LATE_S)
        return None

    def stop(self) -> None:
        """End the track (idempotent)."""
        self.switch(None)
        super().stop()
