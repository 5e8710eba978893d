"""Calls and briefings: control over HTTP, media offers WHEP-style, notifications on a WebSocket."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, WebSocket, WebSocketDisconnect, status
from fastapi.responses import Response

from hub.access.policy import STAFF
from hub.access.sessions import SESSION_ENDED_CLOSE, EndSignal
from hub.calls import briefing, calls
from hub.calls.schemas import FloorRequest, PutCamera, StartBriefing, StartCall
from hub.edge.deps import CallerDep, HubDep, hub_of, principal_of
from hub.routers.whep import sdp_body

logger = logging.getLogger(__name__)

router = APIRouter(tags=["calls"])


@router.post("/api/calls", status_code=status.HTTP_201_CREATED)
async def start_call(body: StartCall, hub: HubDep, who: CallerDep) -> dict[str, Any]:
    """Ring a user (who must have a call page open). 409 busy/unreachable, 404 unknown user."""
    call = await calls.start_call(hub.calls, who, body.to, body.camera)
    return call.as_dict()


@router.post("/api/briefings", status_code=status.HTTP_201_CREATED)
async def start_briefing(body: StartBriefing, hub: HubDep, who: CallerDep) -> dict[str, Any]:
    """Address everyone on duty under a district node; they join with media."""
    call = await briefing.start_briefing(hub.calls, who, body.node, body.camera)
    return call.as_dict()


@router.get("/api/calls")
async def my_calls(
    hub: HubDep,
    who: CallerDep,
    mine: Annotated[
        bool, Query(description="Only the calls you are part of, as for everyone else (a page reloaded mid-call).")
    ] = False,
) -> list[dict[str, Any]]:
    """Live calls you are part of (staff: every live call, unless ``mine``)."""
    svc = hub.calls
    items = svc.calls.values() if who.roles & STAFF and not mine else svc.calls_of(who.username)
    return [c.as_dict() for c in items]


@router.get("/api/calls/{call_id}")
async def get_call(call_id: str, hub: HubDep, who: CallerDep) -> dict[str, Any]:
    """One call's state (members, floor)."""
    call = hub.calls.find(call_id) if who.roles & STAFF else hub.calls.member_of(call_id, who)[0]
    return call.as_dict()


@router.post("/api/calls/{call_id}/accept")
async def accept(call_id: str, hub: HubDep, who: CallerDep) -> dict[str, Any]:
    """Answer a call you are invited to (sending media answers it too)."""
    call, member = hub.calls.member_of(call_id, who)
    await calls.accept(hub.calls, call, member)
    return call.as_dict()


@router.post("/api/calls/{call_id}/decline")
async def decline(call_id: str, hub: HubDep, who: CallerDep) -> dict[str, Any]:
    """Turn down a call you are invited to."""
    call, member = hub.calls.member_of(call_id, who)
    await calls.decline(hub.calls, call, member)
    return call.as_dict()


@router.post("/api/calls/{call_id}/hangup")
async def hangup(call_id: str, hub: HubDep, who: CallerDep) -> dict[str, Any]:
    """Hang up: ends a one-to-one call, or a briefing for its speaker; a listener just leaves."""
    call, member = hub.calls.member_of(call_id, who)
    await calls.hangup(hub.calls, call, member)
    return call.as_dict()


@router.post("/api/calls/{call_id}/camera")
async def put_camera(call_id: str, body: PutCamera, hub: HubDep, who: CallerDep) -> dict[str, Any]:
    """Show a camera's own packets (no transcoding) in place of your video, or stop (null)."""
    call, _member = hub.calls.member_of(call_id, who)
    await calls.put_camera(hub.calls, who, call, body.camera)
    return call.as_dict()


@router.post("/api/calls/{call_id}/floor")
async def floor(call_id: str, body: FloorRequest, hub: HubDep, who: CallerDep) -> dict[str, Any]:
    """Floor control in a briefing: request/release (listener), grant/revoke (speaker)."""
    call, _member = hub.calls.member_of(call_id, who)
    await briefing.floor_action(hub.calls, who, call, body.action, body.to, body.priority)
    return call.as_dict()


@router.post(
    "/api/calls/{call_id}/media",
    status_code=status.HTTP_201_CREATED,
    response_class=Response,
    responses={201: {"content": {"application/sdp": {}}, "description": "The SDP answer; Location to DELETE."}},
)
async def media(call_id: str, request: Request, hub: HubDep, who: CallerDep) -> Response:
    """Your media for a call: SDP offer in, answer out (WHEP-style). 403 if you were not invited.

    m-lines, in order — call: audio, video (both sendrecv); briefing speaker: audio (sendrecv),
    video (sendonly); listener: audio (sendrecv), audio (recvonly: the floor), video (recvonly).
    """
    text = await sdp_body(request)
    session, sdp = await hub.calls.join_media(call_id, who, text)
    return Response(
        sdp,
        status.HTTP_201_CREATED,
        media_type="application/sdp",
        headers={"Location": f"/api/calls/{call_id}/media/{session.id}"},
    )


@router.delete("/api/calls/{call_id}/media/{session_id}", status_code=status.HTTP_204_NO_CONTENT)
async def leave_media(call_id: str, session_id: str, hub: HubDep, who: CallerDep) -> Response:
    """Close your media connection."""
    await hub.calls.leave_media(call_id, session_id, who)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.websocket("/ws/calls")
async def call_channel(ws: WebSocket) -> None:
    """Your call notifications: ``{"op": "calls", "calls": [...]}`` first, then
    ``{"op": "call", "call": {...}}`` whenever a call you are in changes (incoming, accepted,
    floor, ended…). Having this open makes you reachable for calls.
    """
    hub = hub_of(ws)
    who = principal_of(ws)
    svc = hub.calls
    await ws.accept()
    channel = svc.presence.open(who.username)
    ended = EndSignal()
    try:
        await ws.send_json({"op": "calls", "calls": svc.calls_for_page(who.username)})

        async def send() -> None:
            while True:
                await ws.send_json(await channel.queue.get())

        async def drain() -> None:
            while (await ws.receive())["type"] != "websocket.disconnect":
                pass

        with hub.login_sessions.hold(who.username, who.session, who.began_at, ended.end):
            async with asyncio.TaskGroup() as tg:
                tasks = [
                    tg.create_task(send()),
                    tg.create_task(drain()),
                    tg.create_task(channel.overflowed.wait()),
                    tg.create_task(hub.closing.wait()),
                    tg.create_task(ended.event.wait()),
                ]
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for t in tasks:
                    t.cancel()
        with contextlib.suppress(Exception):
            if hub.closing.is_set():
                await ws.close(1001)
            elif ended.event.is_set():
                await ws.close(SESSION_ENDED_CLOSE, ended.close_reason)
            else:
                await ws.close(4000)
    except* (WebSocketDisconnect, ConnectionError, RuntimeError) as eg:
        logger.debug("calls channel %s: ended: %r", who.username, eg.exceptions[0])
    finally:
        svc.presence.close(channel)
