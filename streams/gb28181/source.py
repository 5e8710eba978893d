"""A GB/T 28181 channel as a camera source: invite it, receive PS over RTP, demux with PyAV.

``gb28181://DEVICE/CHANNEL`` is opened in the camera's reader thread like any URL (with
``?stream=1``: the channel's sub-stream, asked with ``a=streamnumber:1`` / ``a=streamprofile:1``): the source
binds an RTP port, asks the platform (the :class:`Gate`, on the event loop) to INVITE the channel
to it, follows the SSRC of the 200 OK, and hands the PS byte stream to PyAV's ``mpeg`` demuxer.
Closing the source sends BYE. From there packets go the way every camera's go (relay, analysis,
clips). The reader's reconnect backoff is what re-invites a stream that stopped.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import parse_qs, urlsplit

import av

from streams.gb28181.rtp import RtpReceiver
from streams.media import CodecInfo
from streams.packets import VIDEO_CODECS, SourceError, SourceOptions, SourcePacket

log = logging.getLogger(__name__)

PROBE_BYTES = 131072
"""PS bytes PyAV may read to find the video stream and its parameters (a keyframe comes first)."""
ANALYZE_US = 100_000
"""Stream time PyAV may read for that: the SPS and the first keyframe are all it needs, and every
extra moment here delays the first picture after an INVITE."""


@dataclass(frozen=True, slots=True)
class Invited:
    """An answered INVITE."""

    call_id: str
    """The dialog's Call-ID (what BYE ends)."""
    ssrc: int
    """The SSRC the device will send (from its answer's ``y=``, else ours)."""


class Gate(Protocol):
    """What a source needs from the SIP side (thread-safe calls from the reader thread)."""

    def take_port(self) -> int:
        """A free media port (OSError when the range is used up)."""
        ...

    def give_port(self, port: int) -> None:
        """Return a port."""
        ...

    def invite_blocking(
        self, device: str, channel: str, port: int, transport: str, timeout_s: float, stream: int = 0
    ) -> Invited:
        """INVITE the channel (``stream`` 1: its sub-stream) to ``port`` and wait for the answer;
        SourceError if refused."""
        ...

    def bye_soon(self, call_id: str) -> None:
        """End the dialog (returns at once)."""
        ...

    def retire(self, receiver: RtpReceiver) -> None:
        """A stream ended: keep its counters for /metrics."""
        ...

    def track(self, receiver: RtpReceiver) -> None:
        """A stream began: its counters go to /metrics."""
        ...

    media_host: str
    media_transport: str
    jitter_packets: int
    invite_timeout_s: float
    rtp_timeout_s: float


_gates: list[Gate] = []
_gates_lock = threading.Lock()


def attach(gate: Gate) -> None:
    """Make ``gate`` the platform GB sources invite through (the hub does this when it starts)."""
    # One per process: the reader thread opens sources by URL alone, so it finds the platform here.
    with _gates_lock:
        _gates.append(gate)


def detach(gate: Gate) -> None:
    """Forget ``gate`` (the hub stops)."""
    with _gates_lock:
        if gate in _gates:
            _gates.remove(gate)


class _PsReader(io.RawIOBase):
    """The RTP payload stream as a file for PyAV."""

    def __init__(self, receiver: RtpReceiver) -> None:
        self._rx = receiver

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._rx.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class GbSource:
    """One invited GB/T 28181 channel, read in the camera's reader thread."""

    def __init__(self, url: str, options: SourceOptions) -> None:
        parts = urlsplit(url)
        self.device = parts.netloc
        self.channel = parts.path.strip("/") or parts.netloc
        self.stream = 1 if parse_qs(parts.query).get("stream") == ["1"] else 0
        self.name = f"gb channel {self.channel}" + (" (sub-stream)" if self.stream else "")
        with _gates_lock:
            gate = _gates[-1] if _gates else None
        if gate is None:
            raise SourceError("the GB/T 28181 platform is not running (gb28181.enabled is false)")
        self._gate = gate
        self._call: str | None = None
        self._rx: RtpReceiver | None = None
        self._container: av.container.InputContainer | None = None
        try:
            port = gate.take_port()
        except OSError as exc:
            raise SourceError(f"no free media port for {self.name}: {exc}") from None
        try:
            self._rx = RtpReceiver(gate.media_host, port, gate.media_transport, gate.jitter_packets, self.name)
        except OSError as exc:
            gate.give_port(port)
            raise SourceError(f"cannot bind media port {port} for {self.name}: {exc}") from None
        try:
            self._open(port)
        except BaseException:
            self.close()
            raise

    def _open(self, port: int) -> None:
        gate = self._gate
        assert self._rx is not None
        self._rx.timeout_s = gate.rtp_timeout_s
        invited = gate.invite_blocking(
            self.device, self.channel, port, gate.media_transport, gate.invite_timeout_s, self.stream
        )
        self._call = invited.call_id
        self._rx.ssrc = invited.ssrc
        self._rx.call_id = invited.call_id
        self._rx.start_clock()
        gate.track(self._rx)
        try:
            container = av.open(
                _PsReader(self._rx),
                format="mpeg",
                options={"probesize": str(PROBE_BYTES), "analyzeduration": str(ANALYZE_US), "fpsprobesize": "0"},
                timeout=None,
            )
        except av.error.FFmpegError as exc:
            raise SourceError(f"{self.name}: no MPEG-PS video arrived ({self._rx.reason or exc})") from None
        assert isinstance(container, av.container.InputContainer)
        self._container = container
        videos = container.streams.video
        name = videos[0].codec_context.name if videos else None
        if name not in VIDEO_CODECS:
            raise SourceError(f"{self.name}: the PS stream carries no video the hub takes ({name or 'no video'})")
        self._stream = videos[0]
        self._stream.codec_context.thread_count = 1
        cc = self._stream.codec_context
        rate = self._stream.average_rate or self._stream.guessed_rate
        self.codec = CodecInfo(
            name,
            cc.width,
            cc.height,
            profile=cc.profile,
            pix_fmt=cc.pix_fmt,
            extradata=bytes(cc.extradata or b""),
            fps=float(rate) if rate else None,
        )

    def packets(self) -> Iterator[SourcePacket]:
        """Demuxed video packets until the RTP stops (SourceError saying why)."""
        assert self._container is not None and self._rx is not None
        tb = float(self._stream.time_base or 0)
        try:
            for pkt in self._container.demux(self._stream):
                if pkt.size == 0:
                    continue
                pts = pkt.pts * tb if pkt.pts is not None else None
                dts = pkt.dts * tb if pkt.dts is not None else pts
                yield SourcePacket(b"", pts, dts, bool(pkt.is_keyframe), pkt)
        except av.error.FFmpegError as exc:
            if self._rx.reason is None:
                raise SourceError(f"{self.name}: demuxing failed: {exc}") from None
        raise SourceError(f"{self.name}: {self._rx.reason or 'the stream ended'}")

    def decode(self, packet: SourcePacket) -> list[av.VideoFrame]:
        """Decode one packet."""
        return list(self._stream.codec_context.decode(packet.raw))

    def payload(self, packet: SourcePacket) -> bytes:
        """The packet's Annex B bytes."""
        return bytes(packet.raw)

    def interrupt(self) -> None:
        """Make reading end soon (any thread)."""
        if self._rx is not None:
            self._rx.interrupt()

    def close(self) -> None:
        """BYE, close the container and the socket, give the port back."""
        if self._call is not None:
            self._gate.bye_soon(self._call)
            self._call = None
        if self._container is not None:
            try:
                self._container.close()
            except Exception:  # closing after a failed read may fail again
                pass
            self._container = None
        rx, self._rx = self._rx, None
        if rx is not None:
            rx.close()
            self._gate.retire(rx)
            self._gate.give_port(rx.port)


def open_gb(url: str, options: SourceOptions) -> GbSource:
    """Open a ``gb28181://DEVICE/CHANNEL`` URL (reader thread); SourceError on failure."""
    return GbSource(url, options)
