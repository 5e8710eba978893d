"""A camera read only while someone watches it: a GB/T 28181 channel nobody analyses.

Inviting every channel of a district's NVRs all the time would take their uplinks and the hub's
ports for pictures nobody looks at. An :class:`OnDemandCamera` starts in ``standby``: no reader, no
stream. The first viewer (a WHEP player, a wall tile, a call that pulls the camera in: anything that
subscribes to its packet relay) wakes it: its reader starts and opens the source (for a GB channel,
an INVITE), and the viewer's subscription gets the first keyframe as for any camera. When the last
viewer leaves, the reader keeps going for ``idle_stop_s`` (a tile that remounts, a page reloading),
then stops, which closes the source (BYE), and the camera is in standby again.

While awake it is an ordinary camera: a source that fails is reopened with the reader's backoff and
the camera is ``offline`` meanwhile; a source that is known to be unreachable (its device offline)
makes a sleeping camera ``offline`` too, with the reason (:meth:`OnDemandCamera.source_down`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

from streams.bridge import BridgePump
from streams.camera import CameraStream
from streams.config import SourceConfig
from streams.h264view import ViewOptions
from streams.media import CameraState
from streams.supervisor import EmitFn
from streams.workpool import MediaPools

log = logging.getLogger(__name__)

INTERNAL_SUBSCRIBERS = frozenset({"clip", "snapshot"})
"""Relay subscriptions the camera makes for itself: they use packets that flow, never ask for them
(a transcode for browsers does ask: its viewers watch through it)."""
STANDBY_REASON = "read only while watched; nobody watches it now"


class OnDemandCamera(CameraStream):
    """A :class:`CameraStream` whose reader runs only while its packets have a viewer."""

    def __init__(
        self,
        config: SourceConfig,
        emit: EmitFn,
        data_dir: Path,
        pump: BridgePump | None = None,
        pools: MediaPools | None = None,
        view: ViewOptions | None = None,
        *,
        idle_stop_s: float,
    ) -> None:
        super().__init__(config, emit, data_dir, pump, pools, view)
        self.idle_stop_s = idle_stop_s
        """How long the stream stays open after its last viewer left."""
        self.wakes = 0
        """Times a viewer woke the camera."""
        self.sleeps = 0
        """Times it went back to standby (its stream ended for want of viewers)."""
        self._down: str | None = None
        self._resume_dts: int | None = None
        """Where the camera's timeline stopped when it last slept."""
        self._changed: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self.relay.on_subscribers = self._on_subscribers
        if self.h264_view is not None:
            self.h264_view.on_viewers = self._on_subscribers

    def watchers(self) -> int:
        """Subscriptions that want the camera's packets (viewers, calls), also through its H.264 view
        (whose sub-stream alone would leave the camera's state, snapshots and clips without video)."""
        own = sum(1 for s in self.relay.subscribers if s.name not in INTERNAL_SUBSCRIBERS)
        return own + (len(self.h264_view.relay.subscribers) if self.h264_view is not None else 0)

    @property
    def awake(self) -> bool:
        """Whether the reader runs (the source is open, or being opened or reopened)."""
        return bool(self._readers)

    async def start(self) -> None:
        """Start in standby (a disabled camera only says it is disabled)."""
        if self._started:
            return
        if not self.config.enabled:
            await super().start()
            return
        self._started = True
        self._changed = asyncio.Event()
        self.supervisor.start(standby=STANDBY_REASON)
        if self.h264_view is not None:
            self.h264_view.start()
        self._task = asyncio.create_task(self._run(), name=f"camera-{self.id}-on-demand")

    async def stop(self) -> None:
        """Stop the demand watch, then the camera (its reader, if awake: the source closes)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        await super().stop()

    def source_down(self, reason: str | None) -> None:
        """The source cannot be reached now (``reason``), or can again (None). A sleeping camera
        shows it (``offline`` with the reason, or ``standby`` again); an awake one finds out
        through its reader."""
        self._down = reason
        if not self.awake and self._started and self.config.enabled:
            self._show_asleep()

    def _show_asleep(self) -> None:
        if self._down is not None:
            self.supervisor.set_state(CameraState.OFFLINE, self._down)
        else:
            self.supervisor.set_state(CameraState.STANDBY, STANDBY_REASON)

    def _on_subscribers(self) -> None:
        if self._changed is not None:
            self._changed.set()

    async def _run(self) -> None:
        """Wake on the first viewer; sleep ``idle_stop_s`` after the last one left."""
        assert self._changed is not None
        changed = self._changed
        idle_since: float | None = None
        while True:
            changed.clear()
            if self.watchers():
                idle_since = None
                if not self.awake:
                    self._wake()
                await changed.wait()
            elif self.awake:
                now = time.monotonic()
                idle_since = now if idle_since is None else idle_since
                remaining = idle_since + self.idle_stop_s - now
                if remaining <= 0:
                    await self._sleep()
                    idle_since = None
                    continue
                try:
                    await asyncio.wait_for(changed.wait(), remaining)
                except TimeoutError:
                    pass
            else:
                await changed.wait()

    def _wake(self) -> None:
        self.wakes += 1
        self.relay.gap()  # a keyframe cached before the sleep is no live picture
        self.ring.clear()
        log.info("camera %s: a viewer came; opening its stream", self.id)
        self.supervisor.set_state(CameraState.STARTING, "opening the stream for a viewer")
        self._start_readers(self._resume_dts)

    async def _sleep(self) -> None:
        main = self._readers[0] if self._readers else None
        self._resume_dts = main.last_dts if main is not None else self._resume_dts
        await self._stop_readers()
        self.sleeps += 1
        self.relay.gap()
        self.ring.clear()
        log.info("camera %s: nobody watched it for %.0f s; stream closed, on standby", self.id, self.idle_stop_s)
        self._show_asleep()

    def health(self) -> dict[str, Any]:
        """The camera's figures, with ``on_demand`` true."""
        return {**super().health(), "on_demand": True}
