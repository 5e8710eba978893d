"""The bus between hub nodes: Redis tells every node when the shared log has grown.

Several hub nodes share one PostgreSQL log. Each node delivers to its own subscribers in
id order, and learns of other nodes' appends by reading the log (see ``EventLog.follow``).
Redis only makes that prompt: after each commit a node publishes the new head id on one
channel, and every node that hears a head it has not delivered yet reads up to it.

Redis never carries the only copy of anything. A lost message, a restart of Redis or a
node that cannot reach it only slows delivery to the log's poll interval; nothing is
missed, because the log is read, not the message. (A Redis Stream holding the events
themselves would be a second copy to trim and to reconcile with the log; the head id is
all a node needs.)

Beside the log's heads, Redis keeps the **registry** of live nodes (one key per node, with a TTL,
refreshed every heartbeat and at once when the entry changes: who has a call page open on the
node, who is in a call there, the calls it hosts) and gives each node an **inbox** channel that
the others send it messages on (the calls' signalling to a member connected to another node). A
node missing from the registry for :data:`GONE_AFTER_S` has stopped, and :attr:`RedisLink.on_gone`
hears of it with its last entry.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from hub.logsafe import mask
from hub.store.eventlog import EventLog

logger = logging.getLogger(__name__)

RETRY_MIN_S = 0.5
RETRY_MAX_S = 10.0
HEARTBEAT_S = 3.0
"""How often a node refreshes its entry in the registry of nodes."""
NODE_TTL_MS = 10_000
"""A node that stops refreshing leaves the registry after this long."""
GONE_AFTER_S = 2 * HEARTBEAT_S + 1
"""A node missing from the registry this long has stopped: every live node re-registers within a
heartbeat, even after Redis restarted empty, so a shorter absence proves nothing."""


@dataclass
class LinkStats:
    """Counters for /metrics."""

    announced: int = 0
    """Head ids published."""
    heard: int = 0
    """Heads from other nodes that were ahead of this node."""
    errors: int = 0
    """Connection or command failures (each followed by a retry)."""
    connected: bool = False
    """Whether the listener is subscribed now."""
    sent: int = 0
    """Messages sent to another node's inbox."""
    received: int = 0
    """Messages received in this node's inbox."""
    gone: int = 0
    """Other nodes noticed to have stopped (after :attr:`RedisLink.on_gone` heard of them)."""


def connect(url: str, timeout_s: float, **extra: object) -> aioredis.Redis:
    """A client whose commands fail within ``timeout_s`` and are never retried behind the caller's
    back: every user here has its own loop that backs off, falls back or simply tries next round."""
    return aioredis.from_url(
        url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s, retry=Retry(NoBackoff(), 0), **extra
    )


def stop_if_cancelled(exc: BaseException | None = None) -> None:
    """Raise ``CancelledError`` when this task was asked to stop and the request got lost below.

    A loop that retries on any error must not take a swallowed cancellation for one more failure:
    a node's Redis heartbeat once went on beating after its hub was told to stop (its task
    "cancelling" for ever, the hub's shutdown waiting on it), the request lost somewhere under a
    Redis command. Loops call this where they catch errors and where they wait.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError from exc


async def close_quietly(client: aioredis.Redis, url: str) -> None:
    """Close a client's connection pool: bounded, never raises (shutdown goes on regardless)."""
    try:
        async with asyncio.timeout(5):
            await client.aclose()
    except Exception as exc:
        logger.warning("redis %s: close failed (%s)", mask(url), type(exc).__name__)


def node_key(prefix: str, node: str) -> str:
    """The registry key of one hub node (``node`` ``"*"`` matches them all)."""
    return f"{prefix}:node:{node}"


def inbox_channel(prefix: str, node: str) -> str:
    """The channel other nodes send one hub node's messages on."""
    return f"{prefix}:to:{node}"


class RedisLink:
    """Announces this node's commits and wakes its log on other nodes' commits."""

    def __init__(self, url: str, prefix: str, log: EventLog, public_url: str | None = None) -> None:
        self.url = url
        self.public_url = public_url
        """Where browsers and other nodes reach this node (published in the registry)."""
        self.ingests = False
        self.published: Callable[[], list[dict[str, object]]] = list
        """The cameras published to this node now (WHIP), as its registry entry shows them."""
        self.peers: list[dict[str, object]] = []
        """The other live nodes' registry entries, as last read (every heartbeat)."""
        """Whether this node takes camera leases (only such nodes count towards a fair share)."""
        self.channel = f"{prefix}:log-head"
        self.prefix = prefix
        self.node = secrets.token_hex(6)
        """This node's name on the channel (so it can skip its own announcements)."""
        self.inbox = inbox_channel(prefix, self.node)
        """The channel other nodes send this node's messages on (:meth:`send_to`)."""
        self.extra: Callable[[], dict[str, object]] = dict
        """More of this node's registry entry (who is reachable here, who is in a call here)."""
        self.on_message: Callable[[dict[str, object]], None] | None = None
        """Called with each message another node sent this one."""
        self.on_gone: list[Callable[[list[dict[str, object]]], Awaitable[None]]] = []
        """Called with the last registry entries of nodes that stopped (see :data:`GONE_AFTER_S`)."""
        self._known: dict[str, dict[str, object]] = {}
        self._missing_since: dict[str, float] = {}
        self._beat = asyncio.Event()
        self.log = log
        self.stats = LinkStats()
        self._head = 0
        self._announce = asyncio.Event()
        self._client: aioredis.Redis | None = None
        self.started_at = time.time()

    def start(self, tg: asyncio.TaskGroup) -> list[asyncio.Task[None]]:
        """Run the listener and the announcer in the lifespan's task group."""
        # A command on a half-open connection fails instead of hanging, and a silent
        # subscription is checked, not trusted.
        self._client = connect(self.url, 5.0, socket_keepalive=True, health_check_interval=15)
        self.log.on_commit.append(self.committed)
        return [
            tg.create_task(self._listen(), name="redis-listen"),
            tg.create_task(self._announcer(), name="redis-announce"),
            tg.create_task(self._heartbeat(), name="redis-heartbeat"),
        ]

    async def aclose(self) -> None:
        """Close the connection pool (the tasks are cancelled by the owner); bounded, never raises."""
        if self.committed in self.log.on_commit:
            self.log.on_commit.remove(self.committed)
        client, self._client = self._client, None
        if client is not None:
            try:
                async with asyncio.timeout(5):
                    await client.delete(node_key(self.prefix, self.node))  # leave the registry at once
            except Exception as exc:  # the entry expires on its own
                logger.warning("redis %s: leaving the registry failed (%s)", mask(self.url), type(exc).__name__)
            await close_quietly(client, self.url)

    def entry(self) -> dict[str, object]:
        """This node as the registry shows it."""
        return {
            "node": self.node,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "url": self.public_url,
            "ingests": self.ingests,
            "started_at": self.started_at,
            "last_id": self.log.last_id,
            "seen_at": time.time(),
            "published": self.published(),
            **self.extra(),
        }

    def beat_now(self) -> None:
        """Refresh this node's registry entry now, not at the next heartbeat (it changed)."""
        self._beat.set()

    async def send_to(self, node: str, message: dict[str, object]) -> bool:
        """Publish ``message`` to another node's inbox; whether a node was listening there."""
        assert self._client is not None, "link not started"
        heard = await self._client.publish(inbox_channel(self.prefix, node), json.dumps(message))
        self.stats.sent += 1
        return bool(heard)

    async def nodes(self) -> list[dict[str, object]]:
        """Every live node (this one included) from the registry; raises if Redis cannot answer."""
        assert self._client is not None, "link not started"
        keys = [k async for k in self._client.scan_iter(match=node_key(self.prefix, "*"), count=100)]
        values = await self._client.mget(keys) if keys else []
        out = [json.loads(v) for v in values if v is not None]
        if not any(n.get("node") == self.node for n in out):
            out.append(self.entry())  # not registered yet (or just expired): still alive here
        return sorted(out, key=lambda n: (str(n.get("host")), int(n.get("pid") or 0)))

    async def _heartbeat(self) -> None:
        while True:
            self._beat.clear()
            try:
                assert self._client is not None
                await self._client.set(node_key(self.prefix, self.node), json.dumps(self.entry()), px=NODE_TTL_MS)
                self.peers = [n for n in await self.nodes() if n.get("node") != self.node]
            except Exception as exc:  # the registry is informative: retry next beat
                stop_if_cancelled(exc)
                self._failed("heartbeat", exc)
            else:
                await self._notice_gone()
            try:
                async with asyncio.timeout(HEARTBEAT_S):
                    await self._beat.wait()
            except TimeoutError:
                stop_if_cancelled()

    async def _notice_gone(self) -> None:
        """Tell :attr:`on_gone` about peers missing from the registry for :data:`GONE_AFTER_S`."""
        now = time.monotonic()
        here = {str(n.get("node")): n for n in self.peers}
        for node in here:
            self._missing_since.pop(node, None)
        self._known.update(here)
        gone = []
        for node in [n for n in self._known if n not in here]:
            since = self._missing_since.setdefault(node, now)
            if now - since >= GONE_AFTER_S:
                gone.append(self._known.pop(node))
                del self._missing_since[node]
        if not gone:
            return
        logger.info("redis: hub nodes %s stopped", ", ".join(str(n.get("node")) for n in gone))
        for handler in list(self.on_gone):
            try:
                await handler(gone)
            except Exception:
                logger.exception("redis: a handler of stopped nodes failed")
        self.stats.gone += len(gone)

    def published_elsewhere(self, camera_id: str) -> tuple[dict[str, object], dict[str, object]] | None:
        """(the node's entry, the camera's) when another live node has ``camera_id`` published to it."""
        for node in self.peers:
            for cam in node.get("published") or []:  # type: ignore[attr-defined]
                if isinstance(cam, dict) and cam.get("id") == camera_id:
                    return node, cam
        return None

    def committed(self, head: int) -> None:
        """Called by the log after each commit: announce the newest head (older ones are moot)."""
        if head > self._head:
            self._head = head
            self._announce.set()

    async def _announcer(self) -> None:
        # One pending value, not a queue: a burst of commits becomes one message with the newest head.
        sent = 0
        delay = RETRY_MIN_S
        while True:
            await self._announce.wait()
            self._announce.clear()
            head = self._head
            if head <= sent:
                continue
            try:
                assert self._client is not None
                await self._client.publish(self.channel, f"{self.node} {head}")
                sent = head
                self.stats.announced += 1
                delay = RETRY_MIN_S
            except Exception as exc:  # any failure: back off and retry, never take the hub down
                stop_if_cancelled(exc)
                self._failed("announce", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)
                self._announce.set()  # try again with whatever is newest then

    async def _listen(self) -> None:
        delay = RETRY_MIN_S
        while True:
            try:
                assert self._client is not None
                async with self._client.pubsub() as ps:
                    await ps.subscribe(self.channel, self.inbox)
                    async for msg in ps.listen():
                        if msg.get("type") == "message":
                            channel = msg.get("channel")
                            if (channel.decode() if isinstance(channel, bytes) else channel) == self.inbox:
                                self._received(msg.get("data"))
                            else:
                                self._heard(msg.get("data"))
                        elif msg.get("type") == "subscribe":  # Redis confirmed: we hear from now on
                            self.stats.connected = True
                            logger.info("redis %s: following %s", mask(self.url), self.channel)
                            delay = RETRY_MIN_S
                            # Whatever was committed while we were not listening: look now.
                            self.log.nudge()
            except Exception as exc:  # any failure: back off and resubscribe, never take the hub down
                stop_if_cancelled(exc)
                self._failed("listen", exc)
            self.stats.connected = False
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)

    def _heard(self, raw: object) -> None:
        try:
            node, head_s = (raw.decode() if isinstance(raw, bytes) else str(raw)).split()
            head = int(head_s)
        except ValueError:
            logger.warning("redis: ignoring a malformed message on %s", self.channel)
            return
        if node != self.node and head > self.log.last_id:
            self.stats.heard += 1
            self.log.nudge()

    def _received(self, raw: object) -> None:
        try:
            message = json.loads(raw.decode() if isinstance(raw, bytes) else str(raw))
            if not isinstance(message, dict):
                raise ValueError("not an object")
        except ValueError:
            logger.warning("redis: ignoring a malformed message in %s", self.inbox)
            return
        self.stats.received += 1
        if self.on_message is not None:
            try:
                self.on_message(message)
            except Exception:
                logger.exception("redis: a message from another node could not be handled")

    def _failed(self, what: str, exc: BaseException) -> None:
        self.stats.errors += 1
        self.stats.connected = False
        # Redis errors can quote the URL; only the masked one is logged.
        logger.warning(
            "redis %s: %s failed (%s); the log's poll covers until it is back", mask(self.url), what, type(exc).__name__
        )
