"""One-to-one calls: a dispatcher rings a worker; ring, accept, decline, hang up, busy.

Both sides send audio and video to the hub and get the other's back: voice through an
:class:`~hub.calls.tracks.AudioSwitch`, video as packets encoded once per sender. The caller can
put a camera into the call: the other side then sees the camera's own packets (no transcoding)
in place of the caller's video — switched, without renegotiating. A member's video can be pulled
onto the wall with WHEP at ``/whep/@username``.
"""

from __future__ import annotations

import logging

from hub.access.auth import Principal
from hub.calls.errors import CallError
from hub.calls.host import CallHost
from hub.calls.model import Call, CallKind, CallState, Member, MemberState
from hub.config import Role

log = logging.getLogger(__name__)


def _grid_of(svc: CallHost, username: str) -> str | None:
    user = svc.users.get(username)
    person = (user.person or user.username) if user else username
    grids = sorted(svc.directory.grids_of(person))
    return grids[0] if grids else None


async def start_call(svc: CallHost, who: Principal, to: str, camera: str | None = None) -> Call:
    """Ring ``to``; 404 unknown, 409 busy or not reachable, 400 calling oneself."""
    if to == who.username:
        raise CallError(400, "you cannot call yourself")
    if to not in svc.users:
        raise CallError(404, f"no user {to!r}")
    relay_check = svc.camera_relay(camera, who.username) if camera else None
    await svc.look_around()  # several nodes: who is reachable and busy where, now
    if svc.busy_anywhere(who.username):
        raise CallError(409, "you are already in a call; hang up first", reason="busy")
    grid = _grid_of(svc, to)
    if svc.busy_anywhere(to):
        await svc.log.append("call.busy", to, who.username, {"kind": "call", "to": to}, grid=grid)
        raise CallError(409, f"{to} is busy in another call", reason="busy")
    if not svc.reachable(to):
        await svc.log.append("call.unreachable", to, who.username, {"kind": "call", "to": to}, grid=grid)
        raise CallError(409, f"{to} has no call page open", reason="unreachable")
    members = {
        who.username: Member(who.username, "caller", MemberState.ACCEPTED),
        to: Member(to, "callee"),
    }
    call = svc.new_call(CallKind.CALL, who.username, members, grid=grid, camera=camera if relay_check else None)
    svc.arm_ring_timer(call)
    log.info("call %s: %s rings %s", call.id, who.username, to)
    await svc.event(call, "call.started", who.username, to=to, members=list(members), camera=call.camera)
    svc.notify(call)
    return call


async def accept(svc: CallHost, call: Call, member: Member) -> None:
    """``member`` answers (also implied by sending media while invited)."""
    if call.state == CallState.ENDED:
        raise CallError(409, f"the call has ended ({call.ended_reason})")
    if member.state != MemberState.INVITED:
        return
    # Invitations may overlap (a briefing stays open while a call rings); talking may not.
    for other in svc.calls_of(member.username):
        if other is not call and other.state != CallState.ENDED:
            if other.members[member.username].state == MemberState.ACCEPTED:
                raise CallError(409, f"{member.username} is in another call; hang up there first", reason="busy")
    member.state = MemberState.ACCEPTED
    if call.state == CallState.RINGING:
        call.state = CallState.ACTIVE
        if call.ring_timer is not None:
            call.ring_timer.cancel()
            call.ring_timer = None
    await svc.event(call, "call.accepted", member.username, member=member.username)
    svc.notify(call)


async def decline(svc: CallHost, call: Call, member: Member) -> None:
    """``member`` turns the call down; a one-to-one call then ends."""
    if call.state == CallState.ENDED or member.state != MemberState.INVITED:
        raise CallError(409, "there is nothing to decline")
    member.state = MemberState.DECLINED
    await svc.event(call, "call.declined", member.username, member=member.username)
    if call.kind == CallKind.CALL:
        await svc.end(call, f"declined by {member.username}", member.username)
    else:
        svc.notify(call)


async def hangup(svc: CallHost, call: Call, member: Member) -> None:
    """``member`` hangs up: a one-to-one call (or a briefing, by its speaker) ends; a listener leaves
    (at once, without the grace a lost connection gets)."""
    if call.state == CallState.ENDED:
        return
    if call.kind == CallKind.CALL or member.username == call.owner:
        await svc.end(call, f"hung up by {member.username}", member.username)
        return
    # Media or not (a listener whose connection was lost, one who never joined): the floor and any
    # waiting request go with them.
    await svc.leave(call, member, "hung up")


async def put_camera(svc: CallHost, who: Principal, call: Call, camera: str | None) -> None:
    """Show a camera (passthrough) in place of the owner's video; ``None`` goes back to the owner."""
    if who.username != call.owner and Role.ADMIN not in who.roles:
        raise CallError(403, "only the one who started the call can put a camera into it")
    if call.state == CallState.ENDED:
        raise CallError(409, "the call has ended")
    if camera is not None:
        svc.camera_relay(camera, who.username)  # 404 / 503 / 415 before anything changes
    call.camera = camera
    svc.rewire(call)
    await svc.event(call, "call.camera", who.username, camera=camera)
    svc.notify(call)


def wire(svc: CallHost, call: Call) -> None:
    """Each side hears the other; sees the other's video, or the camera put in by the caller."""
    camera = svc.camera_feed(call.camera, call.owner) if call.camera is not None else None
    for m in call.members.values():
        other = next((o for o in call.others(m.username)), None)
        if m.audio_out is not None:
            m.audio_out.switch(other.audio_in if other is not None else None)
        if m.video_out is not None:
            if camera is not None and m.username != call.owner:
                m.video_out.switch(camera)
            else:
                feed = other.video_in if other is not None else None
                m.video_out.switch(feed.relay if feed is not None else None)
