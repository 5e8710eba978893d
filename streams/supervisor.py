"""The state of one camera and the events that announce every change.

States: ``starting → online → stalled → offline`` (and back), plus ``disabled``, and ``standby``
for a camera read only while watched (:mod:`streams.ondemand`). The reader thread
reports connections and failures (it owns reconnecting, with exponential backoff and jitter); a
watchdog task on the loop turns silence longer than ``stall_timeout_s`` into ``stalled``. Every
change of state or reason is emitted as an event (``camera.online``, ``camera.stalled``,
``camera.offline``, ``camera.disabled``, ``camera.standby``) by one emitter task, in order.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from streams.media import CameraState

log = logging.getLogger(__name__)

EmitFn = Callable[[str, str, dict[str, Any]], Awaitable[None]]
"""``await emit(event_type, camera_id, data)``: appends an event to the hub's log."""

MAX_PENDING_EVENTS = 256
"""State events waiting for ``emit``; past this the oldest are dropped and counted (a stuck log)."""
DRAIN_TIMEOUT_S = 2.0
"""How long stop() lets queued state events reach the log."""


class Supervisor:
    """Tracks one camera's state, detects stalls and emits state events (event loop only)."""

    def __init__(self, camera_id: str, stall_timeout_s: float, emit: EmitFn, info: dict[str, Any]) -> None:
        self.camera_id = camera_id
        self.stall_timeout_s = stall_timeout_s
        self._emit = emit
        self._info = info
        self.state = CameraState.STARTING
        self.reason = "connecting"
        self.since = time.time()
        """When the current state began (wall clock)."""
        self.last_alive: float | None = None
        """Wall-clock time of the newest packet."""
        self._pending: deque[tuple[str, dict[str, Any]]] = deque()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._busy = False
        self._idle = asyncio.Event()
        self._idle.set()
        self.events_dropped = 0
        """State events lost because ``emit`` did not keep up."""

    def start(self, disabled: bool = False, standby: str | None = None) -> None:
        """Start the emitter and, unless disabled, the stall watchdog; ``standby``: the camera
        starts in standby, with this reason (nothing is read until someone watches)."""
        if self._tasks:
            return
        self._tasks.append(asyncio.create_task(self._emitter(), name=f"camera-{self.camera_id}-events"))
        if disabled:
            self.set_state(CameraState.DISABLED, "the camera is disabled in the configuration")
            return
        if standby is not None:
            self.set_state(CameraState.STANDBY, standby)
            self._tasks.append(asyncio.create_task(self._watchdog(), name=f"camera-{self.camera_id}-watchdog"))
        else:
            self._queue_event("camera.starting", {"state": "starting", "reason": self.reason})
            self._tasks.append(asyncio.create_task(self._watchdog(), name=f"camera-{self.camera_id}-watchdog"))

    def set_state(self, state: CameraState, reason: str, **data: Any) -> None:
        """Move to ``state``; emits an event when the state or the reason changed."""
        if state == self.state and reason == self.reason:
            return
        previous = self.state
        if state != previous:
            self.since = time.time()
        self.state = state
        self.reason = reason
        quiet = (CameraState.ONLINE, CameraState.DISABLED, CameraState.STANDBY, CameraState.STARTING)
        level = logging.INFO if state in quiet else logging.WARNING
        log.log(level, "camera %s: %s (%s)", self.camera_id, state.value, reason or "ok")
        self._queue_event(
            f"camera.{state.value}", {"state": state.value, "previous": previous.value, "reason": reason, **data}
        )

    def connected(self, reason: str, **data: Any) -> None:
        """The reader opened the source and packets flow."""
        self.last_alive = time.time()
        self.set_state(CameraState.ONLINE, reason, **data)

    def failed(self, reason: str, retry_in_s: float) -> None:
        """The reader lost or could not open the source; it retries after ``retry_in_s``."""
        self.set_state(CameraState.OFFLINE, reason, retry_in_s=round(retry_in_s, 2))

    def alive(self, ts: float) -> None:
        """Data arrived; a stalled camera is online again."""
        self.last_alive = ts
        if self.state == CameraState.STALLED:
            self.set_state(CameraState.ONLINE, "video resumed")

    def note(self, reason: str) -> None:
        """Change the reason while online (a problem that does not stop the video)."""
        if self.state == CameraState.ONLINE:
            self.set_state(CameraState.ONLINE, reason)

    def _queue_event(self, event_type: str, data: dict[str, Any]) -> None:
        if len(self._pending) >= MAX_PENDING_EVENTS:
            self._pending.popleft()
            self.events_dropped += 1
            log.error(
                "camera %s: event log is not keeping up, %d state events dropped", self.camera_id, self.events_dropped
            )
        self._pending.append((event_type, {**self._info, **data}))
        self._idle.clear()
        self._wake.set()

    async def _emitter(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                event_type, data = self._pending.popleft()
                self._busy = True
                try:
                    await self._emit(event_type, self.camera_id, data)
                except asyncio.CancelledError:
                    raise
                except Exception:  # the log failing must not stop the camera; the state is still in health
                    log.exception("camera %s: could not emit %s", self.camera_id, event_type)
                finally:
                    self._busy = False
            self._idle.set()

    async def _watchdog(self) -> None:
        period = min(0.25, self.stall_timeout_s / 4)
        while True:
            await asyncio.sleep(period)
            if self.state == CameraState.ONLINE and self.last_alive is not None:
                silent = time.time() - self.last_alive
                if silent >= self.stall_timeout_s:
                    self.set_state(
                        CameraState.STALLED, f"no video for {self.stall_timeout_s:g} s; the connection is open"
                    )

    async def stop(self, drain: bool = True) -> None:
        """Stop the watchdog, let queued events out (bounded; skipped with ``drain=False``), then
        stop the emitter. Nothing is emitted after this returns, even if it is cancelled."""
        tasks, self._tasks = self._tasks, []
        for task in tasks[1:]:
            task.cancel()
        try:
            if tasks and drain:
                try:
                    await asyncio.wait_for(self._idle.wait(), DRAIN_TIMEOUT_S)
                except TimeoutError:
                    log.warning(
                        "camera %s: %d state events not emitted at shutdown", self.camera_id, len(self._pending)
                    )
        finally:
            for task in tasks[:1]:
                task.cancel()
            if self._pending:
                log.info("camera %s: %d state events left unsent at stop", self.camera_id, len(self._pending))
            self._pending.clear()
            await asyncio.gather(*tasks, return_exceptions=True)
