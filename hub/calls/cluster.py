"""Calls across hub nodes: who is reachable where, "busy" for the whole cluster, signalling to a
member connected to another node, and the calls of a node that stopped ended in the log.

A call lives on the node where it was started (its media, its floor, its timers). Its members may
have their call page (``/ws/calls``) open on any node. This module makes that work, with Redis as
the router (as LiveKit's Redis router relays a participant's signalling to the room's node):

- **Presence.** Each node's registry entry (:class:`hub.store.redislink.RedisLink`) lists who has
  a call page open there (``present``) and who is ringing or talking in a call there (``busy``),
  refreshed at once when either changes and on every heartbeat, gone with the node's entry when
  it stops. Before it rings anyone, a node reads the registry afresh.
- **Routing.** A call's state goes to each member on their own node: to this node's pages
  directly, to another node's through that node's inbox channel, in order (one bounded queue, one
  sender; what overflows is counted, and the page resyncs on its next connect). The node that
  relays it keeps the latest state of each such call per user, so a page that reconnects there
  gets it in its first snapshot. The call carries its node's ``url``: the member's page sends the
  call's requests (answer, media, floor, hang up) there, as WHEP players do for cameras.
- **A node that stops.** Each entry lists the calls the node hosts. When a node has been missing
  from the registry long enough to have stopped (:data:`hub.store.redislink.GONE_AFTER_S`), every
  surviving node tries to log ``call.ended`` for each of its calls; the append checks, under the
  log's append lock, that no ``call.ended`` of that call is there yet, so it is logged once. Members
  connected to a survivor are told the call ended.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.calls.model import Call, CallKind, CallState, MemberState
from hub.calls.presence import Presence
from hub.store.eventlog import EventDraft, EventLog, events_table
from hub.store.redislink import RedisLink, stop_if_cancelled

log = logging.getLogger(__name__)

OUTBOX_MAX = 1_000
"""Messages for members on other nodes waiting to be published; beyond this they are dropped (counted)."""
REFRESH_TIMEOUT_S = 2.0
"""Reading the registry before ringing someone: past this, what was last read is used."""
SEND_TIMEOUT_S = 2.0
"""Publishing one message to another node's inbox."""
UNLISTED_S = 15.0
"""A relayed call its node no longer lists, last heard of this long ago, has ended (its "ended" was lost)."""
NODE_LOST = "the hub node hosting it stopped"
"""``call.ended`` reason of a call whose node stopped."""


class AlreadyEnded(Exception):
    """The log already has this call's end (another surviving node logged it first)."""


@dataclass
class ClusterCallStats:
    """Counters for /metrics."""

    relayed_out: int = 0
    """Call states sent to members on other nodes."""
    relayed_in: int = 0
    """Call states received for members on this node."""
    dropped: int = 0
    """Call states for other nodes dropped because the outbox was full or Redis failed."""
    orphans_ended: int = 0
    """Calls of stopped nodes this node logged as ended."""


class CallCluster:
    """One node's part in calls that span nodes (see the module)."""

    def __init__(
        self,
        link: RedisLink,
        log_: EventLog,
        presence: Presence,
        live_calls: Callable[[], list[Call]],
        url: str,
    ) -> None:
        self.link = link
        self.log = log_
        self.presence = presence
        self._live_calls = live_calls
        self.url = url
        """This node's public URL (the ``url`` of the calls it hosts)."""
        self.stats = ClusterCallStats()
        self.relayed: dict[str, dict[str, dict[str, Any]]] = {}
        """Per user on this node: the latest state of each call hosted elsewhere, by call id."""
        self._relayed_at: dict[str, float] = {}
        self._outbox: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue(OUTBOX_MAX)
        self._task: asyncio.Task[None] | None = None
        link.extra = self.entry
        link.on_message = self.received
        link.on_gone.append(self.nodes_stopped)
        presence.on_change = link.beat_now

    def start(self) -> None:
        """Start sending to other nodes."""
        if self._task is None:
            self._task = asyncio.create_task(self._sender(), name="calls-cluster-sender")

    async def aclose(self) -> None:
        """Stop sending (what is queued is dropped: the pages resync when they reconnect)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    # -- this node's registry entry ------------------------------------------------------------

    def entry(self) -> dict[str, object]:
        """Who is reachable here, who is busy in a call here, and the calls hosted here."""
        busy: set[str] = set()
        calls = []
        for call in self._live_calls():
            for m in call.members.values():
                if m.state == MemberState.ACCEPTED or (m.state == MemberState.INVITED and call.kind == CallKind.CALL):
                    busy.add(m.username)
            calls.append({"id": call.id, "kind": call.kind.value, "grid": call.grid, "members": list(call.members)})
        return {"present": self.presence.users(), "busy": sorted(busy), "calls": calls}

    def changed(self) -> None:
        """A call here changed (who is busy, which calls exist): say so in the registry now."""
        self.link.beat_now()

    # -- where people are ----------------------------------------------------------------------

    async def refresh(self) -> None:
        """Read the registry now (what was last read stays when Redis cannot answer in time)."""
        try:
            async with asyncio.timeout(REFRESH_TIMEOUT_S):
                nodes = await self.link.nodes()
        except Exception as exc:
            log.warning("calls: the node registry cannot be read (%s); using what was read before", type(exc).__name__)
            return
        self.link.peers = [n for n in nodes if n.get("node") != self.link.node]

    def node_of(self, username: str) -> str | None:
        """The other node where ``username`` has a call page open, as last read (None: none)."""
        for peer in self.link.peers:
            if username in (peer.get("present") or []):  # type: ignore[operator]
                return str(peer.get("node"))
        return None

    def busy_elsewhere(self, username: str) -> bool:
        """Whether ``username`` rings or talks in a call on another node, as last read."""
        return any(username in (peer.get("busy") or []) for peer in self.link.peers)  # type: ignore[operator]

    # -- signalling ----------------------------------------------------------------------------

    def notify(self, call: Call, message: dict[str, Any]) -> None:
        """Send a call's state to its members whose pages are open on other nodes (in order)."""
        for username in call.members:
            if self.presence.reachable(username):
                continue
            node = self.node_of(username)
            if node is None:
                continue
            try:
                self._outbox.put_nowait((node, {"user": username, "message": message}))
            except asyncio.QueueFull:
                self.stats.dropped += 1

    async def _sender(self) -> None:
        while True:
            node, payload = await self._outbox.get()
            try:
                async with asyncio.timeout(SEND_TIMEOUT_S):
                    await self.link.send_to(node, payload)
                self.stats.relayed_out += 1
            except Exception as exc:  # the member's page resyncs when it reconnects
                stop_if_cancelled(exc)
                self.stats.dropped += 1
                log.warning("calls: a call state for node %s was not sent (%s)", node, type(exc).__name__)

    def received(self, payload: dict[str, object]) -> None:
        """A call state from the node hosting the call, for a user whose page is open here."""
        username, message = payload.get("user"), payload.get("message")
        if not isinstance(username, str) or not isinstance(message, dict):
            log.warning("calls: ignoring a malformed message from another node")
            return
        call = message.get("call")
        if isinstance(call, dict) and isinstance(call.get("id"), str):
            self._remember(username, call)
        self.stats.relayed_in += 1
        self.presence.send(username, message)

    def _remember(self, username: str, call: dict[str, Any]) -> None:
        self._relayed_at[call["id"]] = time.monotonic()
        mine = self.relayed.setdefault(username, {})
        if call.get("state") == CallState.ENDED.value:
            mine.pop(call["id"], None)
            self._relayed_at.pop(call["id"], None)
        else:
            mine[call["id"]] = call
        if not mine:
            self.relayed.pop(username, None)

    def calls_of(self, username: str) -> list[dict[str, Any]]:
        """The calls hosted elsewhere that ``username`` is in, as last relayed here, and still listed
        by their node (a lost "ended" does not leave a call here for ever)."""
        live = {
            str(c.get("id"))
            for peer in self.link.peers
            for c in (peer.get("calls") or [])  # type: ignore[attr-defined]
            if isinstance(c, dict)
        }
        mine = self.relayed.get(username, {})
        now = time.monotonic()
        # Not listed by any node, and relayed long enough ago that its node has listed it since.
        for call_id in [i for i in mine if i not in live and now - self._relayed_at.get(i, now) > UNLISTED_S]:
            del mine[call_id]
        if not mine:
            self.relayed.pop(username, None)
        return list(mine.values())

    # -- nodes that stopped --------------------------------------------------------------------

    async def nodes_stopped(self, entries: list[dict[str, object]]) -> None:
        """End, once in the log, the calls the stopped nodes hosted; tell the members here."""
        for entry in entries:
            for c in entry.get("calls") or []:  # type: ignore[attr-defined]
                if isinstance(c, dict) and isinstance(c.get("id"), str):
                    await self._end_orphan(c, str(entry.get("node")))

    async def _end_orphan(self, c: dict[str, Any], node: str) -> None:
        call_id = c["id"]

        def first_end(conn: Connection, draft: EventDraft) -> None:
            t = events_table
            q = sa.select(t.c.id).where(t.c.subject == call_id, t.c.type == "call.ended").limit(1)
            if conn.execute(q).first() is not None:
                raise AlreadyEnded(call_id)

        data = {"kind": c.get("kind"), "reason": NODE_LOST, "node": node}
        try:
            await self.log.append("call.ended", call_id, "system", data, grid=c.get("grid"), op=first_end)
        except AlreadyEnded:
            pass
        except Exception as exc:
            log.warning("call %s: its node %s stopped, and its end could not be logged (%s)", call_id, node, exc)
        else:
            self.stats.orphans_ended += 1
            log.info("call %s: ended, its node %s stopped", call_id, node)
        for username in c.get("members") or []:
            last = self.relayed.get(username, {}).get(call_id)
            if last is None:
                continue
            ended = {**last, "state": CallState.ENDED.value, "ended_reason": NODE_LOST}
            self._remember(username, ended)
            self.presence.send(username, {"op": "call", "call": ended})
