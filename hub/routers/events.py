"""The event log over HTTP and as a live WebSocket feed with resume."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, WebSocket, WebSocketDisconnect, status

from hub.access.auth import Principal
from hub.access.sessions import SESSION_ENDED_CLOSE, EndSignal
from hub.edge.deps import CallerDep, HubDep, deny_handshake, hub_of, principal_of
from hub.schemas import ROW_ID_MAX, Cursor, EventOut, EventPage, JournalRequest
from hub.services import Hub
from hub.store.bus import Subscription
from hub.store.events import Event, EventFilter, reader_tokens

logger = logging.getLogger(__name__)

router = APIRouter(tags=["events"])

REPLAY_PAGE = 500
WS_RESYNC = 4000
"""Close code after a ``resync`` message: reconnect with ``since=last_id``."""

TypeQuery = Annotated[list[str] | None, Query(alias="type", description="Type prefixes to keep, e.g. `camera.`")]


def _filter(types: list[str] | None, subject: str | None, who: Principal) -> EventFilter:
    """The caller's filter; a worker's is narrowed to their grids and the events naming them in
    their ``audience`` (an incident assigned to them from another grid, say)."""
    grids = who.visible_grids()
    named = frozenset() if grids is None else reader_tokens(grids, who.person, who.username)
    return EventFilter(tuple(t for t in (types or []) if t), subject, grids, named)


@router.get("/api/events")
async def list_events(
    hub: HubDep,
    who: CallerDep,
    since: Annotated[int, Query(ge=0, le=ROW_ID_MAX, description="Return events after this id.")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    types: TypeQuery = None,
    subject: Annotated[str | None, Query(max_length=128)] = None,
) -> EventPage:
    """A page of the log after ``since``; continue from ``last_id``."""
    head = await hub.log.head_for(since)
    if since > head:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"since={since} is beyond the end of the log ({head})")
    events = await hub.log.read(since, limit, _filter(types, subject, who))
    if events and events[-1].id > head:  # committed, not yet delivered on this node: the read saw it
        head = events[-1].id
    last = events[-1].id if len(events) == limit else head
    return EventPage(events=[EventOut(**e.as_dict()) for e in events], last_id=last, head_id=head)


@router.post("/api/journal", status_code=status.HTTP_201_CREATED)
async def journal(body: JournalRequest, hub: HubDep, who: CallerDep) -> EventOut:
    """Write an entry into the duty log; it is an event like any other."""
    if body.grid is not None and body.grid not in hub.directory.nodes:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"grid {body.grid!r} does not exist")
    ev = await hub.log.append("journal.entry", body.subject, who.username, {"text": body.text}, grid=body.grid)
    return EventOut(**ev.as_dict())


@router.websocket("/ws/events")
async def event_feed(
    ws: WebSocket,
    since: Cursor | None = None,
    types: TypeQuery = None,
    subject: str | None = None,
) -> None:
    """Replay events after ``since``, then stream live; a client that falls behind gets ``resync``.

    Each message is either a JSON array of events in id order, or a control object:
    ``{"control": "live", "last_id": N}`` once the replay is done, and
    ``{"control": "resync", "last_id": N}`` before closing (code 4000) a client that fell
    behind — it reconnects with ``since=N`` and misses nothing.
    """
    hub = hub_of(ws)
    who = principal_of(ws)
    head = await hub.log.head_for(since)
    if since is not None and since > head:
        await deny_handshake(ws, status.HTTP_400_BAD_REQUEST, f"since={since} is outside the log (0..{head})")
        return
    flt = _filter(types, subject, who)
    # Subscribe before replaying, so nothing committed during the replay is missed.
    sub = hub.bus.subscribe(hub.settings.server.ws_queue_events, name=f"ws:{who.username}")
    cursor = head if since is None else since
    await run_session(
        ws, hub, sub, f"feed {who.username}", _send(ws, hub, sub, flt, cursor, who.username), _drain_client(ws)
    )


async def run_session(
    ws: WebSocket,
    hub: Hub,
    sub: Subscription,
    name: str,
    sender: Coroutine[Any, Any, None],
    receiver: Coroutine[Any, Any, None],
) -> None:
    """Accept ``ws`` and run ``sender`` and ``receiver`` until either ends or the hub shuts down.

    Shared by every WebSocket feed: the client count, the close on shutdown (1001), and the
    release of the bus subscription all happen here, whichever way the session ends.
    """
    counted = False
    who = principal_of(ws)
    ended = EndSignal()
    try:
        await ws.accept()
        hub.feeds.clients += 1
        counted = True
        with hub.login_sessions.hold(who.username, who.session, who.began_at, ended.end):
            async with asyncio.TaskGroup() as tg:
                tasks = [tg.create_task(sender), tg.create_task(receiver)]
                closing = tg.create_task(hub.closing.wait())
                logged_out = tg.create_task(ended.event.wait())
                await asyncio.wait([*tasks, closing, logged_out], return_when=asyncio.FIRST_COMPLETED)
                for t in (*tasks, closing, logged_out):
                    t.cancel()
        if closing.done() and not closing.cancelled():
            with contextlib.suppress(Exception):
                await ws.close(1001, "hub shutting down")
        elif ended.event.is_set():
            with contextlib.suppress(Exception):
                await ws.close(SESSION_ENDED_CLOSE, ended.close_reason)
    except* (WebSocketDisconnect, ConnectionError, RuntimeError) as eg:
        # The client left (or closed) while we were sending: nothing is lost, it resumes by id.
        logger.debug("%s: ended: %r", name, eg.exceptions[0])
    finally:
        sub.close()
        if counted:
            hub.feeds.clients -= 1
        else:  # the handshake failed: the session's coroutines never started
            sender.close()
            receiver.close()


async def _drain_client(ws: WebSocket) -> None:
    # Clients do not talk on this feed; reading only notices when they leave.
    while True:
        msg = await ws.receive()
        if msg["type"] == "websocket.disconnect":
            return


FRAME_MAX_CHARS = 256 * 1024
"""Largest feed message we build; well under common client limits (1 MiB)."""


def _frames(events: list[Event]) -> list[str]:
    # One WebSocket message carries the events ready at that moment: under load that turns
    # thousands of tiny frames per second into a few larger ones, bounded in size.
    frames: list[str] = []
    part: list[str] = []
    size = 0
    for ev in events:
        if part and size + len(ev.wire) > FRAME_MAX_CHARS:
            frames.append("[" + ",".join(part) + "]")
            part, size = [], 0
        part.append(ev.wire)
        size += len(ev.wire) + 1
    if part:
        frames.append("[" + ",".join(part) + "]")
    return frames


async def _send(ws: WebSocket, hub: Hub, sub: Subscription, flt: EventFilter, cursor: int, who: str) -> None:
    while True:  # replay from the log
        page = await hub.log.read(cursor, REPLAY_PAGE, flt)
        for frame in _frames(page):
            await ws.send_text(frame)
        if page:
            cursor = page[-1].id
            hub.feeds.sent += len(page)
        if len(page) < REPLAY_PAGE:
            break
    await ws.send_text(json.dumps({"control": "live", "last_id": cursor}))
    flush_s = hub.settings.server.ws_flush_ms / 1000
    loop = asyncio.get_running_loop()
    last_send = 0.0
    while True:
        batch = await sub.get()
        # At low rates an event goes out at once; at high rates one message per flush interval.
        wait_s = last_send + flush_s - loop.time()
        if wait_s > 0 and not sub.overflowed:
            await asyncio.sleep(wait_s)
            batch += sub.take()
        last_send = loop.time()
        batch = [ev for ev in batch if ev.id > cursor]
        if batch:
            out = [ev for ev in batch if flt.matches(ev)]
            for frame in _frames(out):
                await ws.send_text(frame)
            hub.feeds.sent += len(out)
            cursor = batch[-1].id
        if sub.overflowed:
            hub.feeds.resyncs += 1
            logger.info("feed %s: fell behind at id %d, asking it to resync", who, cursor)
            await ws.send_text(json.dumps({"control": "resync", "last_id": cursor}))
            await ws.close(WS_RESYNC, "fell behind; reconnect with since=last_id")
            return
