"""Plain media data shared by the ingest modules: packets, codec parameters, frames, states.

Video packets travel through the hub as :class:`Packet` objects: the camera's own encoded bytes
(Annex B for H.264/H.265, so SPS/PPS can ride in front of keyframes), timestamps on one
continuous 90 kHz timeline per camera, and the wall-clock time the hub received them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction

import numpy as np

TIME_BASE = Fraction(1, 90_000)
"""Time base of :attr:`Packet.pts` and :attr:`Packet.dts` (the RTP video clock)."""
CLOCK_HZ = 90_000

START_CODE = b"\x00\x00\x00\x01"
BROWSER_CODECS = frozenset({"h264"})
"""Codecs a browser can play over WebRTC without transcoding."""
PARAM_SET_TYPES = {"h264": frozenset({7, 8}), "hevc": frozenset({32, 33, 34})}
"""NAL unit types of the parameter sets (SPS/PPS, and VPS for H.265)."""


SNAPSHOT_RETRY_AFTER_S = 5
"""Retry-After of a snapshot request while the camera is starting or has no picture yet."""


class SnapshotError(Exception):
    """No picture could be produced."""


class NoPicture(SnapshotError):
    """The camera has no current picture to give: disabled, offline, stalled, or none yet."""

    def __init__(self, message: str, retry_after_s: float | None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        """When asking again may help; None when it will not (a disabled camera)."""


class CameraState(StrEnum):
    """Where a camera's ingest stands."""

    STARTING = "starting"
    ONLINE = "online"
    STALLED = "stalled"
    OFFLINE = "offline"
    DISABLED = "disabled"
    REMOTE = "remote"
    """Another hub node ingests it (it holds the camera's lease)."""
    UNASSIGNED = "unassigned"
    """Several hub nodes share the cameras and none has taken this one yet."""
    STANDBY = "standby"
    """Read only while someone watches (a GB/T 28181 channel without analysis), and nobody does:
    no stream is open; a viewer wakes it."""


@dataclass(frozen=True, slots=True)
class CodecInfo:
    """What a decoder or a WebRTC sender needs to know about a camera's video."""

    codec: str
    """FFmpeg codec name: ``h264``, ``hevc``, ``mjpeg``…"""
    width: int
    """Picture width in pixels."""
    height: int
    """Picture height in pixels."""
    profile: str | None = None
    """Codec profile, e.g. ``Constrained Baseline`` or ``High``."""
    pix_fmt: str | None = None
    """Decoded pixel format, e.g. ``yuv420p``."""
    extradata: bytes = b""
    """Parameter sets in Annex B form (SPS/PPS, VPS for H.265); empty for MJPEG."""
    fps: float | None = None
    """Nominal frame rate, when the source states one."""

    @property
    def browser_playable(self) -> bool:
        """Whether browsers can play the packets as they are (H.264 in 4:2:0)."""
        return self.unplayable_reason is None

    @property
    def unplayable_reason(self) -> str | None:
        """Why a browser cannot play the stream directly, or None when it can."""
        if self.codec not in BROWSER_CODECS:
            name = {"hevc": "H.265/HEVC", "mjpeg": "MJPEG"}.get(self.codec, self.codec)
            return f"{name} video cannot be played by browsers without transcoding (analysis still works)"
        if self.pix_fmt and self.pix_fmt not in ("yuv420p", "yuvj420p"):
            return f"H.264 in {self.pix_fmt} cannot be played by browsers (needs 4:2:0, 8 bit)"
        return None


@dataclass(frozen=True, slots=True)
class Packet:
    """One encoded video access unit as received from the camera."""

    data: bytes
    """Encoded bytes (Annex B for H.264/H.265; one JPEG for MJPEG)."""
    pts: int
    """Presentation time on the camera's continuous timeline, in :data:`TIME_BASE` units."""
    dts: int
    """Decoding time, same units; equals ``pts`` for streams without B-frames."""
    keyframe: bool
    """Whether decoding can start here."""
    ts: float
    """Wall-clock time (``time.time()``) when the hub received the packet."""
    codec: CodecInfo
    """Codec parameters in force for this packet."""
    discontinuity: bool = False
    """First packet after a reconnect or a parameter change."""

    @property
    def size(self) -> int:
        """Payload size in bytes."""
        return len(self.data)


@dataclass(frozen=True, slots=True)
class Frame:
    """A small grayscale picture for analysis (the Y plane, scaled down)."""

    image: np.ndarray = field(repr=False)
    """``height x width`` uint8 array."""
    ts: float
    """Wall-clock time of the packet it was decoded from."""
    seq: int
    """Number of the frame among the frames decoded for analysis (1, 2, …)."""


def iter_nals(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each NAL unit payload in an Annex B buffer."""
    out: list[tuple[int, int]] = []
    i = data.find(b"\x00\x00\x01")
    while i >= 0:
        start = i + 3
        j = data.find(b"\x00\x00\x01", start)
        end = len(data) if j < 0 else (j - 1 if data[j - 1] == 0 else j)
        out.append((start, end))
        i = j
    return out


def nal_type(codec: str, data: bytes, start: int) -> int:
    """Type of the NAL unit whose header starts at ``start``."""
    if start >= len(data):
        return -1
    return (data[start] >> 1) & 0x3F if codec == "hevc" else data[start] & 0x1F


def parameter_sets(codec: str, data: bytes) -> bytes:
    """The parameter-set NAL units found in ``data``, re-joined with start codes."""
    wanted = PARAM_SET_TYPES.get(codec)
    if not wanted:
        return b""
    return b"".join(START_CODE + data[s:e] for s, e in iter_nals(data) if nal_type(codec, data, s) in wanted)


def is_annexb(data: bytes) -> bool:
    """Whether ``data`` starts with an Annex B start code."""
    return data.startswith(b"\x00\x00\x01") or data.startswith(START_CODE)
