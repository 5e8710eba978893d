"""Camera leases: among several hub nodes, each camera is ingested and analysed by one live node.

Ownership lives where the truth already is: in the shared PostgreSQL store, which every node must
reach to work at all. One row per camera in ``camera_leases`` names the owning node, its **epoch**
and the time the lease ends, that time read from **the database's clock** (``clock_timestamp()``),
so the nodes' own clocks never decide who owns what. Every grant raises the epoch: it is a fencing
token. The node's camera events (state, alerts, the incidents they fold into) carry it, and the
store refuses an append whose epoch is no longer the camera's (:meth:`CameraLeases.fence`), so even
a node paused past its lease, or cut off and still running, cannot write as the owner.

Three loops run on their own schedules, so none waits behind another:

- **Renewal**, every ``storage.camera_lease_renew_s``: one statement renews every lease this node
  holds, where the row still has this node and the epoch it was granted; a camera whose row moved
  on (another node took it, with a new epoch) is stopped here.
- **Deadline**: a camera whose last successful renewal is older than the TTL minus the safety
  margin (``storage.camera_lease_margin_s``) is stopped here at once, before its lease can end in
  the store and pass to another node (as Kubernetes' leader election gives up at its renew
  deadline, before the lease duration). The age is measured from when the renewal was *sent*, on
  this node's monotonic clock: the lease the store granted runs at least that long.
- **Rounds**, every ``storage.camera_lease_renew_s``: take free cameras (no row, or its lease
  ended by the database's clock) up to the fair share, ``ceil(cameras / live nodes)``, at most
  ``storage.camera_lease_max_takes_per_round`` a round; hand back one camera while holding more
  than the share (stopped here first, then the row released if it still has this epoch), so a node
  that joins gets cameras.

The live nodes come from Redis' registry (:meth:`hub.store.redislink.RedisLink.nodes`), which only
sizes the fair share: Redis is a fast nudge here, not the truth. While it cannot answer, a round
takes and hands back nothing, renewals go on in the store, and no camera moves. Restarted empty,
its registry is briefly short of nodes; a node that then believes itself alone finds no free
camera to take, since the others' leases are still live in the store.

**No thundering takeover.** A round that finds the registry shrunk *suddenly*, fewer than half of
the camera-taking nodes seen in the last round (this node included: 4 → 1, 3 → 1; not 2 → 1,
which is one node dying, whose cameras move within the TTL), takes no camera for one node TTL
(:data:`hub.store.redislink.NODE_TTL_MS`): the time the live nodes need to show up again.

A node that dies stops renewing: its leases end after the TTL and the others take the cameras in
their next rounds. While the store cannot answer, a node takes nothing; its cameras stop at their
renew deadline, and it takes them again (or others do) once the store answers.
"""

from __future__ import annotations

import asyncio
import logging
import math
import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.logsafe import mask
from hub.store.eventlog import PG_CONNECT_ARGS, EventDraft, Op, metadata
from hub.store.redislink import NODE_TTL_MS, stop_if_cancelled

logger = logging.getLogger(__name__)

STORE_TIMEOUT_S = 2.0
"""A lease statement that takes longer counts as the store not answering."""

camera_leases_table = sa.Table(
    "camera_leases",
    metadata,
    sa.Column("camera", sa.String(160), primary_key=True),
    sa.Column("node", sa.String(160), nullable=True),
    sa.Column("epoch", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)
"""Who ingests each camera: its node (NULL once handed back), the epoch of the grant (the fencing
token) and when the lease ends, in seconds on the database's clock."""

_NOW = "extract(epoch from clock_timestamp())"

_TAKE = f"""
INSERT INTO camera_leases AS l (camera, node, epoch, expires_at)
VALUES (%(camera)s, %(node)s, 1, {_NOW} + %(ttl)s)
ON CONFLICT (camera) DO UPDATE SET node = excluded.node, epoch = l.epoch + 1, expires_at = excluded.expires_at
WHERE l.node IS NULL OR l.expires_at < {_NOW}
RETURNING epoch
"""
"""Take a free camera: no row yet, or its lease handed back or ended. The epoch of the grant, or
no row when another node holds it."""

_RENEW = f"""
UPDATE camera_leases AS l SET expires_at = {_NOW} + %(ttl)s
FROM unnest(%(cameras)s::text[], %(epochs)s::bigint[]) AS h(camera, epoch)
WHERE l.camera = h.camera AND l.epoch = h.epoch AND l.node = %(node)s
RETURNING l.camera
"""
"""Renew the leases still granted to this node at these epochs; the cameras renewed."""

_RELEASE = """
UPDATE camera_leases AS l SET node = NULL, expires_at = 0
FROM unnest(%(cameras)s::text[], %(epochs)s::bigint[]) AS h(camera, epoch)
WHERE l.camera = h.camera AND l.epoch = h.epoch AND l.node = %(node)s
"""
"""Hand leases back, only where they are still this node's grant."""

_OWNERS = f"""
SELECT camera, node, epoch, expires_at > {_NOW} FROM camera_leases WHERE camera = ANY(%(cameras)s::text[])
"""

CameraFn = Callable[[str], Awaitable[None]]


class _RegistryUnavailable(Exception):
    """The registry of live nodes (Redis) could not be read."""


class Fenced(RuntimeError):
    """The store refused a camera event: this node's lease on the camera is no longer the current one."""


@dataclass
class LeaseStats:
    """Counters for /metrics."""

    acquired: int = 0
    """Free cameras taken by a round."""
    released: int = 0
    """Cameras handed back to even out the load."""
    lost: int = 0
    """Cameras stopped because another node took their lease."""
    expired: int = 0
    """Cameras stopped because their lease could not be renewed before its deadline."""
    held_off: int = 0
    """Times the registry shrank suddenly and this node waited one node TTL before taking cameras."""
    errors: int = 0
    """Rounds and renewals the store (or, for a round, Redis' registry) could not answer."""
    fenced: int = 0
    """Camera events the store refused because this node's lease on the camera was stale."""


@dataclass(frozen=True)
class Placement:
    """Where a camera is ingested, as the leases say."""

    owner: str | None
    """Node id holding the lease; None when no node holds it."""
    url: str | None
    """That node's public base URL, when it published one."""


def libpq_url(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL (``postgresql+psycopg://…``) as libpq takes it."""
    scheme, sep, rest = url.partition("://")
    return ("postgresql" if scheme.startswith("postgresql") else scheme) + sep + rest


class CameraLeases:
    """Decides which of ``cameras`` this node ingests, and starts/stops them accordingly."""

    def __init__(
        self,
        store_url: str,
        node: str,
        cameras: Sequence[str],
        nodes: Callable[[], Awaitable[list[dict[str, object]]]],
        start_camera: CameraFn,
        stop_camera: CameraFn,
        on_owners: Callable[[dict[str, str | None]], None],
        ttl_s: float = 10.0,
        renew_s: float = 3.0,
        margin_s: float = 3.0,
        max_takes: int = 4,
        settle_s: float = NODE_TTL_MS / 1000,
    ) -> None:
        self.url = libpq_url(store_url)
        self.node = node
        # Each node walks the free cameras from its own starting point, so nodes starting together
        # mostly reach for different cameras.
        offset = zlib.crc32(node.encode()) % max(1, len(cameras))
        self.cameras = list(cameras)
        self._order = self.cameras[offset:] + self.cameras[:offset]
        self._nodes = nodes
        self._start_camera = start_camera
        self._stop_camera = stop_camera
        self._on_owners = on_owners
        self.ttl_s = ttl_s
        self.renew_s = renew_s
        self.deadline_s = ttl_s - margin_s
        """A camera is stopped here once its last successful renewal is older than this."""
        self.max_takes = max_takes
        self.settle_s = settle_s
        self.held: set[str] = set()
        """Cameras whose lease this node holds (including one being handed back)."""
        self.epochs: dict[str, int] = {}
        """The epoch of each lease this node was granted (kept until the camera stopped here)."""
        self.renewed_at: dict[str, float] = {}
        """Loop time each held lease was last renewed (taken when the statement was sent)."""
        self.owners: dict[str, str | None] = {}
        """Every camera's lease holder as last read."""
        self.node_urls: dict[str, str] = {}
        """Public URLs of the live nodes as last read."""
        self.stats = LeaseStats()
        self.available = True
        """Whether the store answered the last round or renewal."""
        self.on_available: Callable[[bool], None] = lambda _ok: None
        """Called when the store stops answering (False) and answers again (True): a node that
        cannot reach it takes no cameras, and must not count towards the others' fair share."""
        self.holding_off_until = 0.0
        """Loop time until which rounds take no camera (the registry shrank suddenly)."""
        self._last_takers: int | None = None
        self._moving: dict[str, asyncio.Task[None]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        # Renewal and hand-back both change what this node holds and what the store says about it:
        # one at a time, so a renewal never renews a lease being handed back.
        self._lock = asyncio.Lock()
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._conn_lock = asyncio.Lock()

    # -- the store -----------------------------------------------------------------------------

    async def _run(self, sql: str, params: dict[str, Any], timeout_s: float = STORE_TIMEOUT_S) -> list[tuple[Any, ...]]:
        """One statement on this node's lease connection (autocommit), within ``timeout_s``.

        A statement that fails or times out closes the connection: its state is unknown, and the
        next statement opens a new one.
        """
        async with self._conn_lock:
            try:
                async with asyncio.timeout(timeout_s):
                    if self._conn is None or self._conn.closed:
                        self._conn = await psycopg.AsyncConnection.connect(
                            self.url,
                            autocommit=True,
                            **{**PG_CONNECT_ARGS, "connect_timeout": max(1, int(timeout_s))},
                            options=f"-c statement_timeout={int(timeout_s * 1000)}",
                        )
                    cur = await self._conn.execute(sql, params)
                    return list(await cur.fetchall()) if cur.description else []
            except BaseException:
                conn, self._conn = self._conn, None
                if conn is not None:
                    try:
                        await asyncio.wait_for(conn.close(), 1.0)
                    except Exception:
                        logger.debug("leases %s: closing a failed connection failed too", self.node)
                raise

    def fence(self, camera_id: str) -> Op | None:
        """The check that goes with an append about ``camera_id``: it refuses the append (raising
        :class:`Fenced`) unless the camera's lease is still this node's, at the epoch it was granted.
        None for a camera the leases do not manage; a refusing check for one this node does not hold."""
        if camera_id not in self.cameras:
            return None
        epoch = self.epochs.get(camera_id)
        node = self.node
        t = camera_leases_table

        def check(conn: Connection, draft: EventDraft) -> None:
            row = conn.execute(sa.select(t.c.node, t.c.epoch).where(t.c.camera == camera_id)).first()
            if epoch is None or row is None or row.node != node or row.epoch != epoch:
                held = f"epoch {row.epoch} on {row.node}" if row is not None else "no lease"
                raise Fenced(f"camera {camera_id}: this node's lease (epoch {epoch}) is stale; the store has {held}")
            draft.data.setdefault("epoch", epoch)

        return check

    def refused(self, camera_id: str, exc: Fenced) -> None:
        """Count (and log) an append the fence refused."""
        self.stats.fenced += 1
        logger.warning("leases %s: %s; the event is dropped", self.node, exc)

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the rounds, the renewals and the deadline watch (the first round at once)."""
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._rounds(), name="camera-leases"),
                asyncio.create_task(self._renewing(), name="camera-lease-renewal"),
                asyncio.create_task(self._watching(), name="camera-lease-deadlines"),
            ]

    async def stop(self) -> None:
        """Stop the loops and wait for cameras being handed back (each stop is bounded). Idempotent.

        The leases still held stay in the store until :meth:`release`, once the cameras are stopped.
        """
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._moving:
            await asyncio.gather(*self._moving.values(), return_exceptions=True)

    async def release(self) -> None:
        """Hand back every lease this node holds (at shutdown, after its cameras stopped); never raises."""
        held, self.held = sorted(self.held), set()
        epochs = [self.epochs.get(c, 0) for c in held]
        self.renewed_at.clear()
        if not held:
            return
        try:
            await self._run(_RELEASE, {"cameras": held, "epochs": epochs, "node": self.node}, STORE_TIMEOUT_S * 2)
            logger.info("leases %s: handed back %d cameras", self.node, len(held))
        except Exception as exc:  # they end on their own after the TTL
            logger.warning(
                "leases %s: could not hand back %d cameras on %s (%s); they end in %.0f s",
                self.node,
                len(held),
                mask(self.url),
                type(exc).__name__,
                self.ttl_s,
            )
        for camera_id in held:
            self.epochs.pop(camera_id, None)

    async def aclose(self) -> None:
        """Close the store connection (bounded; never raises)."""
        async with self._conn_lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await asyncio.wait_for(conn.close(), 2.0)
            except Exception:
                logger.debug("leases %s: the connection did not close cleanly", self.node)

    # -- queries -------------------------------------------------------------------------------

    async def locate(self, camera_id: str) -> Placement:
        """Who ingests ``camera_id`` now, read from the store (raises when it cannot answer)."""
        rows = await self._run(_OWNERS, {"cameras": [camera_id]})
        if not rows or rows[0][1] is None or not rows[0][3]:
            return Placement(None, None)
        owner = str(rows[0][1])
        return Placement(owner, self.node_urls.get(owner))

    # -- the store answering or not ------------------------------------------------------------

    def _store_failed(self, exc: BaseException) -> None:
        self.stats.errors += 1
        if self.available:  # logged once per outage, not every round
            self.available = False
            self.on_available(False)
            logger.warning(
                "leases %s: the store %s cannot answer (%s); taking no cameras, and the %d here stop %.1f s "
                "after their last renewal unless it answers again",
                self.node,
                mask(self.url),
                type(exc).__name__,
                len(self.held),
                self.deadline_s,
            )

    def _store_answered(self) -> None:
        if not self.available:
            self.available = True
            self.on_available(True)
            logger.info("leases %s: the store answers again; %d cameras here", self.node, len(self.held))

    # -- renewal and deadlines -----------------------------------------------------------------

    async def _renewing(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            began = loop.time()
            try:
                asked = await self._renew_held()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the deadline watch stops what cannot be renewed in time
                stop_if_cancelled(exc)
                self._store_failed(exc)
            else:
                if asked:  # holding nothing, it did not ask the store anything
                    self._store_answered()
            await asyncio.sleep(max(0.0, self.renew_s - (loop.time() - began)))

    async def _renew_held(self) -> bool:
        """Renew what this node holds; whether there was anything to renew."""
        async with self._lock:
            held = sorted(c for c in self.held if c in self.epochs)
            if not held:
                return False
            sent = asyncio.get_running_loop().time()
            params = {"cameras": held, "epochs": [self.epochs[c] for c in held], "node": self.node, "ttl": self.ttl_s}
            renewed = {str(r[0]) for r in await self._run(_RENEW, params)}
            for camera_id in held:
                if camera_id not in self.held:  # past its deadline meanwhile: being stopped
                    continue
                if camera_id in renewed:
                    self.renewed_at[camera_id] = sent
                    continue
                # Another node holds it now, under a newer epoch: this node's writes about it are
                # refused from here on; stop it.
                self.held.discard(camera_id)
                self.renewed_at.pop(camera_id, None)
                self.stats.lost += 1
                logger.warning(
                    "leases %s: camera %s is now ingested by another node; stopping it here", self.node, camera_id
                )
                self._move(camera_id, release=False)
        return True

    async def _watching(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            for camera_id in sorted(self.held):
                if camera_id in self._moving:  # being handed back already
                    continue
                age = now - self.renewed_at.get(camera_id, now)
                if age < self.deadline_s:
                    continue
                self.held.discard(camera_id)
                self.renewed_at.pop(camera_id, None)
                self.stats.expired += 1
                logger.warning(
                    "leases %s: camera %s not renewed for %.1f s; stopping it here before its lease can pass "
                    "to another node",
                    self.node,
                    camera_id,
                    age,
                )
                self._move(camera_id, release=True)
            due = [self.renewed_at.get(c, now) + self.deadline_s for c in self.held if c not in self._moving]
            wait = min([*due, now + self.renew_s]) - now
            await asyncio.sleep(max(0.02, wait))

    # -- rounds --------------------------------------------------------------------------------

    async def _rounds(self) -> None:
        while True:
            try:
                async with asyncio.timeout(STORE_TIMEOUT_S * 3):
                    await self._round()
            except asyncio.CancelledError:
                raise
            except _RegistryUnavailable as exc:  # Redis away: take and hand back nothing this round
                stop_if_cancelled(exc)
                self.stats.errors += 1
                logger.debug("leases %s: round skipped, the registry cannot answer (%s)", self.node, exc)
            except Exception as exc:  # the store away: take nothing, try next round
                stop_if_cancelled(exc)
                self._store_failed(exc)
            await asyncio.sleep(self.renew_s)

    async def _round(self) -> None:
        try:
            nodes = await self._nodes()
        except Exception as exc:
            raise _RegistryUnavailable(type(exc).__name__) from exc
        rows = await self._run(_OWNERS, {"cameras": self.cameras})
        owners: dict[str, str | None] = {c: None for c in self.cameras}
        for camera, node, _epoch, live in rows:
            owners[str(camera)] = str(node) if node is not None and live else None
        self.node_urls = {str(n["node"]): str(n["url"]) for n in nodes if n.get("url")}
        # Nodes without cameras of their own (an API-only node) take no share.
        takers = {str(n["node"]) for n in nodes if n.get("ingests")} | {self.node}
        self._check_sudden(len(takers))
        share = math.ceil(len(self.cameras) / len(takers))
        keeping = [c for c in self.cameras if c in self.held and c not in self._moving]
        if len(keeping) > share:
            self._hand_back(keeping[-1])
        elif asyncio.get_running_loop().time() >= self.holding_off_until:
            taken = 0
            for camera_id in self._order:
                if len(keeping) >= share or taken >= self.max_takes:
                    break
                if owners.get(camera_id) is not None or camera_id in self._moving or camera_id in self.held:
                    continue
                sent = asyncio.get_running_loop().time()
                got = await self._run(_TAKE, {"camera": camera_id, "node": self.node, "ttl": self.ttl_s})
                if got:
                    self.epochs[camera_id] = int(got[0][0])
                    owners[camera_id] = self.node
                    keeping.append(camera_id)
                    taken += 1
                    self.renewed_at[camera_id] = sent
                    await self._take(camera_id, f"it was free; epoch {self.epochs[camera_id]}")
        self._store_answered()
        self.owners = owners
        self._on_owners(owners)

    def _check_sudden(self, takers: int) -> None:
        """Hold off taking cameras for one node TTL when the registry shrank suddenly (see the module)."""
        why = None
        if self._last_takers is not None and takers * 2 < self._last_takers:
            why = f"the live nodes fell from {self._last_takers} to {takers} at once"
        self._last_takers = takers
        if why is None:
            return
        self.holding_off_until = asyncio.get_running_loop().time() + self.settle_s
        self.stats.held_off += 1
        logger.warning(
            "leases %s: %s; taking no cameras for %.0f s while the live nodes re-register",
            self.node,
            why,
            self.settle_s,
        )

    async def _take(self, camera_id: str, why: str) -> None:
        self.held.add(camera_id)
        self.stats.acquired += 1
        logger.info("leases %s: camera %s taken (%s)", self.node, camera_id, why)
        try:
            await self._start_camera(camera_id)
        except Exception:  # the lease stays ours: the camera's own supervision reports its trouble
            logger.exception("leases %s: camera %s could not start", self.node, camera_id)

    def _hand_back(self, camera_id: str) -> None:
        self.stats.released += 1
        logger.info("leases %s: handing camera %s back (more than a fair share here)", self.node, camera_id)
        self._move(camera_id, release=True)

    def _move(self, camera_id: str, release: bool) -> None:
        """Stop a camera here in the background (it takes seconds), then maybe hand its lease back."""
        if camera_id in self._moving:
            return
        task = asyncio.create_task(self._stop_here(camera_id, release), name=f"lease-stop-{camera_id}")
        self._moving[camera_id] = task
        task.add_done_callback(lambda _t: self._moving.pop(camera_id, None))

    async def _stop_here(self, camera_id: str, release: bool) -> None:
        try:
            await self._stop_camera(camera_id)
        except Exception:
            logger.exception("leases %s: camera %s did not stop cleanly", self.node, camera_id)
        # Stopped: its last events are written (or refused); the epoch is no use any more.
        epoch = self.epochs.pop(camera_id, None)
        if not release or epoch is None:
            return
        # Stopped first, released second: two nodes never ingest it at once on purpose. Not held
        # from here on, so a renewal running now leaves it alone.
        self.held.discard(camera_id)
        self.renewed_at.pop(camera_id, None)
        try:
            async with self._lock:
                params = {"cameras": [camera_id], "epochs": [epoch], "node": self.node}
                await self._run(_RELEASE, params, STORE_TIMEOUT_S * 3)
        except Exception as exc:  # it ends on its own
            logger.warning("leases %s: camera %s lease not handed back (%s)", self.node, camera_id, type(exc).__name__)
            return
        # Nobody holds it until another node's round takes it; say so now rather than a round late.
        if self.owners.get(camera_id) == self.node:
            self.owners = {**self.owners, camera_id: None}
            self._on_owners(self.owners)
