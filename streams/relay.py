"""Fan-out of a camera's encoded packets to any number of viewers, without decoding.

Runs on the event loop. A new subscriber first gets the cached keyframe group (keyframe with its
SPS/PPS in front, then the packets since), so it can show a picture at once. Each subscriber has
a bounded queue; when it is full the subscriber drops packets until the next keyframe (counted in
:attr:`PacketSubscription.dropped`) and never slows the others or grows memory.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from streams.media import CodecInfo, Packet

log = logging.getLogger(__name__)

DEFAULT_QUEUE_PACKETS = 120
"""Default subscriber queue: a few seconds of a 25 fps camera."""
GOP_CACHE_MAX_BYTES = 8 * 1024 * 1024
"""Largest keyframe group kept for new subscribers; a longer one is not cached."""

_ids = itertools.count(1)


class SubscriptionClosed(Exception):
    """The subscription ended (unsubscribed, or the camera was removed)."""


class PacketSubscription:
    """One consumer's bounded queue of packets; iterate it or ``await get()``."""

    def __init__(self, relay: PacketRelay, maxsize: int, name: str) -> None:
        if maxsize < 2:
            raise ValueError("maxsize must be at least 2")
        self._relay = relay
        self.maxsize = maxsize
        self.name = name
        self._queue: deque[Packet] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._need_keyframe = True
        self._lagging = False
        self.closed = False
        self.dropped = 0
        """Packets this subscriber lost because it fell behind."""
        self.delivered = 0
        """Packets handed to the consumer."""

    @property
    def codec(self) -> CodecInfo | None:
        """Codec parameters of the stream (SPS/PPS as ``extradata``); each packet carries its own too."""
        return self._queue[0].codec if self._queue else self._relay.codec

    def qsize(self) -> int:
        """Packets waiting."""
        return len(self._queue)

    def _offer(self, packet: Packet) -> None:
        if self.closed:
            return
        q = self._queue
        if self._need_keyframe:
            if not packet.keyframe:
                if self._lagging:  # joining or resyncing after a break is not this viewer's loss
                    self.dropped += 1
                return
            self._need_keyframe = False
            self._lagging = False
            if len(q) >= self.maxsize // 2:  # still far behind: start fresh at this keyframe
                self.dropped += len(q)
                q.clear()
        elif len(q) >= self.maxsize:
            if packet.keyframe:
                self.dropped += len(q)
                q.clear()
            else:
                self._need_keyframe = True
                self._lagging = True
                self.dropped += 1
                if self.dropped == 1 or self.dropped % 1000 == 0:
                    log.info(
                        "camera %s: viewer %s is slow, %d packets dropped",
                        self._relay.camera_id,
                        self.name,
                        self.dropped,
                    )
                return
        q.append(packet)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _resync(self) -> None:
        """The stream broke (reconnect, gap): wait for the next keyframe without counting a drop."""
        self._need_keyframe = True
        self._lagging = False

    def get_nowait(self) -> Packet | None:
        """The next packet, or None if none is waiting."""
        if self._queue:
            self.delivered += 1
            return self._queue.popleft()
        if self.closed:
            raise SubscriptionClosed(self.name)
        return None

    async def get(self) -> Packet:
        """Wait for the next packet; raises :class:`SubscriptionClosed` when closed."""
        while True:
            packet = self.get_nowait()
            if packet is not None:
                return packet
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def __aiter__(self) -> PacketSubscription:
        return self

    async def __anext__(self) -> Packet:
        try:
            return await self.get()
        except SubscriptionClosed:
            raise StopAsyncIteration from None

    def close(self) -> None:
        """Stop receiving; a waiting :meth:`get` ends with :class:`SubscriptionClosed`."""
        if self.closed:
            return
        self.closed = True
        self._queue.clear()
        self._relay._forget(self)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def stats(self) -> dict[str, Any]:
        """Figures for the health page."""
        return {"name": self.name, "queued": len(self._queue), "dropped": self.dropped, "delivered": self.delivered}


class PacketRelay:
    """Keeps the current keyframe group and fans packets out to subscribers (event loop only)."""

    def __init__(self, camera_id: str) -> None:
        self.camera_id = camera_id
        self.codec: CodecInfo | None = None
        self._subs: list[PacketSubscription] = []
        self._gop: list[Packet] = []
        self._gop_bytes = 0
        self.dropped_by_gone = 0
        """Drops of subscribers that have since left (so totals never go down)."""
        self.on_subscribers: Callable[[], None] | None = None
        """Called (on the loop) after a subscriber joins or leaves: an on-demand camera wakes or
        sleeps by it."""

    def publish(self, packet: Packet) -> None:
        """Hand one packet to every subscriber and update the keyframe cache."""
        self.codec = packet.codec
        if packet.keyframe:
            self._gop = [packet]
            self._gop_bytes = packet.size
        elif packet.discontinuity:
            self.gap()
        elif self._gop:
            self._gop_bytes += len(packet.data)
            if self._gop_bytes > GOP_CACHE_MAX_BYTES:
                self._gop = []
            else:
                self._gop.append(packet)
        for sub in self._subs:
            sub._offer(packet)

    def gap(self) -> None:
        """Packets were lost upstream: everyone restarts at the next keyframe."""
        self._gop = []
        self._gop_bytes = 0
        for sub in self._subs:
            sub._resync()

    def keyframe_group(self) -> list[Packet]:
        """The newest keyframe and the packets after it (a copy)."""
        return list(self._gop)

    def subscribe(
        self, maxsize: int = DEFAULT_QUEUE_PACKETS, name: str | None = None, replay: bool = True
    ) -> PacketSubscription:
        """A new subscriber, starting with the cached keyframe group (unless ``replay`` is False)."""
        sub = PacketSubscription(self, maxsize, name or f"sub{next(_ids)}")
        gop = self._gop if replay and len(self._gop) <= maxsize else []
        for packet in gop:
            sub._offer(packet)
        self._subs.append(sub)
        if self.on_subscribers is not None:
            self.on_subscribers()
        return sub

    def unsubscribe(self, sub: PacketSubscription) -> None:
        """Remove a subscriber (same as ``sub.close()``)."""
        sub.close()

    def _forget(self, sub: PacketSubscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)
            self.dropped_by_gone += sub.dropped
            if self.on_subscribers is not None:
                self.on_subscribers()

    @property
    def subscribers(self) -> list[PacketSubscription]:
        """Current subscribers."""
        return list(self._subs)

    def dropped_total(self) -> int:
        """Packets dropped by slow subscribers, present and past."""
        return self.dropped_by_gone + sum(s.dropped for s in self._subs)

    def close(self) -> None:
        """End every subscription."""
        for sub in list(self._subs):
            sub.close()
