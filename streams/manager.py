"""All cameras of a hub: build, start and stop their ingest; answer health questions."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from streams import urls
from streams.bridge import BridgePump
from streams.camera import CameraStream
from streams.config import SourceConfig
from streams.h264view import ViewOptions
from streams.media import CameraState
from streams.ondemand import OnDemandCamera
from streams.published import PublishedCamera
from streams.supervisor import EmitFn
from streams.transcode import DEFAULT_MAX_TRANSCODES, TranscodeBudget
from streams.workpool import MediaPools

log = logging.getLogger(__name__)

__all__ = ["CameraManager", "EmitFn"]


class CameraManager:
    """Owns one :class:`CameraStream` per camera ingested on this node.

    ``emit`` is awaited on the event loop for every camera state change:
    ``await emit("camera.online", camera_id, {"reason": ..., ...})``.

    Alone, a node ingests every configured camera (``start()``). Among several nodes, the camera
    leases (:mod:`hub.store.leases`) start and stop single cameras (``start(only=...)``,
    :meth:`start_camera`, :meth:`stop_camera`), and tell the manager which node ingests the
    others (:meth:`set_owners`) so their health says where they are instead of "offline".
    """

    def __init__(self, cameras: Sequence[SourceConfig], emit: EmitFn, data_dir: Path) -> None:
        self._configs: dict[str, SourceConfig] = {}
        for cfg in cameras:
            if cfg.id in self._configs:
                raise ValueError(f"duplicate camera id {cfg.id!r}")
            self._configs[cfg.id] = cfg
        self._emit = emit
        self._data_dir = Path(data_dir)
        self._cameras: dict[str, CameraStream] = {}
        """The cameras ingested here now (a stopped camera gets a fresh stream when it starts again)."""
        self._owners: dict[str, str | None] = {}
        """For cameras not ingested here: the node that holds each one's lease (None: nobody yet)."""
        self._locks: dict[str, asyncio.Lock] = {}
        self._dynamic: set[str] = set()
        """Pulled cameras found at run time (GB/T 28181 channels), not in the configuration."""
        # One loop task drains every reader's output: cheaper than a wake-up per packet batch.
        self._pump = BridgePump()
        self.pools = MediaPools()
        """Threads for every camera's JPEGs and clips, apart from the event loop's default pool."""
        self.transcodes = TranscodeBudget(DEFAULT_MAX_TRANSCODES)
        """How many H.264 transcodes for browsers may run at once (cameras made with a ``view``)."""
        self._started = False
        self.node: str | None = None
        """This node's id among several (set by the leases); shown as the owner of its cameras."""

    async def start(self, only: Collection[str] | None = None) -> None:
        """Start ingest of every camera, or only of those in ``only`` (returns at once; connecting
        happens in reader threads)."""
        if self._started:
            return
        self._started = True
        if self.pools.closed:  # started again after a stop
            self.pools = MediaPools()
        self._pump.start()
        for camera_id in self._configs:
            if only is None or camera_id in only:
                await self.start_camera(camera_id)
        log.info("cameras: %d of %d started", len(self._cameras), len(self._configs))

    async def stop(self) -> None:
        """Stop every camera at once; bounded (reader threads get ``JOIN_TIMEOUT_S`` together, then
        queued state events ``DRAIN_TIMEOUT_S``). Idempotent. Cancelled, it still stops the pump and
        every camera's event emitter, so nothing reaches the log afterwards."""
        if not self._started:
            return
        self._started = False
        count = len(self._cameras)
        try:
            await asyncio.gather(*(self.stop_camera(camera_id) for camera_id in list(self._cameras)))
        finally:
            await self._pump.stop()
            self.pools.shutdown()
        log.info("cameras: %d stopped", count)

    async def start_camera(self, camera_id: str) -> bool:
        """Start ingesting one configured camera here; False if it already runs (KeyError if unknown)."""
        cfg = self._configs[camera_id]
        async with self._lock(camera_id):
            if not self._started or camera_id in self._cameras:
                return False
            stream = CameraStream(cfg, self._emit, self._data_dir, self._pump, self.pools)
            self._cameras[camera_id] = stream
            self._owners.pop(camera_id, None)
            await stream.start()
        return True

    async def stop_camera(self, camera_id: str) -> bool:
        """Stop ingesting one camera here (bounded: readers get a few seconds); False if it was not running.

        Viewers' subscriptions and analysis frame slots end with it.
        """
        async with self._lock(camera_id):
            stream = self._cameras.pop(camera_id, None)
            if stream is None:
                return False
            await stream.stop()
        return True

    async def published_camera(self, config: SourceConfig) -> PublishedCamera:
        """The camera a publisher feeds (WHIP), made and started on first use, its config updated after.

        ValueError when ``config.id`` is a configured camera.
        """
        async with self._lock(config.id):
            stream = self._cameras.get(config.id)
            if (stream is None and config.id in self._configs) or (
                stream is not None and not isinstance(stream, PublishedCamera)
            ):
                raise ValueError(f"camera {config.id!r} is a configured camera")
            self._configs[config.id] = config
            if stream is None:
                stream = PublishedCamera(config, self._emit, self._data_dir, self._pump, self.pools)
                self._cameras[config.id] = stream
                await stream.start()
            return stream

    async def remove_published(self, camera_id: str) -> bool:
        """Stop and forget a camera added with :meth:`add_published`; False if it is not one."""
        async with self._lock(camera_id):
            stream = self._cameras.get(camera_id)
            if not isinstance(stream, PublishedCamera):
                return False
            del self._cameras[camera_id]
            self._configs.pop(camera_id, None)
            await stream.stop()
        return True

    async def pulled_camera(
        self, config: SourceConfig, idle_stop_s: float | None = None, view: ViewOptions | None = None
    ) -> CameraStream:
        """A camera found at run time whose source is read like a configured one's (a GB/T 28181
        channel): made and started on first use, restarted when its URL changes, renamed in place.

        ``idle_stop_s``: read it only while someone watches, stopping this long after the last
        viewer left (:class:`~streams.ondemand.OnDemandCamera`), unless it is analysed. ``view``: how
        browsers get H.264 of it should its video be H.265 (:mod:`streams.h264view`).
        ValueError when ``config.id`` is a configured or published camera.
        """
        on_demand = idle_stop_s is not None and not config.analysis.enabled
        async with self._lock(config.id):
            stream = self._cameras.get(config.id)
            if config.id in self._configs and config.id not in self._dynamic:
                raise ValueError(f"camera {config.id!r} is a configured camera")
            old = self._configs.get(config.id)
            self._configs[config.id] = config
            self._dynamic.add(config.id)
            same_kind = isinstance(stream, OnDemandCamera) == on_demand
            if stream is not None and old is not None and old.url == config.url and same_kind:
                stream.config = config
                if isinstance(stream, OnDemandCamera) and idle_stop_s is not None:
                    stream.idle_stop_s = idle_stop_s
                return stream
            if stream is not None:
                await stream.stop()
            if on_demand:
                assert idle_stop_s is not None
                stream = OnDemandCamera(
                    config, self._emit, self._data_dir, self._pump, self.pools, view, idle_stop_s=idle_stop_s
                )
            else:
                stream = CameraStream(config, self._emit, self._data_dir, self._pump, self.pools, view)
            self._cameras[config.id] = stream
            if self._started:
                await stream.start()
            return stream

    async def remove_dynamic(self, camera_id: str) -> bool:
        """Stop and forget a camera added with :meth:`pulled_camera`; False if it is not one."""
        async with self._lock(camera_id):
            if camera_id not in self._dynamic:
                return False
            self._dynamic.discard(camera_id)
            self._configs.pop(camera_id, None)
            stream = self._cameras.pop(camera_id, None)
            if stream is not None:
                await stream.stop()
        return True

    def _lock(self, camera_id: str) -> asyncio.Lock:
        # A start and a stop of one camera never interleave (a stop awaits its reader threads).
        return self._locks.setdefault(camera_id, asyncio.Lock())

    def set_owners(self, owners: dict[str, str | None]) -> None:
        """Which node ingests each camera (by lease); only cameras not running here are reported so."""
        self._owners = dict(owners)

    def owner(self, camera_id: str) -> str | None:
        """The node known to ingest a camera that does not run here (None: unknown or nobody)."""
        return self._owners.get(camera_id)

    def get(self, camera_id: str) -> CameraStream | None:
        """The camera with this id, if it is ingested on this node."""
        return self._cameras.get(camera_id)

    def running(self) -> list[str]:
        """Ids of the cameras ingested on this node, in configuration order."""
        return [c for c in self._configs if c in self._cameras]

    def ids(self) -> list[str]:
        """Configured camera ids, in configuration order."""
        return list(self._configs)

    def health(self, camera_id: str) -> dict[str, Any]:
        """Health figures of one camera (KeyError if unknown)."""
        stream = self._cameras.get(camera_id)
        if stream is not None:
            return {"source": urls.scheme(self._configs[camera_id].url), **stream.health(), "owner": self.node}
        return self._elsewhere(self._configs[camera_id])

    def health_all(self) -> list[dict[str, Any]]:
        """Health figures of every camera, in configuration order."""
        return [self.health(camera_id) for camera_id in self._configs]

    def _elsewhere(self, cfg: SourceConfig) -> dict[str, Any]:
        """Health of a camera this node does not ingest: where it is, no figures of our own."""
        owner = self._owners.get(cfg.id)
        if owner is not None and owner == self.node:  # leased here a moment ago, or being handed back
            state, reason = CameraState.STARTING, "taken by this node"
        elif owner is not None:
            state, reason = CameraState.REMOTE, f"ingested by hub node {owner}"
        elif not cfg.enabled:
            state, reason = CameraState.DISABLED, "the camera is disabled in the configuration"
        else:
            state, reason = CameraState.UNASSIGNED, "no hub node ingests it yet"
        return {
            "id": cfg.id,
            "name": cfg.name or cfg.id,
            "url": urls.mask_url(cfg.url),
            "analysis_url": urls.mask_url(cfg.analysis_url) if cfg.analysis_url else None,
            "grid": cfg.grid,
            "source": urls.scheme(cfg.url),
            "state": state.value,
            "reason": reason,
            "owner": owner,
            "state_since": None,
            "input_fps": None,
            "analysed_fps": None,
            "bitrate_bps": None,
            "keyframe_interval_s": None,
            "width": None,
            "height": None,
            "codec": None,
            "profile": None,
            "browser_playable": None,
            "reconnects": 0,
            "last_frame_age_s": None,
            "viewers": 0,
            "viewer_drops": 0,
            "viewer_queues": [],
            "analysis_skipped": 0,
            "corrupt_packets": 0,
            "loop_drops": 0,
            "buffer_bytes": 0,
            "buffer_seconds": 0.0,
            "browser_video": None,
            "browser_video_reason": None,
            "transcode": None,
            "on_demand": False,
        }
