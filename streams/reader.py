"""The reader thread of one camera input: connect, demux, decode for analysis, reconnect.

Everything blocking happens here, never on the event loop: opening the source, demuxing,
decoding, scaling to a small gray frame. Results reach the loop through a :class:`LoopBridge`,
which batches them so that a busy camera costs one loop wake-up per batch, not per packet.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
import traceback
from dataclasses import dataclass, replace

import av

from streams import urls
from streams.bridge import LoopBridge
from streams.media import CLOCK_HZ, CodecInfo, Frame, Packet, parameter_sets
from streams.packets import Source, SourceError, SourceOptions, SourcePacket
from streams.snapshot import converted
from streams.sources import open_source

log = logging.getLogger(__name__)

BACKOFF_START_S = 0.5
GOOD_CONNECTION_S = 60.0
"""A connection that delivered packets this long resets the reconnect backoff."""


@dataclass(frozen=True, slots=True)
class Connected:
    """The source is open and its first packet arrived."""

    codec: CodecInfo


@dataclass(frozen=True, slots=True)
class Failed:
    """The source failed or ended; the reader retries after ``retry_in_s``."""

    reason: str
    retry_in_s: float


@dataclass(frozen=True, slots=True)
class CodecChanged:
    """The stream's parameters changed mid-way (new resolution, say)."""

    old: CodecInfo
    new: CodecInfo


@dataclass(frozen=True, slots=True)
class Corrupt:
    """Packets that failed to decode since the connection opened."""

    count: int


@dataclass(frozen=True, slots=True)
class ReaderSettings:
    """What one reader does."""

    camera_id: str
    url: str
    """The configured URL, possibly with ``${ENV}`` references."""
    source: SourceOptions
    reconnect_max_s: float = 30.0
    relay: bool = True
    """Forward packets (the main input); False for an analysis-only input, which only decodes."""
    analysis_fps: float | None = 5.0
    """Decode and post gray frames at this rate; None decodes nothing."""
    analysis_size: tuple[int, int] = (160, 90)
    """Width and height of the gray frames."""


class Reader:
    """One thread per camera input; owns the connection and its reconnect loop."""

    def __init__(self, settings: ReaderSettings, bridge: LoopBridge, last_dts: int | None = None) -> None:
        """``last_dts``: continue the camera's timeline after this dts (a reader taking over from an
        earlier one of the same camera)."""
        self.settings = settings
        self._bridge = bridge
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._source: Source | None = None
        self._done: asyncio.Future[None] | None = None
        self.attempts = 0
        self.picture: tuple[av.VideoFrame, float] | None = None
        """Newest decoded full-size frame and its wall-clock time (for snapshots), by reference;
        None while not connected, so an old picture is never taken for a live one."""
        self._frame_seq = 0
        self._last_dts: int | None = last_dts
        """Last dts on the camera timeline; the next session continues after it."""
        self.corrupt_packets = 0
        """Packets that failed to decode, over the reader's life."""

    @property
    def last_dts(self) -> int | None:
        """The newest dts on the camera's timeline (for a reader that takes over)."""
        return self._last_dts

    def start(self) -> None:
        """Start the thread (on the event loop, which :meth:`wait_stopped` then uses)."""
        loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        name = f"reader-{self.settings.camera_id}{'' if self.settings.relay else '-analysis'}"
        self._thread = threading.Thread(target=self._main, args=(loop, self._done), name=name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to end (it notices between packets or when a read times out)."""
        self._stop.set()
        source = self._source
        if source is not None:
            # Files and HTTP sources wake at once; RTSP ends at the next packet or read timeout.
            source.interrupt()

    async def wait_stopped(self, timeout_s: float) -> bool:
        """Wait (on the loop, no worker thread) for the thread to end; False if it is still
        blocked after ``timeout_s`` (an RTSP open or read cannot be interrupted; it is abandoned
        and ends by itself at its timeout, posting nothing once the bridge is closed)."""
        if self._done is None:
            return True
        try:
            await asyncio.wait_for(asyncio.shield(self._done), timeout_s)
        except TimeoutError:
            return False
        return True

    def _main(self, loop: asyncio.AbstractEventLoop, done: asyncio.Future[None]) -> None:
        try:
            self._run()
        finally:
            try:
                loop.call_soon_threadsafe(_set_done, done)
            except RuntimeError:  # the loop is closed: nobody waits any more
                pass

    def _run(self) -> None:
        cam = self.settings.camera_id
        failures = 0
        last_internal: str | None = None
        while not self._stop.is_set():
            self.attempts += 1
            started = time.monotonic()
            got_packets = False
            try:
                url = urls.resolve(self.settings.url)
            except ValueError as exc:
                reason = f"cannot build the camera URL: {exc}"
            else:
                try:
                    got_packets = self._session(url)
                    reason = "the stream ended"
                except SourceError as exc:
                    reason = exc.reason
                except Exception as exc:  # a bug or an unexpected library error must not kill the thread
                    reason = urls.scrub(f"internal error: {type(exc).__name__}: {exc}", url)
                    if reason != last_internal:  # once per kind of error, not on every retry
                        last_internal = reason
                        # The traceback may quote the URL with its password: scrub it first.
                        trace = urls.scrub("".join(traceback.format_exception(exc)), url)
                        log.error("camera %s: reader error\n%s", cam, trace.rstrip())
                finally:
                    self.picture = None
                    self._close_source()
            if self._stop.is_set():
                break
            if got_packets and time.monotonic() - started >= GOOD_CONNECTION_S:
                failures = 0
            base = min(self.settings.reconnect_max_s, BACKOFF_START_S * 2**failures)
            delay = base * random.uniform(0.8, 1.0)
            failures = min(failures + 1, 30)
            log.info("camera %s: %s; reconnect in %.1f s", cam, reason, delay)
            self._bridge.post(Failed(reason, delay))
            if self._stop.wait(delay):
                break
        log.debug("camera %s: reader stopped", cam)

    def _close_source(self) -> None:
        source, self._source = self._source, None
        if source is not None:
            source.close()

    def _session(self, url: str) -> bool:
        """One connection: returns whether any packet arrived; raises SourceError on failure."""
        s = self.settings
        source = open_source(url, s.source)
        self._source = source
        if self._stop.is_set():
            return False
        codec = source.codec
        decode = s.analysis_fps is not None
        frame_interval_s = 1.0 / s.analysis_fps if s.analysis_fps else 0.0
        intra_only = codec.codec == "mjpeg"
        next_frame_at = 0.0
        slack_s = frame_interval_s / 4  # arrival jitter must not skip a due frame
        frame_ticks = int(CLOCK_HZ / (codec.fps or 25.0))
        base_dts = self._last_dts + frame_ticks if self._last_dts is not None else 0
        first_src: float | None = None
        wall0 = time.monotonic()
        got = False
        for sp in source.packets():
            if self._stop.is_set():
                break
            if sp.corrupt:
                self._count_corrupt()
                continue
            now = time.time()
            # Inter-coded video needs every packet decoded; JPEGs only when a frame is due.
            if decode and (not intra_only or now >= next_frame_at - slack_s):
                for frame in self._decode(source, sp):
                    if (frame.width, frame.height) != (codec.width, codec.height):
                        new = replace(codec, width=frame.width, height=frame.height)
                        self._bridge.post(CodecChanged(codec, new))
                        codec = new
                    if now >= next_frame_at - slack_s:
                        next_frame_at = max(next_frame_at + frame_interval_s, now - frame_interval_s)
                        self.picture = (frame, now)
                        self._post_frame(frame, now)
            if not s.relay:
                # An analysis-only input: nothing per packet goes to the loop (the frames say that
                # data flows), so no copy of the bytes and no timeline.
                if not got:
                    got = True
                    self._bridge.post(Connected(codec))
                continue
            data = source.payload(sp)
            if not data:
                continue
            # One continuous timeline per camera, across reconnects and file loops; RTSP's
            # first packet has no timestamp, so fall back to the arrival time.
            src = sp.dts_s if sp.dts_s is not None else sp.pts_s
            if src is None:
                src = (first_src or 0.0) + (time.monotonic() - wall0)
            if first_src is None:
                first_src = src
            dts = base_dts + round((src - first_src) * CLOCK_HZ)
            if self._last_dts is not None and dts <= self._last_dts:
                dts = self._last_dts + 1
            pts = dts + (round((sp.pts_s - src) * CLOCK_HZ) if sp.pts_s is not None else 0)
            keyframe = sp.keyframe
            if keyframe and codec.codec in ("h264", "hevc"):
                params = parameter_sets(codec.codec, data)
                if not params and codec.extradata:
                    data = codec.extradata + data  # viewers joining here need SPS/PPS in front
                elif params and params != codec.extradata:
                    new = replace(codec, extradata=params)
                    if codec.extradata and got:
                        self._bridge.post(CodecChanged(codec, new))
                    codec = new
            first_of_session = not got
            if first_of_session:
                got = True
                self._bridge.post(Connected(codec))
            self._bridge.post_packet(Packet(data, pts, dts, keyframe, now, codec, first_of_session))
            self._last_dts = dts
        return got

    def _decode(self, source: Source, sp: SourcePacket) -> list[av.VideoFrame]:
        try:
            return source.decode(sp)
        except av.error.FFmpegError:
            self._count_corrupt()
            return []

    def _count_corrupt(self) -> None:
        self.corrupt_packets += 1
        self._bridge.post(Corrupt(self.corrupt_packets))

    def _post_frame(self, frame: av.VideoFrame, ts: float) -> None:
        w, h = self.settings.analysis_size
        # The Y plane scaled down: far cheaper than converting to BGR and resizing. Snapshot threads
        # convert this same frame meanwhile: never through the frame's own cached converter.
        gray = converted(frame, width=w, height=h, format="gray")
        self._frame_seq += 1
        self._bridge.post_frame(Frame(gray.to_ndarray(), ts, self._frame_seq))


def _set_done(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_result(None)
