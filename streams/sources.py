"""Camera sources: blocking readers that turn a URL into encoded packets, run in a reader thread.

* ``rtsp://`` / ``rtsps://``: PyAV over TCP with open and read timeouts.
* ``file://`` and ``synthetic://NAME``: PyAV, paced at the file's native rate and looped with
  continuous timestamps, so a file behaves like a live camera.
* ``http(s)://``: an MJPEG multipart stream, or a JPEG snapshot URL polled periodically
  (see :mod:`streams.httpsource`).

Every failure is a :class:`SourceError` whose reason is readable and never shows a password.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import av

from streams import urls
from streams.httpsource import open_http
from streams.media import CodecInfo, is_annexb
from streams.packets import VIDEO_CODECS, Source, SourceError, SourceOptions, SourcePacket, check_host, describe_error
from streams.synthetic import ensure_scene

log = logging.getLogger(__name__)

RTSP_OPTIONS = {
    "rtsp_transport": "tcp",
    "allowed_media_types": "video",
    # The SDP already carries SPS/PPS; long probing only delays going online (1.2 s → 0.4 s).
    "analyzeduration": "300000",
    "probesize": "65536",
}


def _target(url: str) -> str:
    """How a source is named in reasons: host and port for cameras (never the credentials)."""
    if urls.scheme(url) in ("file", "synthetic"):
        return urls.mask_url(url)
    return urls.host_port(url)


class AvSource:
    """An input demuxed by PyAV: RTSP cameras, and files played as live cameras."""

    def __init__(self, url: str, path_or_url: str, options: SourceOptions, realtime: bool) -> None:
        self.url = url
        self._open_arg = path_or_url
        self._opts = options
        self._realtime = realtime
        self._container: Any = None
        self._stream: Any
        self._bsf: Any
        self._closed = threading.Event()
        self._open()
        cc = self._stream.codec_context
        extradata = bytes(cc.extradata or b"")
        rate = self._stream.average_rate or self._stream.guessed_rate
        self.codec = CodecInfo(
            codec=cc.name,
            width=cc.width,
            height=cc.height,
            profile=cc.profile,
            pix_fmt=cc.pix_fmt,
            extradata=extradata if is_annexb(extradata) else b"",
            fps=float(rate) if rate else None,
        )

    def _open(self) -> None:
        target = _target(self.url)
        is_rtsp = urls.scheme(self.url) in ("rtsp", "rtsps")
        if is_rtsp:
            check_host(self.url)
        started = time.monotonic()
        try:
            self._container = av.open(
                self._open_arg,
                options=dict(RTSP_OPTIONS) if is_rtsp else {},
                timeout=(self._opts.connect_timeout_s, self._opts.read_timeout_s),
            )
        except Exception as exc:
            if is_rtsp and time.monotonic() - started >= 0.9 * self._opts.connect_timeout_s:
                # The timeout interrupts FFmpeg mid-reply, which it reports as "invalid data".
                raise SourceError(f"{target} is unreachable or did not answer in time") from None
            raise SourceError(describe_error(exc, self.url, target)) from None
        videos = self._container.streams.video
        name = videos[0].codec_context.name if videos else None
        if name not in VIDEO_CODECS:
            fmt = self._container.format.name
            self._container.close()
            what = f"codec {name}" if name else "no video track"
            raise SourceError(urls.scrub(f"{target} is not a camera video stream ({fmt}, {what})", self.url))
        self._stream = videos[0]
        cc = self._stream.codec_context
        cc.thread_count = 1  # one reader thread per camera already spreads the load
        extradata = bytes(cc.extradata or b"")
        if name in ("h264", "hevc") and extradata[:1] == b"\x01":
            # MP4-style length-prefixed packets; viewers and the muxer want start codes.
            self._bsf = av.BitStreamFilterContext(f"{name}_mp4toannexb", self._stream)
        else:
            self._bsf = None

    def packets(self) -> Iterator[SourcePacket]:
        """Demux until the end (files loop forever) or an error."""
        offset_s = 0.0
        wall0 = time.monotonic()
        first: float | None = None
        while not self._closed.is_set():
            last = None
            frame_s = 1.0 / (self.codec.fps or 25.0)
            # Demuxed packets carry their stream's time base; a float product per packet costs
            # ~0.1 µs where Fraction arithmetic (pkt.time_base) costs ~10 µs.
            tb = float(self._stream.time_base)
            try:
                for pkt in self._container.demux(self._stream):
                    if pkt.size == 0:
                        continue
                    raw_pts, raw_dts = pkt.pts, pkt.dts
                    pts = raw_pts * tb + offset_s if raw_pts is not None else None
                    dts = raw_dts * tb + offset_s if raw_dts is not None else pts
                    if self._realtime and dts is not None:
                        if first is None:
                            first = dts
                        delay = wall0 + (dts - first) - time.monotonic()
                        if delay > 0 and self._closed.wait(delay):
                            return
                        last = dts
                    yield SourcePacket(b"", pts, dts, bool(pkt.is_keyframe), pkt)
            except av.error.FFmpegError as exc:
                if self._closed.is_set():
                    return
                raise SourceError(describe_error(exc, self.url, _target(self.url))) from None
            if not self._realtime:
                raise SourceError(f"the connection to {_target(self.url)} was closed by the camera")
            if last is None:
                raise SourceError(f"{_target(self.url)} holds no video packets")
            # Loop the file: reopen and continue the clock one frame after the last packet.
            offset_s = last + frame_s
            self._container.close()
            self._open()

    def payload(self, sp: SourcePacket) -> bytes:
        """The packet's bytes with start codes (consumes ``sp.raw`` when filtering)."""
        if self._bsf is None:
            return bytes(sp.raw)
        return b"".join(bytes(p) for p in self._bsf.filter(sp.raw))

    def decode(self, packet: SourcePacket) -> list[av.VideoFrame]:
        """Decode with the stream's own decoder (it holds the extradata)."""
        return list(self._stream.codec_context.decode(packet.raw))

    def interrupt(self) -> None:
        """Stop pacing waits and demuxing at the next packet (closing here would race the demuxer)."""
        self._closed.set()

    def close(self) -> None:
        """Close the container."""
        self._closed.set()
        if self._container is not None:
            try:
                self._container.close()
            except Exception:  # closing a broken connection may fail again; nothing to do
                pass


def file_path(url: str) -> str:
    """Local path of a ``file://`` URL (``file:///abs/x.mp4`` or ``file://relative/x.mp4``)."""
    parts = urlsplit(url)
    return unquote(parts.netloc + parts.path) if parts.netloc not in ("", "localhost") else unquote(parts.path)


def open_source(url: str, options: SourceOptions) -> Source:
    """Open ``url`` (already ``${ENV}``-expanded). Blocking; raises :class:`SourceError`."""
    kind = urls.scheme(url)
    if kind in ("rtsp", "rtsps"):
        return AvSource(url, url, options, realtime=False)
    if kind == "file":
        path = file_path(url)
        if not Path(path).is_file():
            raise SourceError(f"file not found: {path}")
        return AvSource(url, path, options, realtime=True)
    if kind == "synthetic":
        name = urlsplit(url).netloc or urlsplit(url).path.strip("/")
        try:
            path = str(ensure_scene(name, options.data_dir))
        except ValueError as exc:
            raise SourceError(str(exc)) from None
        return AvSource(url, path, options, realtime=True)
    if kind in ("http", "https"):
        return open_http(url, options)
    if kind == "gb28181":
        from streams.gb28181.source import open_gb  # the GB/T 28181 platform is optional

        return open_gb(url, options)
    raise SourceError(f"unsupported URL scheme {kind or '(none)'!r} in {urls.mask_url(url)}")
