"""The in-process bus: wakes live subscribers after events are committed.

The bus never holds the only copy of an event — the log does — so a subscriber that
falls behind is not buffered without bound: its queue overflows, it is marked, and its
owner resumes from the log with the last id it delivered.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Iterable

from hub.store.events import Event

logger = logging.getLogger(__name__)


class Subscription:
    """A bounded queue of live events for one consumer (drop-newest, then flagged overflowed)."""

    def __init__(self, bus: EventBus, maxsize: int, name: str) -> None:
        self.name = name
        self.maxsize = maxsize
        self.overflowed = False
        self.dropped = 0
        self._bus = bus
        self._queue: deque[Event] = deque()
        self._wake = asyncio.Event()

    def _push(self, events: Iterable[Event]) -> None:
        if self.overflowed:
            return
        for ev in events:
            if len(self._queue) >= self.maxsize:
                # Keep what we have; the consumer resumes from the log instead.
                self.overflowed = True
                self.dropped += 1
                self._bus.drops += 1
                logger.info("subscription %s: overflow at %d events, asking for resync", self.name, self.maxsize)
                break
            self._queue.append(ev)
        self._wake.set()

    async def get(self) -> list[Event]:
        """Wait for and take every queued event (may be empty when overflowed)."""
        while not self._queue and not self.overflowed:
            self._wake.clear()
            await self._wake.wait()
        return self.take()

    def take(self) -> list[Event]:
        """Take whatever is queued now, without waiting."""
        out = list(self._queue)
        self._queue.clear()
        return out

    def close(self) -> None:
        """Stop receiving; idempotent."""
        self._bus._unsubscribe(self)


class EventBus:
    """Fan-out of committed events to live subscribers on this node."""

    def __init__(self) -> None:
        self._subs: set[Subscription] = set()
        # Subscribers of a few exact types (thousands of worker channels) are indexed by type,
        # so a burst of other events costs them nothing.
        self._typed: dict[str, set[Subscription]] = {}
        self._types_of: dict[Subscription, frozenset[str]] = {}
        self.drops = 0
        """Subscriptions that overflowed (each one resyncs from the log)."""

    def subscribe(self, maxsize: int, name: str = "?", types: Iterable[str] | None = None) -> Subscription:
        """A new bounded subscription to every event, or only to the exact ``types``; close it when done."""
        sub = Subscription(self, maxsize, name)
        if types is None:
            self._subs.add(sub)
        else:
            self._types_of[sub] = frozenset(types)
            for t in self._types_of[sub]:
                self._typed.setdefault(t, set()).add(sub)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)
        for t in self._types_of.pop(sub, ()):
            subs = self._typed.get(t)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._typed[t]

    def publish(self, events: list[Event]) -> None:
        """Hand committed events to every interested subscriber, in order; never blocks."""
        for sub in list(self._subs):
            sub._push(events)
        if not self._typed:
            return
        per_sub: dict[Subscription, list[Event]] = {}
        for ev in events:
            for sub in self._typed.get(ev.type, ()):
                per_sub.setdefault(sub, []).append(ev)
        for sub, evs in per_sub.items():
            sub._push(evs)

    @property
    def subscriber_count(self) -> int:
        """How many live subscriptions exist."""
        return len(self._subs) + len(self._types_of)
