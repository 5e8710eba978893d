"""All cameras of a hub: build, start and stop their ingest; answer health questions."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hub.config import CameraConfig
from streams.bridge import BridgePump
from streams.camera import CameraStream
from streams.supervisor import EmitFn

log = logging.getLogger(__name__)

__all__ = ["CameraManager", "EmitFn"]


class CameraManager:
    """Owns one :class:`CameraStream` per configured camera.

    ``emit`` is awaited on the event loop for every camera state change:
    ``await emit("camera.online", camera_id, {"reason": ..., ...})``.
    """

    def __init__(self, cameras: Sequence[CameraConfig], emit: EmitFn, data_dir: Path) -> None:
        self._cameras: dict[str, CameraStream] = {}
        # One loop task drains every reader's output: cheaper than a wake-up per packet batch.
        self._pump = BridgePump()
        for cfg in cameras:
            if cfg.id in self._cameras:
                raise ValueError(f"duplicate camera id {cfg.id!r}")
            self._cameras[cfg.id] = CameraStream(cfg, emit, Path(data_dir), self._pump)
        self._started = False

    async def start(self) -> None:
        """Start every camera's ingest (returns at once; connecting happens in reader threads)."""
        if self._started:
            return
        self._started = True
        self._pump.start()
        for cam in self._cameras.values():
            await cam.start()
        log.info("cameras: %d started", len(self._cameras))

    async def stop(self) -> None:
        """Stop every camera; bounded (each reader thread gets a few seconds). Idempotent."""
        if not self._started:
            return
        self._started = False
        await asyncio.gather(*(cam.stop() for cam in self._cameras.values()))
        await self._pump.stop()
        log.info("cameras: %d stopped", len(self._cameras))

    def get(self, camera_id: str) -> CameraStream | None:
        """The camera with this id, if configured."""
        return self._cameras.get(camera_id)

    def ids(self) -> list[str]:
        """Configured camera ids, in configuration order."""
        return list(self._cameras)

    def health(self, camera_id: str) -> dict[str, Any]:
        """Health figures of one camera (KeyError if unknown)."""
        return self._cameras[camera_id].health()

    def health_all(self) -> list[dict[str, Any]]:
        """Health figures of every camera, in configuration order."""
        return [cam.health() for cam in self._cameras.values()]
