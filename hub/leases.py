"""Camera leases: among several hub nodes, each camera is ingested and analysed by one live node.

A lease is one Redis key per camera, ``<prefix>:camera:<id>``, holding the owning node's id with a
time to live. Every round (``storage.camera_lease_renew_s``) a node

1. renews the leases it holds, atomically and only where the key still names it (Lua);
2. re-takes a lease whose key expired meanwhile (Redis was away) or stops the camera when another
   node took it;
3. takes free cameras (``SET NX PX``) up to its fair share, ``ceil(cameras / live nodes)`` with
   the live nodes from the registry (:meth:`hub.redislink.RedisLink.nodes`);
4. hands back one camera while it holds more than its share (stops it here, then deletes the key
   only if it still names this node), so a node that joins gets cameras.

A node that dies stops renewing: its leases expire after the TTL and the others take the cameras
in their next round. While Redis cannot answer, a node keeps running what it holds (the cameras
stay watched) and takes nothing; once Redis answers again it renews, or stops the cameras another
node took meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from hub.logsafe import mask
from hub.redislink import close_quietly, connect, node_key

logger = logging.getLogger(__name__)

REDIS_TIMEOUT_S = 2.0
"""A lease command that takes longer counts as Redis not answering."""

# KEYS: the leases held; ARGV: node id, ttl in ms. Returns 1 per key renewed, 0 where the key
# is gone or names another node (compare-and-pexpire: never extends someone else's lease).
_RENEW_LUA = """
local out = {}
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
"""

# Compare-and-delete: hands a lease back only if it still names this node.
_RELEASE_LUA = """
local n = 0
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    n = n + redis.call('DEL', key)
  end
end
return n
"""

CameraFn = Callable[[str], Awaitable[None]]


@dataclass
class LeaseStats:
    """Counters for /metrics."""

    acquired: int = 0
    """Leases taken (free cameras, or re-taken after they expired)."""
    released: int = 0
    """Cameras handed back to even out the load."""
    lost: int = 0
    """Cameras stopped because another node took their lease."""
    errors: int = 0
    """Rounds Redis could not answer."""


@dataclass(frozen=True)
class Placement:
    """Where a camera is ingested, as the leases say."""

    owner: str | None
    """Node id holding the lease; None when no node holds it."""
    url: str | None
    """That node's public base URL, when it published one."""


class CameraLeases:
    """Decides which of ``cameras`` this node ingests, and starts/stops them accordingly."""

    def __init__(
        self,
        url: str,
        prefix: str,
        node: str,
        cameras: Sequence[str],
        nodes: Callable[[], Awaitable[list[dict[str, object]]]],
        start_camera: CameraFn,
        stop_camera: CameraFn,
        on_owners: Callable[[dict[str, str | None]], None],
        ttl_s: float = 10.0,
        renew_s: float = 3.0,
    ) -> None:
        self.url = url
        self.node = node
        self.key_prefix = f"{prefix}:camera:"
        self.prefix = prefix
        # Each node walks the free cameras from its own starting point, so nodes starting together
        # mostly reach for different cameras.
        offset = zlib.crc32(node.encode()) % max(1, len(cameras))
        self.cameras = list(cameras)
        self._order = self.cameras[offset:] + self.cameras[:offset]
        self._nodes = nodes
        self._start_camera = start_camera
        self._stop_camera = stop_camera
        self._on_owners = on_owners
        self.ttl_ms = int(ttl_s * 1000)
        self.renew_s = renew_s
        self.held: set[str] = set()
        """Cameras whose lease this node holds (including one being handed back)."""
        self.owners: dict[str, str | None] = {}
        """Every camera's lease holder as last read."""
        self.node_urls: dict[str, str] = {}
        """Public URLs of the live nodes as last read."""
        self.stats = LeaseStats()
        self.available = True
        """Whether Redis answered the last round."""
        self._moving: dict[str, asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None
        self._client = connect(url, REDIS_TIMEOUT_S)  # a failed round is simply the next round's work
        self._renew = self._client.register_script(_RENEW_LUA)
        self._release = self._client.register_script(_RELEASE_LUA)

    def key(self, camera_id: str) -> str:
        """The Redis key of a camera's lease."""
        return self.key_prefix + camera_id

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start the rounds (the first one at once)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="camera-leases")

    async def stop(self) -> None:
        """Stop the rounds and wait for cameras being handed back (each stop is bounded). Idempotent.

        The leases still held stay in Redis until :meth:`release`, once the cameras are stopped.
        """
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._moving:
            await asyncio.gather(*self._moving.values(), return_exceptions=True)

    async def release(self) -> None:
        """Hand back every lease this node holds (at shutdown, after its cameras stopped); never raises."""
        held, self.held = sorted(self.held), set()
        if not held:
            return
        try:
            async with asyncio.timeout(REDIS_TIMEOUT_S * 2):
                await self._release(keys=[self.key(c) for c in held], args=[self.node])
            logger.info("leases %s: handed back %d cameras", self.node, len(held))
        except Exception as exc:  # they expire on their own after the TTL
            logger.warning(
                "leases %s: could not hand back %d cameras on %s (%s); they expire in %.0f s",
                self.node,
                len(held),
                mask(self.url),
                type(exc).__name__,
                self.ttl_ms / 1000,
            )

    async def aclose(self) -> None:
        """Close the connection pool (bounded; never raises)."""
        await close_quietly(self._client, self.url)

    # -- queries -------------------------------------------------------------------------------

    async def locate(self, camera_id: str) -> Placement:
        """Who ingests ``camera_id`` now, read from Redis (raises when Redis cannot answer)."""
        async with asyncio.timeout(REDIS_TIMEOUT_S):
            raw = await self._client.get(self.key(camera_id))
            owner = raw.decode() if isinstance(raw, bytes) else raw
            if owner is None:
                return Placement(None, None)
            entry = await self._client.get(node_key(self.prefix, owner))
        url = self.node_urls.get(owner)
        if entry is not None:
            url = json.loads(entry).get("url") or url
        return Placement(owner, url)

    # -- rounds --------------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            try:
                async with asyncio.timeout(REDIS_TIMEOUT_S * 3):
                    await self._round()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: keep what runs, take nothing, try next round
                self.stats.errors += 1
                if self.available:
                    self.available = False
                    logger.warning(
                        "leases %s: Redis %s cannot answer (%s); keeping the %d cameras running here, "
                        "taking no others until it is back",
                        self.node,
                        mask(self.url),
                        type(exc).__name__,
                        len(self.held),
                    )
            else:
                if not self.available:
                    self.available = True
                    logger.info(
                        "leases %s: Redis %s answers again; %d cameras here", self.node, mask(self.url), len(self.held)
                    )
            await asyncio.sleep(self.renew_s)

    async def _round(self) -> None:
        await self._renew_held()
        keys = [self.key(c) for c in self.cameras]
        values = await self._client.mget(keys) if keys else []
        owners = {c: (v.decode() if isinstance(v, bytes) else v) for c, v in zip(self.cameras, values, strict=True)}
        nodes = await self._nodes()
        self.node_urls = {str(n["node"]): str(n["url"]) for n in nodes if n.get("url")}
        # Nodes without cameras of their own (an API-only node) take no share.
        ingesting = {str(n["node"]) for n in nodes if n.get("ingests")} | {self.node}
        share = math.ceil(len(self.cameras) / len(ingesting))
        keeping = [c for c in self.cameras if c in self.held and c not in self._moving]
        if len(keeping) > share:
            self._hand_back(keeping[-1])
        else:
            for camera_id in self._order:
                if len(keeping) >= share:
                    break
                if owners.get(camera_id) is not None or camera_id in self._moving:
                    continue
                if await self._client.set(self.key(camera_id), self.node, nx=True, px=self.ttl_ms):
                    owners[camera_id] = self.node
                    keeping.append(camera_id)
                    await self._take(camera_id, "it was free")
        self.owners = owners
        self._on_owners(owners)

    async def _renew_held(self) -> None:
        held = sorted(self.held)
        if not held:
            return
        renewed = await self._renew(keys=[self.key(c) for c in held], args=[self.node, self.ttl_ms])
        for camera_id, ok in zip(held, renewed, strict=True):
            if ok:
                continue
            # Expired while Redis was away and nobody took it: ours again. Otherwise it is lost.
            if await self._client.set(self.key(camera_id), self.node, nx=True, px=self.ttl_ms):
                self.stats.acquired += 1
                logger.info("leases %s: camera %s re-taken after its lease expired", self.node, camera_id)
                continue
            self.held.discard(camera_id)
            self.stats.lost += 1
            logger.warning(
                "leases %s: camera %s is now ingested by another node; stopping it here", self.node, camera_id
            )
            self._move(camera_id, release=False)

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
        if not release:
            return
        # Stopped first, released second: two nodes never ingest it at once on purpose.
        self.held.discard(camera_id)
        try:
            async with asyncio.timeout(REDIS_TIMEOUT_S):
                await self._release(keys=[self.key(camera_id)], args=[self.node])
        except Exception as exc:  # it expires on its own
            logger.warning("leases %s: camera %s lease not handed back (%s)", self.node, camera_id, type(exc).__name__)
            return
        # Nobody holds it until another node's round takes it; say so now rather than a round late.
        if self.owners.get(camera_id) == self.node:
            self.owners = {**self.owners, camera_id: None}
            self._on_owners(self.owners)
