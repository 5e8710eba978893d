"""Latest-only hand-off of small gray frames to the analysis.

Analysis that falls behind must not queue frames up: each consumer gets a :class:`FrameSlot`
holding only the newest frame; a frame replaced before it was taken is counted in
:attr:`FrameSlot.skipped`.
"""

from __future__ import annotations

import asyncio
import logging

from streams.media import Frame

log = logging.getLogger(__name__)


class FrameSlotClosed(Exception):
    """The slot was closed (the camera was removed or the consumer left)."""


class FrameSlot:
    """Holds the newest analysis frame of one camera for one consumer (event loop only)."""

    def __init__(self, camera_id: str) -> None:
        self.camera_id = camera_id
        self._frame: Frame | None = None
        self._event = asyncio.Event()
        self.closed = False
        self.skipped = 0
        """Frames that were replaced by a newer one before the consumer took them."""
        self.taken = 0
        """Frames handed to the consumer."""

    def put(self, frame: Frame) -> None:
        """Offer a frame; an untaken older one is dropped and counted."""
        if self.closed:
            return
        if self._frame is not None:
            self.skipped += 1
        self._frame = frame
        self._event.set()

    def take(self) -> Frame | None:
        """The waiting frame, if any, without blocking."""
        frame, self._frame = self._frame, None
        self._event.clear()
        if frame is not None:
            self.taken += 1
        return frame

    async def wait_new(self) -> Frame:
        """Wait for a frame newer than the last one taken."""
        while True:
            if self.closed:
                raise FrameSlotClosed(self.camera_id)
            frame = self.take()
            if frame is not None:
                return frame
            await self._event.wait()

    def __aiter__(self) -> FrameSlot:
        return self

    async def __anext__(self) -> Frame:
        try:
            return await self.wait_new()
        except FrameSlotClosed:
            raise StopAsyncIteration from None

    def close(self) -> None:
        """Wake and end a waiting consumer."""
        self.closed = True
        self._frame = None
        self._event.set()
