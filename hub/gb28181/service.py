"""The hub's side of the GB/T 28181 platform (:mod:`streams.gb28181`): thin on purpose.

A device going online or offline is an event in the log (``gb.device.online`` /
``gb.device.offline``, subject ``gb-device-<id>``), like any camera's state. Every video channel of
a complete catalogue becomes a camera ``gb-<channel id>`` named as the catalogue says, placed on
the district tree by the configured rules, added to the same camera manager and directory that
published (WHIP) cameras use; its source URL ``gb28181://DEVICE/CHANNEL`` is read like any other.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from alerts.config import AnalysisConfig
from hub.config import CameraConfig, Settings
from hub.people.directory import Directory
from hub.store.eventlog import EventLog
from streams.gb28181 import ptz, source
from streams.gb28181.config import Gb28181Config
from streams.gb28181.manscdp import Channel
from streams.gb28181.platform import GbPlatform
from streams.h264view import ViewOptions
from streams.ondemand import OnDemandCamera
from streams.packets import SourceError
from streams.transcode import TranscodeBudget

log = logging.getLogger(__name__)

CAMERA_PREFIX = "gb-"


def place(config: Gb28181Config, device_id: str, channel: Channel) -> str | None:
    """The grid a channel stands at: the first placement rule that matches it, else None."""
    for rule in config.placement:
        if rule.civil_code is not None and not channel.civil_code.startswith(rule.civil_code):
            continue
        if rule.parent_id is not None and not channel.parent_id.startswith(rule.parent_id):
            continue
        if rule.device_id is not None and not device_id.startswith(rule.device_id):
            continue
        return rule.grid
    return None


class GbService:
    """Owns the platform; turns its devices and channels into events and cameras."""

    def __init__(
        self,
        settings: Settings,
        log_: EventLog,
        directory: Directory,
        camera_manager: Callable[[], Awaitable[Any]],
        analysis: Callable[[], Awaitable[Any]] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.config = settings.gb28181
        self._settings = settings
        self._log = log_
        self._directory = directory
        self._cameras = camera_manager
        self._analysis = analysis
        self.platform = GbPlatform(self.config, self._on_device, self._on_channels, env)
        self.channels: dict[str, str] = {}
        """Camera id → device id of every GB channel known."""
        self.ptz: set[str] = set()
        """The cameras among them that can be turned (see :attr:`Channel.has_ptz`)."""
        self._budget: TranscodeBudget | None = None
        self._ptz_stops: dict[str, asyncio.Task[None]] = {}
        """Each moving camera's stop, due ``ptz_timeout_s`` after its newest move."""

    async def start(self) -> None:
        """Listen for devices; GB sources invite through this platform from now on."""
        try:
            await self.platform.start()
        except OSError as exc:  # the port is taken: the rest of the hub still runs, and says why
            log.error(
                "gb28181: cannot listen on %s:%d (%s); GB/T 28181 devices cannot register",
                self.config.host,
                self.config.port,
                exc.strerror or exc,
            )
            await self.platform.aclose()
            return
        source.attach(self.platform)

    async def aclose(self) -> None:
        """Stop cameras still moving, BYE every stream and stop listening (idempotent)."""
        for camera_id in list(self._ptz_stops):
            self._ptz_stops.pop(camera_id).cancel()
            try:
                async with asyncio.timeout(1.0):
                    await self._send_ptz(camera_id, ptz.move_command(ptz.PtzMove()))
            except (TimeoutError, SourceError):
                pass
        source.detach(self.platform)
        await self.platform.aclose()

    async def _on_device(self, device_id: str, online: bool, reason: str, info: dict[str, str]) -> None:
        kind = "gb.device.online" if online else "gb.device.offline"
        await self._log.append(kind, f"gb-device-{device_id}", "system", {"reason": reason, **info})
        manager = await self._cameras()
        for camera_id, dev in self.channels.items():  # channels on standby say so too
            stream = manager.get(camera_id) if dev == device_id else None
            if isinstance(stream, OnDemandCamera):
                stream.source_down(None if online else f"device {device_id} is offline ({reason})")

    async def _on_channels(self, device_id: str, channels: list[Channel]) -> None:
        manager = await self._cameras()
        manager.transcodes.limit = self.config.max_transcodes
        self._budget = manager.transcodes
        seen = set()
        for ch in channels:
            camera_id = CAMERA_PREFIX + ch.id
            seen.add(camera_id)
            cfg = CameraConfig(
                id=camera_id,
                name=ch.name[:200],
                url=f"gb28181://{device_id}/{ch.id}",
                grid=place(self.config, device_id, ch),
                stall_timeout_s=max(5.0, self.config.rtp_timeout_s),
                reconnect_max_s=30.0,
                analysis=AnalysisConfig(enabled=self.config.analysis),
            )
            old = self._directory.cameras.get(camera_id)
            if old is not None and self.channels.get(camera_id) is None:
                log.warning(
                    "gb28181: channel %s of %s clashes with configured camera %s; skipped", ch.id, device_id, camera_id
                )
                continue
            try:
                sub_url = f"{cfg.url}?stream=1" if self.config.substream else None
                view = ViewOptions(manager.transcodes, sub_url)
                await manager.pulled_camera(cfg, idle_stop_s=self.config.idle_bye_s, view=view)
            except ValueError as exc:
                log.warning("gb28181: channel %s of %s: %s", ch.id, device_id, exc)
                continue
            self._directory.cameras[camera_id] = cfg
            if self._analysis is not None and cfg.analysis.enabled:
                (await self._analysis()).add_camera(cfg)
            if camera_id not in self.channels:
                log.info("gb28181: camera %s (%s) from device %s at grid %s", camera_id, ch.name, device_id, cfg.grid)
            self.channels[camera_id] = device_id
            if ch.has_ptz:
                self.ptz.add(camera_id)
            else:
                self.ptz.discard(camera_id)
        for camera_id, dev in list(self.channels.items()):
            if dev == device_id and camera_id not in seen:  # gone from the catalogue
                del self.channels[camera_id]
                self.ptz.discard(camera_id)
                self._directory.cameras.pop(camera_id, None)
                if self._analysis is not None:
                    await (await self._analysis()).stop_camera(camera_id)
                await manager.remove_dynamic(camera_id)

    # -- PTZ ------------------------------------------------------------------------------------

    async def _send_ptz(self, camera_id: str, command: str) -> None:
        device = self.channels[camera_id]
        await self.platform.control(device, camera_id.removeprefix(CAMERA_PREFIX), command)

    async def move(self, camera_id: str, move: ptz.PtzMove) -> str:
        """Start (or renew, or stop) a move; the hub stops it after ``ptz_timeout_s`` unless renewed.

        KeyError for a camera that is no GB channel, SourceError when the device cannot take it.
        """
        if camera_id not in self.channels:
            raise KeyError(camera_id)
        stop = self._ptz_stops.pop(camera_id, None)
        if stop is not None:
            stop.cancel()
        command = ptz.move_command(move)
        await self._send_ptz(camera_id, command)
        if not move.is_stop:
            self._ptz_stops[camera_id] = asyncio.create_task(self._stop_later(camera_id), name=f"ptz-stop-{camera_id}")
        return command

    async def preset(self, camera_id: str, number: int, action: str) -> str:
        """Go to or store a preset (a move in progress is superseded)."""
        if camera_id not in self.channels:
            raise KeyError(camera_id)
        stop = self._ptz_stops.pop(camera_id, None)
        if stop is not None:
            stop.cancel()
        command = ptz.preset_command(number, action)
        await self._send_ptz(camera_id, command)
        return command

    async def _stop_later(self, camera_id: str) -> None:
        await asyncio.sleep(self.config.ptz_timeout_s)
        if self._ptz_stops.get(camera_id) is asyncio.current_task():
            del self._ptz_stops[camera_id]
        try:
            await self._send_ptz(camera_id, ptz.move_command(ptz.PtzMove()))
            log.info("camera %s: PTZ move stopped after %.1f s without renewal", camera_id, self.config.ptz_timeout_s)
        except (SourceError, KeyError) as exc:
            log.warning("camera %s: could not stop the PTZ move: %s", camera_id, exc)

    def metrics(self) -> Iterator[Metric]:
        """The platform's figures for /metrics."""
        p = self.platform
        yield GaugeMetricFamily(
            "skyhub_gb_devices_online", "GB/T 28181 devices online.", value=sum(d.online for d in p.devices.values())
        )
        yield GaugeMetricFamily("skyhub_gb_streams", "GB/T 28181 channels invited now.", value=len(p.dialogs))
        yield CounterMetricFamily("skyhub_gb_sip_received", "SIP messages accepted.", value=p.transport.received)
        dropped = CounterMetricFamily("skyhub_gb_sip_dropped", "SIP messages dropped, by reason.", labels=["reason"])
        for reason in ("rate", "queue", "malformed"):
            dropped.add_metric([reason], p.transport.dropped[reason])
        yield dropped
        refused = CounterMetricFamily("skyhub_gb_refused", "GB/T 28181 requests refused, by reason.", labels=["reason"])
        for reason, n in sorted(p.refused.items()):
            refused.add_metric([reason], n)
        yield refused
        rtp = p.rtp_stats()
        yield CounterMetricFamily("skyhub_gb_rtp_packets", "RTP packets received from GB channels.", value=rtp.packets)
        yield CounterMetricFamily("skyhub_gb_rtp_lost", "RTP packets of GB channels lost.", value=rtp.lost)
        yield CounterMetricFamily("skyhub_gb_rtp_late", "RTP packets too late or duplicated.", value=rtp.late)
        yield CounterMetricFamily(
            "skyhub_gb_rtp_foreign", "Packets dropped for a foreign SSRC or not being RTP.", value=rtp.foreign
        )
        budget = self._budget
        yield GaugeMetricFamily(
            "skyhub_gb_transcodes",
            "H.264 transcodes for browsers running now.",
            value=len(budget.running) if budget is not None else 0,
        )
        yield CounterMetricFamily(
            "skyhub_gb_transcodes_refused",
            "Browser viewers refused a transcode (gb28181.max_transcodes).",
            value=budget.refused if budget is not None else 0,
        )
