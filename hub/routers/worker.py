"""The worker channel: instructions for one person, resumable by event id, receipts back.

Server → client messages (JSON objects):
  ``{"type": "instruction", "cursor": N, "instruction": {...}}`` — new, for you;
  ``{"type": "amended" | "cancelled" | "renotify", "cursor": N, "instruction": {...}}``;
  ``{"type": "notice", "cursor": N, ...}`` — as a grid leader: people of yours have not confirmed;
  ``{"type": "live", "cursor": N}`` — the replay after ``since`` is complete;
  ``{"type": "receipt", "id": I, "state": S}`` / ``{"type": "error", ...}`` — answers to yours;
  ``{"type": "resync", "cursor": N}`` — you fell behind: reconnect with ``since=N``.
Client → server: ``{"type": "delivered" | "read" | "ack", "id": I}``, ``{"type": "reply", "id": I, "reply": "..."}``.
Keep the last ``cursor`` and reconnect with ``since=cursor``: nothing addressed to you is missed;
drop duplicates by instruction id and message type.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from typing import Any

from fastapi import APIRouter, WebSocket, status

from alerts.incidents import DeskError
from hub.auth import Principal
from hub.bus import Subscription
from hub.deps import hub_of, principal_of
from hub.events import Event, EventFilter
from hub.instruction_model import WORKER_FEED_TYPES, ReceiptState
from hub.routers.events import WS_RESYNC, deny_handshake, run_session
from hub.services import Hub

logger = logging.getLogger(__name__)

router = APIRouter(tags=["worker"])

REPLAY_PAGE = 500
STEPS = {
    "delivered": ReceiptState.DELIVERED,
    "read": ReceiptState.READ,
    "ack": ReceiptState.ACKNOWLEDGED,
    "reply": ReceiptState.REPLIED,
}
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
    kind = KINDS.get(ev.type)
    if kind is None:
        return None
    iid = int(ev.subject.split(":", 1)[1])
    if kind == "notice":
        if ev.data.get("leader") != person:
            return None
        return _dumps(
            {
                "type": "notice",
                "cursor": ev.id,
                "id": iid,
                "persons": ev.data["persons"],
                "instruction": ev.data["instruction"],
            }
        )
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


@router.websocket("/ws/worker")
async def worker_channel(ws: WebSocket, since: int | None = None) -> None:
    """Instructions addressed to the caller, replayed after ``since`` and then live; receipts in."""
    hub = hub_of(ws)
    who = principal_of(ws)
    head = await hub.log.head_for(since)
    if since is not None and (since < 0 or since > head):
        await deny_handshake(ws, status.HTTP_400_BAD_REQUEST, f"since={since} is outside the log (0..{head})")
        return
    sub = hub.bus.subscribe(hub.settings.server.ws_queue_events, name=f"worker:{who.username}", types=WORKER_FEED_TYPES)
    send_lock = asyncio.Lock()
    cursor = head if since is None else since
    await run_session(
        ws,
        hub,
        sub,
        f"worker channel {who.username}",
        _send(ws, hub, sub, who, cursor, send_lock),
        _receive(ws, hub, who, send_lock),
    )


async def _send_json(ws: WebSocket, lock: asyncio.Lock, msg: dict[str, Any]) -> None:
    await _send_text(ws, lock, _dumps(msg))


async def _send_text(ws: WebSocket, lock: asyncio.Lock, text: str) -> None:
    async with lock:
        await ws.send_text(text)


async def _send(ws: WebSocket, hub: Hub, sub: Subscription, who: Principal, cursor: int, lock: asyncio.Lock) -> None:
    flt = EventFilter(type_prefixes=WORKER_FEED_TYPES)
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
            if ev.type in KINDS:
                text = await text_for(hub, ev, who.person)
                if text is not None:
                    await _send_text(ws, lock, text)
            cursor = ev.id
        if sub.overflowed:
            hub.feeds.resyncs += 1
            await _send_json(ws, lock, {"type": "resync", "cursor": cursor})
            await ws.close(WS_RESYNC, "fell behind; reconnect with since=cursor")
            return


async def _receive(ws: WebSocket, hub: Hub, who: Principal, lock: asyncio.Lock) -> None:
    while True:
        raw = await ws.receive_text()
        try:
            msg = json.loads(raw)
            step = STEPS[msg["type"]]
            iid = int(msg["id"])
        except (ValueError, KeyError, TypeError):
            await _send_json(ws, lock, {"type": "error", "status": 422, "detail": "expected {type, id}"})
            continue
        try:
            state = await hub.instructions.receipt(iid, who.person, step, msg.get("reply"))
        except DeskError as exc:
            await _send_json(ws, lock, {"type": "error", "id": iid, "status": exc.status, "detail": exc.detail})
            continue
        await _send_json(ws, lock, {"type": "receipt", "id": iid, "state": state.value})
