"""What every camera source gives and how it fails: encoded packets, open options, readable errors.

:mod:`streams.sources` (PyAV: RTSP and files), :mod:`streams.httpsource` (MJPEG and JPEG) and
:mod:`streams.gb28181.source` (GB/T 28181 PS over RTP) all build on these; the reader thread
(:mod:`streams.reader`) sees only the :class:`Source` protocol.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import av

from streams import urls
from streams.media import CodecInfo

VIDEO_CODECS = frozenset({"h264", "hevc", "mjpeg"})
"""Codecs the hub ingests; anything else is reported as not a camera stream."""


class SourceError(Exception):
    """A source failed; ``reason`` is fit to show to a dispatcher (password masked)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class SourcePacket:
    """A demuxed packet before it gets the camera's timeline."""

    data: bytes
    """Annex B (H.264/H.265) or JPEG bytes."""
    pts_s: float | None
    """Presentation time in seconds on the source's own clock, if known."""
    dts_s: float | None
    """Decoding time in seconds, if known."""
    keyframe: bool
    """Whether decoding can start here."""
    raw: Any = None
    """What :meth:`Source.decode` needs (an ``av.Packet``)."""
    corrupt: bool = False
    """The source already knows the packet is damaged (a truncated JPEG, say): counted, not used."""


@dataclass(frozen=True, slots=True)
class SourceOptions:
    """How a source connects."""

    connect_timeout_s: float = 5.0
    """Give up opening after this long."""
    read_timeout_s: float = 20.0
    """Give up when no data arrives for this long (the watchdog reports a stall earlier)."""
    data_dir: Path = Path("./data")
    """Where synthetic scenes are cached."""
    snapshot_interval_s: float = 1.0
    """Polling period of JPEG snapshot URLs."""


class Source(Protocol):
    """An opened camera input."""

    codec: CodecInfo

    def packets(self) -> Iterator[SourcePacket]:
        """Packets until the input ends or fails (raises :class:`SourceError`)."""
        ...

    def decode(self, packet: SourcePacket) -> list[av.VideoFrame]:
        """Decode one packet (in order; every packet must be passed for inter-coded video)."""
        ...

    def payload(self, packet: SourcePacket) -> bytes:
        """The bytes viewers get; call after :meth:`decode` (it may consume the packet)."""
        ...

    def interrupt(self) -> None:
        """Make a blocked :meth:`packets` return soon; callable from any thread."""
        ...

    def close(self) -> None:
        """Release the connection; safe to call twice; only from the reading thread."""
        ...


def describe_error(exc: BaseException, url: str, target: str) -> str:
    """A readable reason for a failed open/read of ``url``; ``target`` names it for people."""
    if isinstance(exc, SourceError):
        return exc.reason
    err = getattr(exc, "errno", None)
    # Not a bare "401" in the text: the URL in it may carry one (port 40111).
    if isinstance(exc, av.error.HTTPUnauthorizedError) or "401 Unauthorized" in str(exc):
        text = f"authentication failed (401 Unauthorized) at {target}: check the user name and password"
    elif isinstance(exc, av.error.HTTPForbiddenError):
        text = f"access forbidden (403) at {target}"
    elif isinstance(exc, av.error.HTTPNotFoundError):
        text = f"not found (404) at {target}: check the path"
    elif isinstance(exc, ConnectionRefusedError) or err == errno.ECONNREFUSED:
        text = f"connection refused by {target}: nothing is listening there"
    elif err in (errno.EHOSTUNREACH, errno.ENETUNREACH) or isinstance(exc, av.error.ExitError | TimeoutError):
        text = f"{target} is unreachable or did not answer in time"
    elif isinstance(exc, FileNotFoundError) or err == errno.ENOENT:
        text = f"file not found: {target}"
    elif isinstance(exc, av.error.InvalidDataError):
        text = f"{target} is not a video stream (the data could not be understood)"
    elif err == errno.EPERM and url.startswith(("rtsp:", "rtsps:")):
        # FFmpeg's RTSP client says EPERM ("Operation not permitted") for a request that got an
        # error status it has no code for, or no answer (a camera that dropped the session).
        text = f"{target} answered an RTSP request with an error or not at all (the camera may be restarting)"
    elif isinstance(exc, ConnectionError | EOFError):
        text = f"the connection to {target} was closed"
    else:
        text = f"{target}: {getattr(exc, 'strerror', None) or exc}"
    return urls.scrub(text, url)


def check_host(url: str) -> None:
    """Resolve the URL's host first: FFmpeg reports a failed lookup only as an I/O error."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        host = None
    if not host:
        raise SourceError(f"no host in {urls.mask_url(url)}")
    try:
        socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise SourceError(f"unknown host {host}: the name does not resolve") from None
