"""The worker channel: instructions for one person, resumable by event id, receipts back.

A page starts (and restarts) from ``GET /api/worker/instructions``: the inbox as it stands, each
instruction with the caller's own receipt state, and the ``cursor`` to connect from. Then:

Server → client messages on ``/ws/worker?since=cursor`` (JSON objects):
  ``{"type": "instruction", "cursor": N, "instruction": {...}}`` — new, for you;
  ``{"type": "amended" | "cancelled" | "renotify", "cursor": N, "instruction": {...}}``;
  ``{"type": "notice", "cursor": N, ...}`` — as a grid leader: people of yours have not confirmed;
  ``{"type": "live", "cursor": N}`` — the replay after ``since`` is complete;
  ``{"type": "receipt", "id": I, "state": S}`` — your receipt as the hub now has it;
  ``{"type": "error", "status": C, "detail": ..., "id": I, "request": R}`` — your ``R`` for ``I``
  was refused (4xx: do not send it again) or could not be stored now (5xx: send it again later);
  ``{"type": "resync", "cursor": N}`` — you fell behind: reconnect with ``since=N``;
  ``{"type": "go_live", "cursor": N, "request": {...}}`` — staff ask you to show your camera: publish
  over WHIP at ``request.whip`` (``/whip/field-<you>``); ``request`` has ``id``, ``by`` (login),
  ``by_name``, ``note``, ``incident``, ``camera`` (what it is about, each may be null), ``at`` and
  ``expires_at`` (after which it is no longer sent, not even on replay).
Client → server: ``{"type": "delivered" | "read" | "ack", "id": I}``, ``{"type": "reply", "id": I, "reply": "..."}``.
Keep the last ``cursor`` and reconnect with ``since=cursor``: nothing addressed to you is missed;
drop duplicates by instruction id and message type.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, WebSocket, WebSocketDisconnect, status
from pydantic import BaseModel, ConfigDict, Field

from hub.access.auth import Principal
from hub.config import Role
from hub.edge.deps import CallerDep, HubDep, deny_handshake, hub_of, principal_of
from hub.incidents.errors import DeskError
from hub.instructions.model import WORKER_FEED_TYPES, ReceiptState
from hub.instructions.service import notice_message
from hub.routers.events import WS_RESYNC, run_session
from hub.schemas import Cursor, NoNul
from hub.services import Hub
from hub.store.bus import Subscription
from hub.store.events import AUDIENCE_KEY, Event, EventFilter, audience

logger = logging.getLogger(__name__)

router = APIRouter(tags=["worker"])

REPLAY_PAGE = 500
STEPS = {
    "delivered": ReceiptState.DELIVERED,
    "read": ReceiptState.READ,
    "ack": ReceiptState.ACKNOWLEDGED,
    "reply": ReceiptState.REPLIED,
}
GO_LIVE = "worker.go_live_requested"
"""Staff asked a worker to show their camera (``POST /api/workers/{username}/go-live``)."""
GO_LIVE_TTL_S = 120.0
"""A go-live request older than this is not shown any more (a phone reconnecting later skips it)."""
FEED_TYPES = (*WORKER_FEED_TYPES, GO_LIVE)
"""What the worker channel follows."""

KINDS = {
    "instruction.sent": "instruction",
    "instruction.amended": "amended",
    "instruction.cancelled": "cancelled",
    "instruction.renotified": "renotify",
    "instruction.escalated": "notice",
}


SHARED_CACHE = 64
"""Recent events whose message text (the same for every recipient) is kept ready."""


def _remember(cache: OrderedDict[int, Any], key: int, value: Any) -> Any:
    cache[key] = value
    while len(cache) > SHARED_CACHE:
        cache.popitem(last=False)
    return value


def _dumps(msg: dict[str, Any]) -> str:
    return json.dumps(msg, separators=(",", ":"), ensure_ascii=False)


async def text_for(hub: Hub, ev: Event, person: str) -> str | None:
    """The message ``person`` gets for ``ev`` as JSON text, or ``None`` when it is not theirs.

    A broadcast to thousands is one event: membership is a set lookup and the text is built
    once and shared by every connection it goes to.
    """
    if ev.type == GO_LIVE:
        fresh = ev.data.get("expires_at", 0) > time.time()
        return (
            _dumps({"type": "go_live", "cursor": ev.id, "request": ev.data})
            if fresh and ev.data.get("person") == person
            else None
        )
    kind = KINDS.get(ev.type)
    if kind is None:
        return None
    iid = int(ev.subject.split(":", 1)[1])
    if kind == "notice":
        mine = [n["persons"] for n in ev.data.get("notices", ()) if n["leader"] == person]
        return _dumps(notice_message(ev, mine[0])) if mine else None
    if kind == "renotify":
        cache = hub.instructions.persons_by_event
        persons = cache.get(ev.id) or _remember(cache, ev.id, frozenset(ev.data["persons"]))
        if person not in persons:
            return None
    elif person not in await hub.instructions.members(iid):
        return None
    texts = hub.instructions.text_by_event
    text = texts.get(ev.id)
    if text is None:
        msg: dict[str, Any] = {"type": kind, "cursor": ev.id, "id": iid}
        if kind in ("instruction", "renotify"):
            msg["instruction"] = ev.data["instruction"]
        elif kind == "amended":
            msg.update(text=ev.data["text"], amendments=ev.data["amendments"])
        text = _remember(texts, ev.id, _dumps(msg))
    return text


@router.get("/api/worker/instructions")
async def my_instructions(hub: HubDep, who: CallerDep) -> dict[str, Any]:
    """Your inbox as it stands, with your receipt on each, and the ``cursor`` to follow it from.

    Every instruction you have not confirmed, and the latest you confirmed or that were
    cancelled; as a leader, the latest ``notices`` of who in your grid has not confirmed one (the
    same messages the channel sends, with their ``cursor``). Connect ``/ws/worker?since=cursor``
    next: what changes after this answer comes there (an instruction may come both ways; keep one
    per id, and one notice per cursor).
    """
    # Read the cursor first: everything up to it is committed, so it is in the answer too.
    cursor = hub.log.last_id
    return {
        "cursor": cursor,
        "instructions": await hub.instructions.inbox(who.person),
        "notices": await hub.instructions.notices(who.person),
    }


@router.websocket("/ws/worker")
async def worker_channel(ws: WebSocket, since: Cursor | None = None) -> None:
    """Instructions addressed to the caller, replayed after ``since`` and then live; receipts in."""
    hub = hub_of(ws)
    who = principal_of(ws)
    head = await hub.log.head_for(since)
    if since is not None and since > head:
        await deny_handshake(ws, status.HTTP_400_BAD_REQUEST, f"since={since} is outside the log (0..{head})")
        return
    sub = hub.bus.subscribe(hub.settings.server.ws_queue_events, name=f"worker:{who.username}", types=FEED_TYPES)
    send_lock = asyncio.Lock()
    cursor = head if since is None else since
    # Whether the worker can be asked to go live: their phone holds this channel open.
    hub.worker_channels[who.username] += 1
    try:
        await run_session(
            ws,
            hub,
            sub,
            f"worker channel {who.username}",
            _send(ws, hub, sub, who, cursor, send_lock),
            _receive(ws, hub, who, send_lock),
        )
    finally:
        hub.worker_channels[who.username] -= 1
        if hub.worker_channels[who.username] <= 0:
            del hub.worker_channels[who.username]


async def _send_json(ws: WebSocket, lock: asyncio.Lock, msg: dict[str, Any]) -> None:
    await _send_text(ws, lock, _dumps(msg))


async def _send_text(ws: WebSocket, lock: asyncio.Lock, text: str) -> None:
    async with lock:
        await ws.send_text(text)


async def _send(ws: WebSocket, hub: Hub, sub: Subscription, who: Principal, cursor: int, lock: asyncio.Lock) -> None:
    flt = EventFilter(type_prefixes=FEED_TYPES)
    while True:
        page = await hub.log.read(cursor, REPLAY_PAGE, flt)
        for ev in page:
            text = await text_for(hub, ev, who.person)
            if text is not None:
                await _send_text(ws, lock, text)
            cursor = ev.id
        if len(page) < REPLAY_PAGE:
            break
    await _send_json(ws, lock, {"type": "live", "cursor": cursor})
    while True:
        for ev in await sub.get():
            if ev.id <= cursor:
                continue
            if ev.type in KINDS or ev.type == GO_LIVE:
                text = await text_for(hub, ev, who.person)
                if text is not None:
                    await _send_text(ws, lock, text)
            cursor = ev.id
        if sub.overflowed:
            hub.feeds.resyncs += 1
            await _send_json(ws, lock, {"type": "resync", "cursor": cursor})
            await ws.close(WS_RESYNC, "fell behind; reconnect with since=cursor")
            return


ID_MAX = 2**63 - 1
"""Largest instruction id a receipt may name (the store's integer range)."""

REQUESTS = {step: name for name, step in STEPS.items()}
"""The client's name of each step, echoed in errors so the client knows which receipt was refused."""


class BadReceipt(ValueError):
    """A client message the hub cannot use; ``echo`` holds whatever ``id``/``request`` it could read."""

    def __init__(self, detail: str, echo: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.echo = echo or {}


def parse_receipt(raw: str) -> tuple[ReceiptState, int, str | None]:
    """``(step, instruction id, reply)`` from a client's message; :class:`BadReceipt` if unusable."""
    try:
        msg = json.loads(raw)
    except ValueError:
        raise BadReceipt("not JSON") from None
    if not isinstance(msg, dict):
        raise BadReceipt("expected a JSON object {type, id}")
    kind, iid, reply = msg.get("type"), msg.get("id"), msg.get("reply")
    echo: dict[str, Any] = {}
    number = iid if isinstance(iid, int) and not isinstance(iid, bool) and 0 < iid <= ID_MAX else None
    if number is not None:
        echo["id"] = number
    step = STEPS.get(kind) if isinstance(kind, str) else None
    if step is None:
        raise BadReceipt(f"type must be one of {sorted(STEPS)}", echo)
    echo["request"] = kind
    if number is None:
        raise BadReceipt("id must be an instruction number", echo)
    if reply is not None and not isinstance(reply, str):
        raise BadReceipt("reply must be text", echo)
    if step is ReceiptState.REPLIED and not (reply or "").strip():
        raise BadReceipt("a reply needs its text or option", echo)
    return step, number, reply


async def _receive(ws: WebSocket, hub: Hub, who: Principal, lock: asyncio.Lock) -> None:
    # A message the hub cannot use gets an error answer and the channel stays open: it carries
    # the worker's instructions, and one bad frame must not cost them.
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", status.WS_1000_NORMAL_CLOSURE), message.get("reason"))
        try:
            if message.get("text") is None:
                raise BadReceipt("receipts are JSON text frames")
            step, iid, reply = parse_receipt(message["text"])
        except BadReceipt as exc:
            await _send_json(ws, lock, {"type": "error", "status": 422, "detail": exc.detail, **exc.echo})
            continue
        request = REQUESTS[step]
        try:
            state = await hub.instructions.receipt(iid, who.person, step, reply)
        except DeskError as exc:
            answer = {"type": "error", "id": iid, "request": request, "status": exc.status, "detail": exc.detail}
            await _send_json(ws, lock, answer)
            continue
        except Exception:  # the store failed: the client keeps the receipt and sends it again
            logger.exception("worker channel %s: %s for instruction %d failed", who.username, request, iid)
            answer = {"type": "error", "id": iid, "request": request, "status": 503, "detail": "try again later"}
            await _send_json(ws, lock, answer)
            continue
        await _send_json(ws, lock, {"type": "receipt", "id": iid, "state": state.value})


class GoLiveIn(BaseModel):
    """``POST /api/workers/{username}/go-live``: what the request is about (all optional)."""

    model_config = ConfigDict(extra="forbid")
    note: Annotated[str | None, NoNul] = Field(None, max_length=500, description="Shown to the worker.")
    incident: int | None = Field(None, ge=1, le=ID_MAX, description="The incident it is about.")
    camera: str | None = Field(None, max_length=64, description="The camera whose picture prompted it.")


@router.post("/api/workers/{username}/go-live", status_code=status.HTTP_201_CREATED)
async def ask_to_go_live(username: str, hub: HubDep, who: CallerDep, body: GoLiveIn | None = None) -> dict[str, Any]:
    """Ask a worker to show their phone's camera: their phone gets a ``go_live`` message on the worker
    channel and publishes over WHIP at ``/whip/field-<username>``. 404 for no such worker, 409 when
    their phone is not connected (on this hub node), 422 for an unknown incident or camera."""
    body = body or GoLiveIn()
    person = next((p for p in hub.directory.people.values() if p.username == username), None)
    if person is None or Role.WORKER not in person.roles:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no worker {username!r}")
    if body.camera is not None and body.camera not in hub.directory.cameras:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"camera {body.camera!r} does not exist")
    if body.incident is not None:
        await hub.desk.get(body.incident)  # 404 for an incident that does not exist
    if not hub.worker_channels.get(username):
        raise HTTPException(status.HTTP_409_CONFLICT, f"{username}'s phone is not connected; call them instead")
    caller = hub.directory.people.get(who.person)
    now = time.time()
    data = {
        "person": person.id,
        "username": username,
        "by": who.username,
        "by_name": caller.name if caller else who.username,
        "note": body.note,
        "incident": body.incident,
        "camera": body.camera,
        "whip": f"/whip/field-{username}",
        "at": now,
        "expires_at": now + GO_LIVE_TTL_S,
        AUDIENCE_KEY: audience(users=[username], people=[person.id]),
    }
    ev = await hub.log.append(
        GO_LIVE, f"user:{username}", who.username, data, grid=person.grids[0] if person.grids else None
    )
    return {"request": ev.id, "whip": data["whip"], "expires_at": data["expires_at"]}
