"""Time for deadlines: the system clock, or a manual one that tests move forward."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Protocol


class Clock(Protocol):
    """What the deadline scheduler needs from time."""

    def now(self) -> float:
        """Unix seconds."""
        ...

    async def sleep_until(self, when: float | None, wake: asyncio.Event) -> None:
        """Return at ``when`` (never, if ``None``) or as soon as ``wake`` is set."""
        ...


class SystemClock:
    """Wall-clock time."""

    def now(self) -> float:
        """Unix seconds."""
        return time.time()

    async def sleep_until(self, when: float | None, wake: asyncio.Event) -> None:
        """Sleep until ``when`` or until woken."""
        timeout = None if when is None else max(0.0, when - self.now())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout)


class ManualClock:
    """A clock that only moves when told to: tests advance it instead of sleeping."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = start
        self._sleepers: set[asyncio.Event] = set()

    def now(self) -> float:
        """The current manual time."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward and wake everything waiting on it."""
        self._now += seconds
        for ev in list(self._sleepers):
            ev.set()

    async def sleep_until(self, when: float | None, wake: asyncio.Event) -> None:
        """Wait until woken or until time has been advanced past ``when``."""
        if when is not None and when <= self._now:
            return
        moved = asyncio.Event()
        self._sleepers.add(moved)
        try:
            waits = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(moved.wait())]
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waits:
                    w.cancel()
        finally:
            self._sleepers.discard(moved)
