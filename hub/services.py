"""The hub's long-lived services and the order they start and stop in."""

from __future__ import annotations

import asyncio
import logging
import os
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from alerts.clock import Clock
from hub.access.audit import ViewingRecord
from hub.access.auth import Authenticator
from hub.access.ratelimit import RateLimiter, SharedRateLimiter
from hub.access.sessions import SessionGuard
from hub.calls.cluster import CallCluster
from hub.calls.pipes import CameraPipes
from hub.calls.service import CallService
from hub.calls.whip import WhipService
from hub.config import Settings
from hub.incidents.deadlines import DeadlineScheduler
from hub.incidents.desk import IncidentDesk
from hub.incidents.openalerts import OpenAlerts
from hub.instructions.service import InstructionDesk
from hub.people.directory import Directory
from hub.people.positions import Positions
from hub.people.prefs import Prefs
from hub.store.bus import EventBus
from hub.store.eventlog import chain
from hub.store.idempotency import Idempotency, KeyedEventLog
from hub.store.leases import CameraLeases, Fenced
from hub.store.redislink import RedisLink

logger = logging.getLogger(__name__)

READY_PROBE_TIMEOUT_S = 2.0
"""A store that has not answered the readiness probe within this long makes the node not ready."""
READY_CACHE_S = 1.0
"""A probe's outcome answers readiness checks for this long (a load balancer may ask often)."""


@dataclass
class FeedStats:
    """Counters of the WebSocket feeds, for /metrics."""

    clients: int = 0
    """Feeds connected now."""
    resyncs: int = 0
    """Feeds told to resync because they fell behind."""
    sent: int = 0
    """Events sent over feeds."""


class Hub:
    """Owns every service of one hub node; :meth:`running` is the lifespan."""

    def __init__(self, settings: Settings, secret: str, clock: Clock | None = None) -> None:
        self.settings = settings
        self.bus = EventBus()
        self.log = KeyedEventLog(
            settings.storage_url(), self.bus, settings.storage.batch_max_events, settings.storage.follow_poll_s
        )
        self.redis: RedisLink | None = None
        """The link to other hub nodes, when ``storage.redis_url`` is set."""
        if settings.storage.redis_url:
            self.redis = RedisLink(
                settings.storage.redis_url, settings.storage.redis_prefix, self.log, settings.server.base_url()
            )
            self.redis.ingests = any(c.enabled for c in settings.cameras)
        self.leases: CameraLeases | None = None
        """Which node ingests which camera, when several nodes share Redis and there are cameras."""
        self.directory = Directory(settings)
        self.auth = Authenticator(settings, self.directory, secret)
        self.login_sessions = SessionGuard(self.log, self.bus, self.auth.revocations, settings.auth.session_max_s)
        """Logouts and revocations, on every node."""
        self.desk = IncidentDesk(self.log, self.directory, settings.incidents, clock)
        self.deadlines = DeadlineScheduler(self.desk)
        self.public_limiter = RateLimiter(settings.incidents.public_rate_per_min)
        self.shared_limiter: SharedRateLimiter | None = None
        """With Redis, the public limits hold across every hub node."""
        budget = settings.incidents.public_photo_bytes_per_day
        self.public_bytes = RateLimiter(budget, max_keys=1, window_s=86_400.0)
        """Bytes of photos the public may send, all residents together (refilled over a day)."""
        self.shared_bytes: SharedRateLimiter | None = None
        if settings.storage.redis_url:
            self.shared_limiter = SharedRateLimiter(
                settings.storage.redis_url, settings.storage.redis_prefix, settings.incidents.public_rate_per_min
            )
            self.shared_bytes = SharedRateLimiter(
                settings.storage.redis_url, settings.storage.redis_prefix, budget, window_s=86_400.0, name="bytes"
            )
        self.instructions = InstructionDesk(self.log, self.directory, settings, clock)
        self.open_alerts = OpenAlerts(self.log)
        """The alerts open now (the wall's alarm lane on page load)."""
        self.prefs = Prefs(self.log)
        """Each user's saved settings (wall layouts, tours, language)."""
        self.positions = Positions(self.log, settings.field.track_retention_days * 86_400)
        """Where people in the field were last seen."""
        self.idempotency = Idempotency(self.log, settings.field.idempotency_ttl_s)
        """Keyed requests (a phone's outbox) done once per user and key."""
        self.viewing = ViewingRecord(self.log)
        """Who watched which camera, when, from where, for how long (``GET /api/audit``)."""
        self.feeds = FeedStats()
        self.worker_channels: Counter[str] = Counter()
        """Open worker channels (``/ws/worker``) on this node, by username: whose phone can be asked to go live."""
        self.closing = asyncio.Event()
        """Set when shutdown begins; feeds close themselves on it."""
        self.started = False
        """Whether every service has started (readiness)."""
        self._probe: asyncio.Future[object] | None = None
        self._probed_at = 0.0
        self.cameras: Any = None
        """The camera manager (``streams.manager.CameraManager``) while running."""
        self.analysis: Any = None
        """The frame analysis (``alerts.runner.AnalysisRunner``) while running."""
        self.calls = CallService(settings, self.log, self.directory, lambda: self.cameras)
        """Live video (WHEP), calls and briefings."""
        if self.redis is not None:  # calls whose members are connected to other nodes
            self.calls.cluster = CallCluster(
                self.redis, self.log, self.calls.presence, self.calls.live, settings.server.base_url()
            )
        self.login_sessions.on_user_ended.append(self._end_calls_of)
        self.whip = WhipService(
            settings.whip,
            settings.calls,
            list(settings.server.ice_addresses),
            self.calls.sessions,
            self.auth,
            self.directory,
            self.positions,
            self.camera_manager,
            self.analysis_runner,
        )
        """Field video published over WHIP, as cameras."""
        if self.redis is not None:  # the other nodes list them and send their viewers here
            self.redis.published = self.whip.published_entries
        self.gb: Any = None
        """The GB/T 28181 platform (``hub.gb28181.service.GbService``) when ``gb28181.enabled``."""
        if settings.gb28181.enabled:
            from hub.gb28181.service import GbService  # the SIP stack loads only when it is used

            self.gb = GbService(settings, self.log, self.directory, self.camera_manager, self.analysis_runner)

    async def camera_manager(self) -> Any:
        """The camera manager, made (empty) on first use when no camera is configured: a published
        camera needs one."""
        if self.cameras is None:
            from streams.manager import CameraManager

            self.cameras = CameraManager([], self._camera_event, self.settings.data_dir)
            await self.cameras.start()
        return self.cameras

    async def analysis_runner(self) -> Any:
        """The frame analysis, made on first use when no configured camera needed one (cameras found
        at run time, GB/T 28181 channels, are analysed like configured ones)."""
        await self.camera_manager()
        if self.analysis is None:
            from alerts.runner import AnalysisRunner

            self.analysis = AnalysisRunner([], self.cameras, self._camera_event, self.settings.data_dir)
            self.analysis.on_alert.append(self._alert_to_incident)
            await self.analysis.start()
        return self.analysis

    async def readiness(self) -> str | None:
        """Why this node should not be sent traffic now, or None when it is ready: every service
        started, not shutting down, and the store answers a query (probed at most every
        :data:`READY_CACHE_S`, one probe at a time however many ask)."""
        if self.closing.is_set():
            return "shutting down"
        if not self.started:
            return "starting"
        loop = asyncio.get_running_loop()
        if self._probe is None or (self._probe.done() and loop.time() - self._probed_at >= READY_CACHE_S):
            self._probe = asyncio.ensure_future(self.log.query(_select_one))
            self._probed_at = loop.time()
        try:
            async with asyncio.timeout(READY_PROBE_TIMEOUT_S):
                await asyncio.shield(self._probe)
        except TimeoutError:
            return f"the store has not answered for {loop.time() - self._probed_at:.1f} s"
        except Exception as exc:  # the driver's message may quote the URL: the kind of failure only
            return f"the store cannot answer ({type(exc).__name__})"
        return None

    async def _end_calls_of(self, username: str, session: str | None, before: float) -> None:
        """A user logged out or was revoked: they leave their calls on this node."""
        for call in self.calls.calls_of(username):
            await self.calls.leave(call, call.members[username], "their session ended")

    async def public_wait(self, key: str) -> float:
        """Seconds a public caller identified by ``key`` must wait; 0 when allowed (and counted)."""
        if self.shared_limiter is not None:
            return await self.shared_limiter.check(key)
        return self.public_limiter.check(key)

    async def public_bytes_wait(self, size: int) -> float:
        """Seconds until the public's photo budget has room for ``size`` more bytes; 0 when it has
        (and they are counted)."""
        if self.shared_bytes is not None:
            return await self.shared_bytes.check("public-photos", cost=size)
        return self.public_bytes.check("public-photos", cost=size)

    async def _camera_event(self, type: str, camera_id: str, data: dict[str, Any]) -> None:
        cam = self.directory.cameras.get(camera_id)
        if self.redis is not None:  # which node said so, when several ingest cameras
            data = {**data, "node": self.redis.node}
        op = self.open_alerts.op_for(type, data)
        fence = self.leases.fence(camera_id) if self.leases is not None else None
        try:
            await self.log.append(type, camera_id, "system", data, grid=cam.grid if cam else None, op=chain(fence, op))
        except Fenced as exc:  # another node owns the camera now: its word counts, not ours
            assert self.leases is not None
            self.leases.refused(camera_id, exc)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Hub]:
        """Start services in dependency order; stop them in reverse, each bounded in time."""
        timeout_s = self.settings.server.shutdown_timeout_s
        await self.log.open()
        await self.login_sessions.load()
        async with asyncio.TaskGroup() as tg:
            self.log.start(tg)
            sessions = tg.create_task(self.login_sessions.run(), name="login-sessions")
            viewing = tg.create_task(self.viewing.run(), name="viewing-record")
            links = self.redis.start(tg) if self.redis is not None else []
            deadlines = tg.create_task(self.deadlines.run(), name="deadlines")
            follow_up = tg.create_task(self.instructions.run(), name="instructions")
            await self._start_cameras()
            await self._start_analysis()
            if self.leases is not None:
                self.leases.start()
            await self.calls.start()
            self.whip.start()
            if self.gb is not None:
                await self.gb.start()
            await self.log.append("hub.started", "hub", data={"cameras": len(self.settings.cameras)})
            self.started = True
            try:
                yield self
            finally:
                logger.info("hub: shutting down (%.1f s budget per stage)", timeout_s)
                self.closing.set()
                if self._probe is not None:
                    self._probe.cancel()
                deadlines.cancel()
                follow_up.cancel()
                sessions.cancel()
                if self.leases is not None:  # take and hand back no more cameras
                    try:
                        async with asyncio.timeout(timeout_s):
                            await self.leases.stop()
                    except TimeoutError:
                        logger.warning("hub: camera leases did not stop within %.1f s", timeout_s)
                try:  # peers first: they hold camera subscriptions and log call events
                    async with asyncio.timeout(timeout_s):
                        await self.whip.aclose()
                        await self.calls.aclose()
                except TimeoutError:
                    logger.warning("hub: calls did not stop within %.1f s", timeout_s)
                viewing.cancel()
                try:  # the views the calls' end ended, and the snapshot runs still open
                    async with asyncio.timeout(timeout_s):
                        await self.viewing.close()
                except Exception:
                    logger.warning("hub: the viewing record's last ends were not written")
                if self.analysis is not None:
                    try:
                        async with asyncio.timeout(timeout_s):
                            await self.analysis.stop()
                    except TimeoutError:
                        logger.warning("hub: analysis did not stop within %.1f s", timeout_s)
                if self.cameras is not None:
                    try:
                        async with asyncio.timeout(timeout_s):
                            await self.cameras.stop()
                    except TimeoutError:
                        logger.warning("hub: cameras did not stop within %.1f s", timeout_s)
                if self.gb is not None:  # after the cameras: their sources have said BYE by now
                    try:
                        async with asyncio.timeout(timeout_s):
                            await self.gb.aclose()
                    except TimeoutError:
                        logger.warning("hub: the GB/T 28181 platform did not stop within %.1f s", timeout_s)
                if self.leases is not None:  # the cameras stopped here: other nodes may take them now
                    await self.leases.release()
                    await self.leases.aclose()
                try:
                    await self.log.append("hub.stopped", "hub")
                except Exception:  # the store may be what failed; shutdown goes on
                    logger.exception("hub: could not log the stop")
                await self.log.aclose(timeout_s)
                self.auth.close()
                for task in links:
                    task.cancel()
                if links:
                    await asyncio.wait(links, timeout=timeout_s)
                if self.redis is not None:
                    await self.redis.aclose()
                if self.shared_limiter is not None:
                    await self.shared_limiter.aclose()
                if self.shared_bytes is not None:
                    await self.shared_bytes.aclose()

    async def _start_cameras(self) -> None:
        cameras = list(self.settings.cameras)  # disabled ones too: the manager reports them as disabled
        if not cameras:
            return
        from streams.manager import CameraManager  # media stack loads only when there are cameras

        self.cameras = CameraManager(cameras, self._camera_event, self.settings.data_dir)
        if self.redis is None:
            await self.cameras.start()
            return
        # Several nodes: each enabled camera runs on the one node holding its lease; a disabled
        # one is reported as disabled by every node.
        storage = self.settings.storage
        assert storage.redis_url is not None and storage.url is not None  # checked with the settings
        self.cameras.node = self.redis.node
        self.leases = CameraLeases(
            storage.url,
            self.redis.node,
            [c.id for c in cameras if c.enabled],
            self.redis.nodes,
            self._ingest_here,
            self._stop_here,
            self.cameras.set_owners,
            ttl_s=storage.camera_lease_ttl_s,
            renew_s=storage.camera_lease_renew_s,
            margin_s=storage.lease_margin_s(),
            max_takes=storage.camera_lease_max_takes_per_round,
        )
        self.leases.on_available = self._lease_store_answers
        # A camera another node ingests can still go into a call here: piped from its owner.
        self.calls.pipes = CameraPipes(
            self._owner_url,
            self.auth.issue,
            self.settings.calls,
            list(self.settings.server.ice_addresses),
            self.settings.data_dir / "pipes",
        )
        await self.cameras.start(only=[c.id for c in cameras if not c.enabled])

    def _lease_store_answers(self, ok: bool) -> None:
        """Cut off from the store, this node takes no cameras: it stops counting towards the fair
        share in the registry at once, so the others take the cameras it had to stop."""
        if self.redis is not None:
            self.redis.ingests = ok and any(c.enabled for c in self.settings.cameras)
            self.redis.beat_now()

    def _owner_url(self, camera_id: str) -> str | None:
        """The public URL of the other node that ingests ``camera_id`` (None: this one, or nobody)."""
        if self.leases is None or self.cameras is None:
            return None
        owner = self.cameras.owner(camera_id)
        if owner is None or owner == self.leases.node:
            return None
        return self.leases.node_urls.get(owner)

    async def _ingest_here(self, camera_id: str) -> None:
        """Start a camera's ingest, then its analysis (this node took its lease)."""
        await self.cameras.start_camera(camera_id)
        if self.analysis is not None:
            await self._end_stale_alerts([camera_id])
            self.analysis.start_camera(camera_id)

    async def _end_stale_alerts(self, camera_ids: list[str]) -> None:
        """Alerts an earlier analysis of these cameras left open (a node killed) end before it starts again."""
        for camera_id in camera_ids:
            cam = self.directory.cameras.get(camera_id)
            fence = self.leases.fence(camera_id) if self.leases is not None else None
            try:
                await self.open_alerts.end_stale(camera_id, cam.grid if cam else None, fence)
            except Fenced as exc:  # the lease passed on while it started
                assert self.leases is not None
                self.leases.refused(camera_id, exc)
            except Exception:  # the store is what failed: the camera still starts
                logger.exception("camera %s: could not end the alerts left open", camera_id)

    async def _stop_here(self, camera_id: str) -> None:
        """Stop a camera's analysis (ending its open alerts) and its ingest (viewers included).

        Side by side, not one after the other: ending the alerts writes to the store, and a node
        cut off from the store must still stop ingesting before its lease can pass to another
        node. The analysis stops first (its task is cancelled at once); the alerts it ends are
        written when the store lets them, or ended by the camera's next owner.
        """
        if self.analysis is None:
            await self.cameras.stop_camera(camera_id)
            return
        await asyncio.gather(self.analysis.stop_camera(camera_id), self.cameras.stop_camera(camera_id))

    async def _start_analysis(self) -> None:
        if self.cameras is None:
            return
        from alerts.runner import AnalysisRunner

        self.analysis = AnalysisRunner(self.settings.cameras, self.cameras, self._camera_event, self.settings.data_dir)
        self.analysis.on_alert.append(self._alert_to_incident)
        if self.leases is None:
            await self._end_stale_alerts([c.id for c in self.settings.cameras])
        # With leases the analysis follows each camera as its lease is taken.
        await self.analysis.start(only=None if self.leases is None else ())

    async def _alert_to_incident(self, alert: Any, data: dict[str, Any]) -> None:
        """Every alert that starts opens an incident, or folds into the open one (many entrances, one exit)."""
        if getattr(alert, "type", None) != "alert.started":
            return
        camera = str(data.get("camera", ""))
        fence = self.leases.fence(camera) if self.leases is not None else None
        try:
            ev = await self.desk.on_alert(data, fence=fence)
        except Fenced as exc:
            assert self.leases is not None
            self.leases.refused(camera, exc)
            return
        incident_id = int(ev.subject.split(":", 1)[1])
        for kind in ("snapshot", "clip"):
            rel = _under(data.get(kind), self.settings.data_dir)
            if rel is None:
                continue
            await self.desk.add_evidence(
                incident_id,
                kind,
                "camera",
                path=rel,
                content_type="image/jpeg" if kind == "snapshot" else "video/mp4",
                ref=data.get("alert_id"),
                grid=ev.grid,
            )


def _select_one(conn: sa.Connection) -> object:
    return conn.execute(sa.text("SELECT 1")).scalar()


def _under(path: str | None, base: object) -> str | None:
    """``path`` relative to ``base`` (string work, no disk access), or ``None`` if outside it."""
    if not path:
        return None
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(str(base)))
    return None if rel.startswith("..") else rel
