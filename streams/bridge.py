"""The hand-off from a reader thread to the event loop.

The reader thread appends to a short list under a lock; the first item of a batch schedules one
``loop.call_soon_threadsafe`` and the loop takes the whole batch at once, so a busy camera costs
one loop wake-up per batch rather than one per packet. Frames for analysis are latest-only.
Packets beyond :data:`MAX_PENDING_PACKETS` (the loop is stuck) are dropped and counted, and the
next packet delivered carries a gap marker so the relay waits for a keyframe.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from streams.media import Frame, Packet

log = logging.getLogger(__name__)

MAX_PENDING_PACKETS = 512
"""Packets waiting for the loop before new ones are dropped (about 20 s of a 25 fps camera)."""


@dataclass(frozen=True, slots=True)
class Gap:
    """Packets were dropped before the loop could take them."""

    dropped: int


Batch = list[object]
Handler = Callable[[Batch, Frame | None, float], None]
"""Called on the loop with (items in order, newest frame or None, time of the newest data or 0)."""


class LoopBridge:
    """Batches reader output (control items, packets, frames) onto an asyncio loop."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, handler: Handler, camera_id: str, pump: BridgePump | None = None
    ) -> None:
        self._loop = loop
        self._pump = pump
        self._handler = handler
        self._camera_id = camera_id
        self._lock = threading.Lock()
        self._items: Batch = []
        self._pending_packets = 0
        self._frame: Frame | None = None
        self._alive = 0.0
        self._scheduled = False
        self._gap = 0
        self.packets_dropped = 0
        """Packets dropped because the loop did not take them in time."""
        self.frames_replaced = 0
        """Analysis frames replaced by a newer one before the loop took them."""
        self.wakeups = 0
        """Loop callbacks scheduled (for measuring the hand-off cost)."""
        self.closed = False

    def post(self, item: object) -> None:
        """Queue a control item (never dropped: there are few of them)."""
        with self._lock:
            self._items.append(item)
            self._schedule()

    def post_packet(self, packet: Packet) -> None:
        """Queue a packet, or drop it when the loop is far behind."""
        with self._lock:
            self._alive = packet.ts
            if self._pending_packets >= MAX_PENDING_PACKETS:
                self.packets_dropped += 1
                self._gap += 1
                if self.packets_dropped in (1, 100, 10_000):
                    log.warning("camera %s: event loop is behind, %d packets dropped", self._camera_id, self._gap)
                return
            if self._gap:
                self._items.append(Gap(self._gap))
                self._gap = 0
            self._items.append(packet)
            self._pending_packets += 1
            self._schedule()

    def post_frame(self, frame: Frame) -> None:
        """Offer the newest analysis frame; an untaken older one is replaced."""
        with self._lock:
            if self._frame is not None:
                self.frames_replaced += 1
            self._frame = frame
            self._alive = max(self._alive, frame.ts)
            self._schedule()

    def _schedule(self) -> None:
        # Caller holds the lock.
        if self._scheduled or self.closed:
            return
        if self._pump is not None:
            self._scheduled = True  # the pump drains it on its next tick: no cross-thread wake-up
            self._pump.ready.append(self)
            return
        self._scheduled = True
        self.wakeups += 1
        try:
            self._loop.call_soon_threadsafe(self._flush)
        except RuntimeError:  # the loop is closed: the hub is shutting down
            self.closed = True

    def _flush(self) -> None:
        with self._lock:
            items, self._items = self._items, []
            frame, self._frame = self._frame, None
            alive, self._alive = self._alive, 0.0
            self._pending_packets = 0
            self._scheduled = False
        if self.closed:
            return
        self._handler(items, frame, alive)

    def close(self) -> None:
        """Stop delivering; later posts are discarded."""
        with self._lock:
            self.closed = True
            self._items = []
            self._frame = None


class BridgePump:
    """Drains many bridges from one loop task every ``interval_s``.

    With dozens of cameras this replaces one ``call_soon_threadsafe`` wake-up per packet batch
    with a fixed number of ticks per second (measured with scripts/bench_ingest.py), at the cost
    of up to ``interval_s`` of extra latency.
    """

    def __init__(self, interval_s: float = 0.01) -> None:
        self.interval_s = interval_s
        self.ready: deque[LoopBridge] = deque()
        """Bridges with something to deliver, appended by reader threads (deque appends are atomic)."""
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the draining task on the running loop."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="bridge-pump")

    async def _run(self) -> None:
        ready = self.ready
        while True:
            await asyncio.sleep(self.interval_s)
            # Only the bridges that posted since the last tick: idle cameras cost nothing here.
            for _ in range(len(ready)):
                bridge = ready.popleft()
                try:
                    bridge._flush()
                except Exception:  # one camera's bug must not stop every other camera
                    log.exception("camera %s: error handling reader output", bridge._camera_id)

    async def stop(self) -> None:
        """Cancel the task and wait for it."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
