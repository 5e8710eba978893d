"""Who has a call page open, and the per-user channel call notifications go out on."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

QUEUE_MESSAGES = 64
"""Per-connection notification queue. Overflow closes the connection; the page reconnects and
re-reads its calls (a snapshot), so no state is lost — nothing is buffered without bound."""


class Channel:
    """One open ``/ws/calls`` connection of a user."""

    def __init__(self, username: str) -> None:
        self.username = username
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_MESSAGES)
        self.overflowed = asyncio.Event()

    def push(self, message: dict[str, Any]) -> None:
        """Queue a message; on overflow, flag the channel to close."""
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            log.info("calls channel %s: overflow, closing it so the page resyncs", self.username)
            self.overflowed.set()


class Presence:
    """The open call channels per user."""

    def __init__(self) -> None:
        self._channels: dict[str, set[Channel]] = {}
        self.on_change: Callable[[], None] = lambda: None
        """Called when a user becomes reachable here or stops being (the node's registry entry says who is)."""

    def open(self, username: str) -> Channel:
        """Register a new channel for ``username``."""
        ch = Channel(username)
        first = username not in self._channels
        self._channels.setdefault(username, set()).add(ch)
        if first:
            self.on_change()
        return ch

    def close(self, ch: Channel) -> None:
        """Forget a channel (idempotent)."""
        chans = self._channels.get(ch.username)
        if chans is not None:
            chans.discard(ch)
            if not chans:
                del self._channels[ch.username]
                self.on_change()

    def users(self) -> list[str]:
        """Who has a call page open here."""
        return sorted(self._channels)

    def reachable(self, username: str) -> bool:
        """Whether ``username`` has a call page open."""
        return bool(self._channels.get(username))

    def send(self, username: str, message: dict[str, Any]) -> None:
        """Push ``message`` to every channel of ``username``."""
        for ch in self._channels.get(username, ()):
            ch.push(message)

    def count(self) -> int:
        """Open channels."""
        return sum(len(c) for c in self._channels.values())
