"""One-to-many briefings: a dispatcher (or a camera) addresses everyone on duty under a node.

The speaker's video is decoded once by aiortc and encoded **once** by an
:class:`~hub.calls.feeds.EncodedFeed`; every listener gets the same packets through its own
:class:`~hub.calls.tracks.PassthroughTrack` (a late joiner starts at the cached keyframe group).
With a camera instead, listeners get the camera's packets directly. Every listener hears the
speaker; the floor holder's voice goes to the group on a second audio track, and nobody
else's voice goes anywhere (:mod:`hub.calls.floor`); a holder whose media is lost loses the floor.

An invitation stays open for the whole briefing (a late joiner starts at a keyframe), but until
taken up it does not make the worker busy: a dispatcher can still call them one to one.
"""

from __future__ import annotations

import logging

from hub.access.auth import Principal
from hub.calls.errors import CallError
from hub.calls.floor import MAX_PRIORITY, FloorChange, FloorControl
from hub.calls.host import CallHost
from hub.calls.model import Call, CallKind, CallState, Member, MemberState
from hub.config import Role
from hub.people.directory import UnknownNode

log = logging.getLogger(__name__)


def recipients(svc: CallHost, node: str) -> list[str]:
    """Usernames of the on-duty workers (and leaders) at or under ``node`` who can log in."""
    people = {p.id for p in svc.directory.members(node, on_duty_only=True)}
    return sorted(u.username for u in svc.users.values() if (u.person or u.username) in people)


async def start_briefing(svc: CallHost, who: Principal, node: str, camera: str | None = None) -> Call:
    """Invite the group under ``node``; 404 for an unknown node, 409 when nobody is on duty there."""
    try:
        level = svc.directory.node(node).level
    except UnknownNode:
        raise CallError(404, f"no node {node!r} in the district tree") from None
    if camera is not None:
        svc.camera_relay(camera, who.username)
    await svc.look_around()  # several nodes: where the listeners' pages are, now
    if svc.busy_anywhere(who.username):
        raise CallError(409, "you are already in a call; hang up first", reason="busy")
    names = [u for u in recipients(svc, node) if u != who.username]
    if not names:
        raise CallError(409, f"nobody is on duty under {node}")
    members = {who.username: Member(who.username, "speaker", MemberState.ACCEPTED)}
    members.update({u: Member(u, "listener") for u in names})
    grid = node if level == "grid" else None
    call = svc.new_call(
        CallKind.BRIEFING, who.username, members, grid=grid, node=node, camera=camera, floor=FloorControl()
    )
    call.state = CallState.ACTIVE
    log.info("briefing %s: %s addresses %s (%d listeners)", call.id, who.username, node, len(names))
    await svc.event(call, "call.started", who.username, node=node, members=list(members), camera=camera)
    svc.notify(call)
    return call


async def apply_floor_change(svc: CallHost, call: Call, change: FloorChange, actor: str) -> None:
    """Log what a floor operation did and move the voices accordingly."""
    if change.revoked is not None:
        how = {"released": "floor.released", "preempted": "floor.revoked"}.get(change.how, "floor.revoked")
        await svc.event(call, how, actor, member=change.revoked, by=change.granted)
    if change.granted is not None:
        await svc.event(call, "floor.granted", actor, member=change.granted, how=change.how)
    if change.queued is not None:
        assert call.floor is not None
        await svc.event(
            call, "floor.requested", actor, member=change.queued, priority=call.floor.waiting[change.queued]
        )
    if change.how:
        svc.rewire(call)
        svc.notify(call)


async def floor_action(
    svc: CallHost, who: Principal, call: Call, action: str, to: str | None = None, priority: int = 0
) -> None:
    """``request``/``release`` by a listener; ``grant``/``revoke`` by the speaker."""
    if call.kind != CallKind.BRIEFING or call.floor is None:
        raise CallError(400, "floor control exists only in briefings")
    if call.state == CallState.ENDED:
        raise CallError(409, "the briefing has ended")
    member = call.members.get(who.username)
    if member is None:
        raise CallError(403, "you were not invited to this briefing")
    speaker = who.username == call.owner or Role.ADMIN in who.roles
    if action == "request":
        if member.role != "listener" or member.state != MemberState.ACCEPTED:
            raise CallError(403, "only a listener who joined can ask for the floor")
        if member.session is None:
            raise CallError(409, "your media is not connected; rejoin first")
        if not 0 <= priority <= MAX_PRIORITY:
            raise CallError(400, f"priority must be between 0 and {MAX_PRIORITY}")
        change = call.floor.request(who.username, priority)
    elif action == "release":
        change = call.floor.release(who.username)
    elif action == "grant":
        if not speaker:
            raise CallError(403, "only the speaker grants the floor")
        target = call.members.get(to or "")
        if target is None or target.role != "listener" or target.state != MemberState.ACCEPTED:
            raise CallError(400, f"{to!r} is not a listener who joined this briefing")
        if target.session is None:
            raise CallError(409, f"{to}'s media is not connected (they may be rejoining)")
        change = call.floor.grant(target.username)
    elif action == "revoke":
        if not speaker:
            raise CallError(403, "only the speaker revokes the floor")
        change = call.floor.revoke()
    else:
        raise CallError(400, f"unknown floor action {action!r} (request, release, grant, revoke)")
    await apply_floor_change(svc, call, change, who.username)


def wire(svc: CallHost, call: Call) -> None:
    """Listeners see the speaker's feed (or the camera) and hear the speaker and the floor holder."""
    speaker = call.members[call.owner]
    relay = None
    if call.camera is not None:
        relay = svc.camera_feed(call.camera, call.owner)
    elif speaker.video_in is not None:
        relay = speaker.video_in.relay
    holder = call.members.get(call.floor.holder) if call.floor and call.floor.holder else None
    holder_voice = holder.audio_in if holder is not None else None
    for m in call.members.values():
        if m is speaker:
            if m.audio_out is not None:
                m.audio_out.switch(holder_voice)
            continue
        if m.video_out is not None:
            m.video_out.switch(relay)
        if m.audio_out is not None:
            m.audio_out.switch(speaker.audio_in)
        if m.floor_out is not None:
            m.floor_out.switch(holder_voice if m is not holder else None)
