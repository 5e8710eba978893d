"""What browsers get of a camera whose own video they cannot play (H.265): H.264 all the same.

Browsers mostly cannot play H.265 over WebRTC (and aiortc cannot packetise it), while many GB/T
28181 cameras send it by default. An :class:`H264View` gives such a camera a second packet relay,
of H.264, that its browser viewers share. It is fed only while somebody watches it:

1. by the camera's **H.264 sub-stream**, when it has one (``sub_url``: for a GB channel, the same
   channel invited with ``a=streamnumber:1``): a second reader, packets passed through as they are;
   the main stream is left to the analysis (or to sleep, when nobody analyses it);
2. otherwise by one shared **transcode** (:mod:`streams.transcode`) of the main stream, when the
   hub's :class:`~streams.transcode.TranscodeBudget` has room; past that, viewers are refused with
   the reason and the pages show snapshots.

Whether the sub-stream is H.264 is learned the first time it is opened (a sub-stream that is H.265
too, or that the device refuses, means transcoding from then on).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from streams.bridge import LoopBridge
from streams.config import SourceConfig
from streams.media import CodecInfo, Packet
from streams.reader import Connected, Failed, Reader, ReaderSettings
from streams.relay import PacketRelay
from streams.sources import SourceOptions
from streams.transcode import TranscodeBudget, Transcoder

log = logging.getLogger(__name__)

JOIN_TIMEOUT_S = 2.0


class BrowserVideo(StrEnum):
    """How a browser viewer gets a camera's video (``browser_video`` in ``GET /api/cameras``)."""

    DIRECT = "direct"
    """The camera's own H.264, passed through."""
    SUBSTREAM = "substream"
    """The camera's H.264 sub-stream, passed through."""
    TRANSCODED = "transcoded"
    """One H.264 transcode of the camera's video, shared by its viewers."""
    PICTURES = "pictures"
    """No video for browsers: snapshots (the reason says why)."""


@dataclass(frozen=True)
class ViewOptions:
    """How a camera that browsers cannot play is given to them."""

    budget: TranscodeBudget
    """The hub's limit on transcodes running at once."""
    sub_url: str | None = None
    """The camera's sub-stream, tried first (None: transcode straight away)."""


class H264View:
    """A camera's H.264 relay for browsers, fed while watched (event loop only; start/aclose)."""

    def __init__(
        self, camera_id: str, main: PacketRelay, config: SourceConfig, data_dir: Path, options: ViewOptions
    ) -> None:
        self.camera_id = camera_id
        self._main = main
        self._config = config
        self._data_dir = data_dir
        self.budget = options.budget
        self.sub_url = options.sub_url
        self.relay = PacketRelay(f"{camera_id}/h264")
        """What browser viewers subscribe to."""
        self.relay.on_subscribers = self._on_subscribers
        self.sub_h264: bool | None = None if options.sub_url else False
        """Whether the sub-stream is H.264 (None: not known yet)."""
        self._reader: Reader | None = None
        self._bridge: LoopBridge | None = None
        self.transcoder: Transcoder | None = None
        """The running transcode, if any."""
        self._slot = False
        """Whether this camera holds one of the budget's transcodes (taken as its first viewer
        subscribes, so that two offers at once cannot both be promised the last one)."""
        self._last_transcode: dict[str, Any] | None = None
        self._changed: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self.on_viewers: Callable[[], None] | None = None
        """Called when a viewer joins or leaves (the camera's own demand follows them)."""

    # -- life ------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start watching for viewers (on the loop)."""
        if self._task is None:
            self._changed = asyncio.Event()
            self._task = asyncio.create_task(self._run(), name=f"camera-{self.camera_id}-h264")

    async def aclose(self) -> None:
        """Stop feeding and end every viewer's subscription (idempotent)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        try:
            await self._stop_sub()
            await self._stop_transcode()
        finally:
            self._give_slot()
            self.relay.close()

    # -- what viewers get ------------------------------------------------------------------------

    @property
    def feeding(self) -> BrowserVideo | None:
        """What feeds the relay now (None: nothing)."""
        if self.transcoder is not None:
            return BrowserVideo.TRANSCODED
        if self._reader is not None and self.sub_h264:
            return BrowserVideo.SUBSTREAM
        return None

    def refusal(self) -> str | None:
        """Why a new viewer would get no H.264 now (the transcode limit), or None."""
        if self._slot or self.sub_h264 is not False or self.budget.available(self.camera_id):
            return None
        return self.budget.refusal()

    def fallback(self) -> PacketRelay | None:
        """For a viewer whose packets turn out not to be H.264: this relay, unless refused."""
        reason = self.refusal()
        if reason is not None:
            self.budget.refused += 1
            log.info("camera %s: a viewer gets no H.264: %s", self.camera_id, reason)
            return None
        return self.relay

    def browser_video(self) -> tuple[BrowserVideo, str | None]:
        """What a browser viewer gets now or would get, and why it gets pictures, if so."""
        feeding = self.feeding
        if feeding is not None:
            return feeding, None
        if self.sub_h264:
            return BrowserVideo.SUBSTREAM, None
        reason = self.refusal()
        return (BrowserVideo.PICTURES, reason) if reason else (BrowserVideo.TRANSCODED, None)

    def transcode_stats(self) -> dict[str, Any] | None:
        """The running (or last) transcode's figures."""
        return self.transcoder.stats() if self.transcoder is not None else self._last_transcode

    # -- feeding ---------------------------------------------------------------------------------

    def _on_subscribers(self) -> None:
        if self.relay.subscribers and self.sub_h264 is False:
            self._take_slot()
        if self._changed is not None:
            self._changed.set()
        if self.on_viewers is not None:
            self.on_viewers()

    async def _run(self) -> None:
        assert self._changed is not None
        changed = self._changed
        while True:
            changed.clear()
            if not self.relay.subscribers:
                await self._stop_sub()
                await self._stop_transcode()
                self._give_slot()
            elif self.sub_h264 is not False:
                if self._reader is None:
                    self._start_sub()
            else:
                await self._stop_sub()
                if self.transcoder is None and not self._start_transcode():
                    self.budget.refused += len(self.relay.subscribers)
                    reason = self.budget.refusal()
                    log.warning("camera %s: browser viewers refused: %s", self.camera_id, reason)
                    self.relay.close()  # their sessions end; the pages show snapshots
            await changed.wait()

    def _take_slot(self) -> bool:
        if not self._slot:
            self._slot = self.budget.take(self.camera_id)
        return self._slot

    def _give_slot(self) -> None:
        if self._slot:
            self._slot = False
            self.budget.give(self.camera_id)

    def _start_transcode(self) -> bool:
        if not self._take_slot():
            return False
        self.transcoder = Transcoder(self.camera_id, self._main, self.relay)
        self.transcoder.start()
        return True

    async def _stop_transcode(self) -> None:
        transcoder, self.transcoder = self.transcoder, None
        if transcoder is not None:
            try:
                await transcoder.stop()
            finally:
                self._last_transcode = transcoder.stats()

    def _start_sub(self) -> None:
        assert self.sub_url is not None
        cfg = self._config
        loop = asyncio.get_running_loop()
        read_timeout = max(2 * cfg.stall_timeout_s, cfg.stall_timeout_s + 5.0)
        opts = SourceOptions(cfg.connect_timeout_s, read_timeout, self._data_dir)
        settings = ReaderSettings(cfg.id, self.sub_url, opts, cfg.reconnect_max_s, relay=True, analysis_fps=None)
        self._bridge = LoopBridge(loop, self._on_sub, cfg.id)
        self._reader = Reader(settings, self._bridge)
        self._reader.start()
        log.info("camera %s: opening its sub-stream for browser viewers", self.camera_id)

    async def _stop_sub(self) -> None:
        reader, self._reader = self._reader, None
        bridge, self._bridge = self._bridge, None
        if reader is None:
            return
        reader.stop()
        try:
            if not await reader.wait_stopped(JOIN_TIMEOUT_S):
                log.warning("camera %s: sub-stream reader did not stop within %.1f s", self.camera_id, JOIN_TIMEOUT_S)
        finally:
            if bridge is not None:
                bridge.close()
        self.relay.gap()

    def _on_sub(self, items: list[object], _frame: object, _alive: float) -> None:
        for item in items:
            if isinstance(item, Connected):
                self._sub_connected(item.codec)
            elif isinstance(item, Failed):
                self.relay.gap()
                if self.sub_h264 is None:  # never opened: taken as no sub-stream
                    self._no_sub(f"its sub-stream could not be opened ({item.reason})")
            elif type(item) is Packet and self.sub_h264:
                self.relay.publish(item)

    def _sub_connected(self, codec: CodecInfo) -> None:
        if codec.codec == "h264" and codec.browser_playable:
            if not self.sub_h264:
                log.info("camera %s: browser viewers get its H.264 sub-stream", self.camera_id)
            self.sub_h264 = True
        else:
            self._no_sub(f"its sub-stream is {codec.codec}")

    def _no_sub(self, why: str) -> None:
        self.sub_h264 = False
        log.info("camera %s: %s; browser viewers get a transcode of its main stream", self.camera_id, why)
        if self._changed is not None:
            self._changed.set()
