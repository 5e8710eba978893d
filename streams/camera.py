"""One camera: its reader thread(s), packet relay, clip buffer, analysis frames and health.

The reader thread does all blocking work; everything here runs on the event loop and only moves
references around. Snapshots and clips are encoded/remuxed in worker threads.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from streams import urls
from streams.bridge import BridgePump, Gap, LoopBridge
from streams.clips import ClipError, PacketRing, remux
from streams.config import CLIP_MAX_S, SourceConfig
from streams.frames import FrameSlot
from streams.h264view import BrowserVideo, H264View, ViewOptions
from streams.media import CLOCK_HZ, SNAPSHOT_RETRY_AFTER_S, CameraState, CodecInfo, Frame, NoPicture, Packet
from streams.packets import SourceOptions
from streams.reader import CodecChanged, Connected, Corrupt, Failed, Reader, ReaderSettings
from streams.relay import DEFAULT_QUEUE_PACKETS, PacketRelay, PacketSubscription, SubscriptionClosed
from streams.snapshot import encode_jpeg, keyframe_to_jpeg
from streams.supervisor import EmitFn, Supervisor
from streams.workpool import MediaPools

log = logging.getLogger(__name__)

JOIN_TIMEOUT_S = 2.0
"""How long stop() waits for the camera's reader threads, all at once (one blocked in a network
read is abandoned). With the supervisor's event drain this stays within the hub's default
shutdown budget of 5 s."""
RATE_WINDOW_S = 2.0
MAX_CLIP_S = CLIP_MAX_S
PROBLEM_CLEAR_S = 60.0
"""A warning in the camera's reason (damaged video, resolution change) is dropped after this long
without another one; a reconnect drops it at once."""
NOT_VIEWERS = frozenset({"clip", "snapshot", "transcode"})
"""Relay subscriptions of the hub's own (a viewer of a transcode counts on the H.264 relay)."""
SNAPSHOT_POLL_S = 0.25
"""How often a snapshot waiting for a keyframe checks whether the camera went offline."""


SNAPSHOT_WIDTHS = (160, 320, 480, 640, 960, 1280, 1920)
"""Widths a snapshot is scaled to (a request is served at the next one up), so that viewers share
encodings and the cache of them stays small."""


def snapshot_width(width: int | None) -> int | None:
    """The width a snapshot asked ``width`` wide is made at (``None``: the camera's own)."""
    if width is None:
        return None
    return next((w for w in SNAPSHOT_WIDTHS if w >= width), None)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A camera picture as JPEG and when the hub received it."""

    jpeg: bytes
    """The JPEG bytes."""
    ts: float
    """Wall-clock time the picture arrived; ``time.time() - ts`` is its age."""


class _Meter:
    """Counts events (and their sizes) and turns them into rates every couple of seconds."""

    __slots__ = ("count", "total", "count_rate", "total_rate", "_t0", "_c0", "_n0")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0
        self.count_rate = 0.0
        self.total_rate = 0.0
        self._t0 = time.monotonic()
        self._c0 = 0
        self._n0 = 0

    def add(self, size: int = 0) -> None:
        self.count += 1
        self.total += size

    def roll(self, now: float) -> None:
        dt = now - self._t0
        if dt >= RATE_WINDOW_S:
            self.count_rate = (self.count - self._c0) / dt
            self.total_rate = (self.total - self._n0) / dt
            self._t0, self._c0, self._n0 = now, self.count, self.total

    def rates(self, now: float) -> tuple[float, float]:
        """(events per second, size per second); zero once the events stop."""
        if now - self._t0 > 2 * RATE_WINDOW_S:
            return 0.0, 0.0
        return self.count_rate, self.total_rate


@dataclass(slots=True)
class _PastReaders:
    """What readers that are gone counted."""

    reconnects: int = 0
    corrupt_packets: int = 0
    loop_drops: int = 0
    frames_replaced: int = 0


class CameraStream:
    """Ingest of one configured camera: start/stop, viewers, frames, snapshots, clips, health."""

    def __init__(
        self,
        config: SourceConfig,
        emit: EmitFn,
        data_dir: Path,
        pump: BridgePump | None = None,
        pools: MediaPools | None = None,
        view: ViewOptions | None = None,
    ) -> None:
        """``view``: how browsers get H.264 should the camera's video be something else (H.265);
        None: they get snapshots then."""
        self.config = config
        self._pump = pump
        self._own_pools = pools is None
        self.pools = pools or MediaPools()
        """Threads for this camera's JPEG encoding and clip remuxing (shared among the cameras of a manager)."""
        self.id = config.id
        self.data_dir = Path(data_dir)
        self.relay = PacketRelay(config.id)
        self.h264_view = H264View(config.id, self.relay, config, self.data_dir, view) if view is not None else None
        """The H.264 relay browsers get when they cannot play the camera's own video (see ``view``)."""
        self.ring = PacketRing(config.preroll_s, config.buffer_max_bytes)
        info = {"name": config.name or config.id, "url": urls.mask_url(config.url)}
        self.supervisor = Supervisor(config.id, config.stall_timeout_s, emit, info)
        self.codec: CodecInfo | None = None
        self._slots: list[FrameSlot] = []
        self._latest: Frame | None = None
        self._readers: list[Reader] = []
        self._bridges: list[LoopBridge] = []
        self._past = _PastReaders()
        """Counters of readers that have been replaced (their sums stay in the health figures)."""
        self._packets = _Meter()
        self._frames = _Meter()
        self._last_key_pts: int | None = None
        self.keyframe_interval_s: float | None = None
        self._problem: str | None = None
        self._problem_at = 0.0
        """Monotonic time of the newest warning (see :data:`PROBLEM_CLEAR_S`)."""
        self._retry_at = 0.0
        """Monotonic time of the reader's next reconnect attempt (for Retry-After)."""
        self.analysis_reason: str | None = None
        self._snapshots: dict[int | None, Snapshot] = {}
        """The newest snapshot encoded at each width (viewers of one picture share it)."""
        self._started = False

    @property
    def state(self) -> CameraState:
        """Current state."""
        return self.supervisor.state

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the reader thread(s) and the supervisor; a disabled camera only says so."""
        if self._started:
            return
        self._started = True
        if not self.config.enabled:
            self.supervisor.start(disabled=True)
            return
        self.supervisor.start()
        self._start_readers()
        if self.h264_view is not None:
            self.h264_view.start()

    def _start_readers(self, last_dts: int | None = None) -> None:
        """Make and start the reader thread(s) with their bridges (``last_dts``: where the camera's
        timeline stopped, when readers start again)."""
        cfg = self.config
        loop = asyncio.get_running_loop()
        analysis_fps = cfg.analysis.fps if cfg.analysis.enabled else None
        size = (cfg.analysis.width, cfg.analysis.height)
        read_timeout = max(2 * cfg.stall_timeout_s, cfg.stall_timeout_s + 5.0)
        opts = SourceOptions(cfg.connect_timeout_s, read_timeout, self.data_dir)
        base = ReaderSettings(cfg.id, cfg.url, opts, cfg.reconnect_max_s, analysis_size=size)
        main = LoopBridge(loop, self._on_main, cfg.id, self._pump)
        self._bridges.append(main)
        decode_main = analysis_fps if cfg.analysis_url is None else None
        self._readers.append(Reader(replace(base, analysis_fps=decode_main), main, last_dts))
        if cfg.analysis_url is not None and analysis_fps is not None:
            sub = LoopBridge(loop, self._on_analysis, cfg.id, self._pump)
            self._bridges.append(sub)
            settings = replace(base, url=cfg.analysis_url, relay=False, analysis_fps=analysis_fps)
            self._readers.append(Reader(settings, sub))
        for reader in self._readers:
            reader.start()

    async def _stop_readers(self) -> bool:
        """Stop the reader threads (one bounded wait for all) and close their bridges, so nothing
        they still post arrives; False when one had to be abandoned. Cancelled, it still closes the
        bridges."""
        readers, self._readers = self._readers, []
        bridges, self._bridges = self._bridges, []
        past = self._past
        past.reconnects += max(0, readers[0].attempts - 1) if readers else 0
        past.corrupt_packets += sum(r.corrupt_packets for r in readers)
        past.loop_drops += sum(b.packets_dropped for b in bridges)
        past.frames_replaced += sum(b.frames_replaced for b in bridges)
        for reader in readers:
            reader.stop()
        try:
            stopped = await asyncio.gather(*(r.wait_stopped(JOIN_TIMEOUT_S) for r in readers))
            for reader, ok in zip(readers, stopped, strict=True):
                if not ok:
                    log.warning(
                        "camera %s: reader thread %s did not stop within %.1f s; abandoned",
                        self.id,
                        "main" if reader.settings.relay else "analysis",
                        JOIN_TIMEOUT_S,
                    )
            return all(stopped)
        finally:
            for bridge in bridges:
                bridge.close()  # an abandoned reader's late output goes nowhere

    async def stop(self) -> None:
        """Stop readers (one bounded wait for all), end subscriptions and frame slots, flush state
        events. Cancelled, it still closes everything and emits nothing more."""
        if not self._started:
            return
        self._started = False
        drain = False
        try:
            if self.h264_view is not None:
                await self.h264_view.aclose()
            await self._stop_readers()
            drain = True
        finally:
            self.relay.close()
            for slot in list(self._slots):
                slot.close()
            await self.supervisor.stop(drain=drain)
            if self._own_pools:
                self.pools.shutdown()

    # -- reader output (event loop) ------------------------------------------------------------

    def _on_main(self, items: list[object], frame: Frame | None, alive: float) -> None:
        now = time.monotonic()
        on_packet = self._on_packet
        for item in items:
            if type(item) is Packet:
                on_packet(item)
            elif isinstance(item, Connected):
                self._on_connected(item.codec)
            elif isinstance(item, Failed):
                self.relay.gap()
                self._retry_at = now + item.retry_in_s
                self.supervisor.failed(item.reason, item.retry_in_s)
            elif isinstance(item, CodecChanged):
                self._on_codec_changed(item)
            elif isinstance(item, Corrupt):
                self._on_corrupt(item.count)
            elif isinstance(item, Gap):
                self.relay.gap()
                self.ring.clear()
        if frame is not None:
            self._on_frame(frame)
        self._packets.roll(now)
        self._frames.roll(now)
        if alive:
            self.supervisor.alive(alive)
        if self._problem is not None and now - self._problem_at >= PROBLEM_CLEAR_S:
            log.info("camera %s: no more trouble for %.0f s (was: %s)", self.id, PROBLEM_CLEAR_S, self._problem)
            self._problem = None
            self.supervisor.note(self._online_reason())

    def _on_analysis(self, items: list[object], frame: Frame | None, alive: float) -> None:
        for item in items:
            if isinstance(item, Failed):
                self.analysis_reason = f"analysis stream: {item.reason}"
                self.supervisor.note(self.analysis_reason)
            elif isinstance(item, Connected):
                self.analysis_reason = None
                self.supervisor.note(self._online_reason())
        if frame is not None:
            self._on_frame(frame)
        self._frames.roll(time.monotonic())

    def _on_packet(self, packet: Packet) -> None:
        self.codec = packet.codec
        self.relay.publish(packet)
        self.ring.add(packet)
        meter = self._packets
        meter.count += 1
        meter.total += len(packet.data)
        if packet.keyframe:
            if self._last_key_pts is not None and not packet.discontinuity:
                self.keyframe_interval_s = round((packet.pts - self._last_key_pts) / CLOCK_HZ, 3)
            self._last_key_pts = packet.pts

    def _on_frame(self, frame: Frame) -> None:
        self._latest = frame
        self._frames.add()
        for slot in self._slots:
            slot.put(frame)

    def _on_connected(self, codec: CodecInfo) -> None:
        if self.codec is not None and (self.codec.width, self.codec.height) != (codec.width, codec.height):
            self.ring.clear()
        self.codec = codec
        self._last_key_pts = None
        self._problem = None  # a warning belongs to the connection that had it
        self.supervisor.connected(self._online_reason(), codec=codec.codec, width=codec.width, height=codec.height)

    def _on_codec_changed(self, change: CodecChanged) -> None:
        old, new = change.old, change.new
        self.codec = new
        if (old.width, old.height) != (new.width, new.height):
            self.ring.clear()  # a clip cannot mix resolutions
            self._problem = f"resolution changed mid-stream from {old.width}x{old.height} to {new.width}x{new.height}"
            self._problem_at = time.monotonic()
            log.warning("camera %s: %s", self.id, self._problem)
            self.supervisor.note(self._online_reason())

    def _on_corrupt(self, count: int) -> None:
        self._problem_at = time.monotonic()
        if self._problem is None or count in (1, 10, 100) or count % 1000 == 0:
            self._problem = f"damaged video: {count} packets could not be decoded and were skipped"
            self.supervisor.note(self._online_reason())

    def _online_reason(self) -> str:
        # A camera with an H.264 view plays in browsers all the same (its health says how).
        unplayable = self.codec.unplayable_reason if self.codec and self.h264_view is None else None
        parts = [p for p in (unplayable, self._problem, self.analysis_reason)]
        return "; ".join(p for p in parts if p)

    # -- consumers -----------------------------------------------------------------------------

    def subscribe(self, maxsize: int = DEFAULT_QUEUE_PACKETS, name: str | None = None) -> PacketSubscription:
        """A viewer's packet queue, starting with the cached keyframe group (codec in ``.codec``)."""
        return self.relay.subscribe(maxsize, name)

    def unsubscribe(self, sub: PacketSubscription) -> None:
        """Stop a viewer's packets."""
        self.relay.unsubscribe(sub)

    def latest_frame(self) -> Frame | None:
        """The newest small gray analysis frame (``.image``, ``.ts``), or None before the first."""
        return self._latest

    def frames(self) -> FrameSlot:
        """A latest-only slot of analysis frames for one consumer; close it when done."""
        slot = FrameSlot(self.id)
        self._slots.append(slot)
        original_close = slot.close

        def close() -> None:
            original_close()
            if slot in self._slots:
                self._slots.remove(slot)

        slot.close = close  # type: ignore[method-assign]
        return slot

    async def snapshot(self, timeout_s: float = 5.0, *, evidence: bool = False, width: int | None = None) -> Snapshot:
        """The camera's current picture as JPEG; never an old one passed off as live.

        In order: the main stream's newest decoded picture, its cached keyframe decoded now, its
        next keyframe (waited for up to ``timeout_s``), and only then the analysis sub-stream's
        smaller picture. Nothing older than the stall timeout is served. Raises :class:`NoPicture`
        at once when the camera is disabled, offline or stalled, or when no picture came in time,
        and :class:`~streams.workpool.PoolBusy` when too many pictures are being encoded already.
        ``evidence`` encodes in the pool kept for alerts' evidence, which viewers cannot fill.
        ``width`` scales the picture down (a wall tile's size); the newest picture of each width
        is kept, so viewers asking for the same one share one encoding.
        """
        self._check_live()
        pool = self.pools.evidence if evidence else self.pools.views
        width = snapshot_width(width)

        async def encoded(ts: float, fn: Callable[..., bytes], *args: Any) -> Snapshot:
            cached = self._snapshots.get(width)
            if cached is not None and cached.ts == ts and not evidence:
                return cached
            shot = Snapshot(await pool.run(fn, *args, width=width), ts)
            self._snapshots[width] = shot
            return shot

        stale_before = time.time() - self.config.stall_timeout_s
        main = self._readers[0].picture if self._readers else None
        gop = self.relay.keyframe_group()
        if gop and gop[0].ts < stale_before:
            gop = []
        if main is not None and main[1] >= stale_before and (not gop or main[1] >= gop[0].ts):
            return await encoded(main[1], encode_jpeg, main[0])
        if not gop:
            key = await self._next_keyframe(timeout_s)
            gop = [key] if key is not None else []
        if gop:
            return await encoded(gop[0].ts, keyframe_to_jpeg, gop[:1])
        sub = self._readers[1].picture if len(self._readers) > 1 else None
        if sub is not None and sub[1] >= time.time() - self.config.stall_timeout_s:
            return await encoded(sub[1], encode_jpeg, sub[0])
        self._check_live()
        raise NoPicture(
            f"camera {self.id} has no picture yet ({self.state.value}: {self.supervisor.reason})",
            SNAPSHOT_RETRY_AFTER_S,
        )

    async def snapshot_jpeg(self, timeout_s: float = 5.0, *, evidence: bool = False) -> bytes:
        """The JPEG of :meth:`snapshot`; raises :class:`SnapshotError` (:class:`NoPicture`) likewise."""
        return (await self.snapshot(timeout_s, evidence=evidence)).jpeg

    def _check_live(self) -> None:
        """Raise :class:`NoPicture` when the camera is known to give no current picture."""
        state = self.state
        if state == CameraState.DISABLED:
            raise NoPicture(f"camera {self.id} is disabled in the configuration", None)
        if state == CameraState.OFFLINE:
            retry_s = max(1.0, self._retry_at - time.monotonic())
            raise NoPicture(f"camera {self.id} is offline: {self.supervisor.reason}", retry_s)
        if state == CameraState.STALLED:
            raise NoPicture(f"camera {self.id} is stalled: {self.supervisor.reason}", SNAPSHOT_RETRY_AFTER_S)
        if state == CameraState.STANDBY:
            raise NoPicture(
                f"camera {self.id} is on standby ({self.supervisor.reason}); watch it live to wake it",
                SNAPSHOT_RETRY_AFTER_S,
            )

    async def _next_keyframe(self, timeout_s: float) -> Packet | None:
        """The main stream's next keyframe; None after ``timeout_s`` or once the camera fails."""
        sub = self.relay.subscribe(maxsize=8, name="snapshot", replay=False)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        try:
            while (remaining := deadline - loop.time()) > 0:
                if self.state not in (CameraState.ONLINE, CameraState.STARTING):
                    return None  # gone offline while waiting: say so now, not after the timeout
                try:
                    return await asyncio.wait_for(sub.get(), min(remaining, SNAPSHOT_POLL_S))
                except TimeoutError:
                    continue
            return None
        except SubscriptionClosed:
            return None
        finally:
            sub.close()

    async def save_clip(self, path: Path, start_ts: float, end_ts: float) -> Path:
        """Remux the packets between ``start_ts`` and ``end_ts`` (wall clock) to MP4, no re-encode.

        Starts at the keyframe before ``start_ts`` (from the pre-roll buffer); when ``end_ts`` is
        in the future, waits for it (bounded) while collecting live packets.
        """
        if end_ts <= start_ts or end_ts - start_ts > MAX_CLIP_S:
            raise ClipError(f"a clip must last between 0 and {MAX_CLIP_S:.0f} s")
        packets = self.ring.select(start_ts, end_ts)
        if time.time() < end_ts:
            sub = self.relay.subscribe(maxsize=DEFAULT_QUEUE_PACKETS, name="clip", replay=False)
            try:
                deadline = end_ts + self.config.stall_timeout_s
                while True:
                    remaining = deadline - time.time()
                    if remaining <= 0:
                        break
                    try:
                        packet = await asyncio.wait_for(sub.get(), remaining)
                    except (TimeoutError, SubscriptionClosed):
                        break
                    if packet.ts > end_ts:
                        break
                    if packets or packet.keyframe:
                        packets.append(packet)
            finally:
                sub.close()
        return await self.pools.evidence.run(remux, packets, Path(path))

    # -- health --------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """Figures for the API and /metrics; JSON-serialisable, passwords masked."""
        cfg = self.config
        now_m = time.monotonic()
        codec = self.codec
        last = self.supervisor.last_alive
        main = self._readers[0] if self._readers else None
        subs = self.relay.subscribers
        pps, bytes_ps = self._packets.rates(now_m)
        view = self.h264_view
        browser_video: BrowserVideo | None = None
        browser_reason: str | None = None
        if codec is not None and codec.browser_playable:
            browser_video = BrowserVideo.DIRECT
        elif codec is not None and view is not None:
            browser_video, browser_reason = view.browser_video()
        elif codec is not None:
            browser_video, browser_reason = BrowserVideo.PICTURES, codec.unplayable_reason
        return {
            "id": cfg.id,
            "name": cfg.name or cfg.id,
            "url": urls.mask_url(cfg.url),
            "analysis_url": urls.mask_url(cfg.analysis_url) if cfg.analysis_url else None,
            "grid": cfg.grid,
            "state": self.state.value,
            "reason": self.supervisor.reason,
            "state_since": self.supervisor.since,
            "input_fps": round(pps, 2),
            "analysed_fps": round(self._frames.rates(now_m)[0], 2),
            "bitrate_bps": round(bytes_ps * 8),
            "keyframe_interval_s": self.keyframe_interval_s,
            "width": codec.width if codec else None,
            "height": codec.height if codec else None,
            "codec": codec.codec if codec else None,
            "profile": codec.profile if codec else None,
            "browser_playable": codec.browser_playable if codec else None,
            "browser_video": browser_video,
            "browser_video_reason": browser_reason,
            "transcode": view.transcode_stats() if view else None,
            "reconnects": self._past.reconnects + (max(0, main.attempts - 1) if main else 0),
            "last_frame_age_s": round(time.time() - last, 3) if last is not None else None,
            "viewers": len([s for s in subs if s.name not in NOT_VIEWERS])
            + len(view.relay.subscribers if view else []),
            "viewer_drops": self.relay.dropped_total(),
            "viewer_queues": [s.stats() for s in subs],
            "analysis_skipped": sum(s.skipped for s in self._slots)
            + sum(b.frames_replaced for b in self._bridges)
            + self._past.frames_replaced,
            "corrupt_packets": sum(r.corrupt_packets for r in self._readers) + self._past.corrupt_packets,
            "loop_drops": sum(b.packets_dropped for b in self._bridges) + self._past.loop_drops,
            "buffer_bytes": self.ring.bytes,
            "buffer_seconds": round(self.ring.seconds, 2),
            "on_demand": False,
        }
