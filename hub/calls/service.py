"""The calls service: peer sessions, call table, media joins and the wiring between members.

One :class:`CallService` per hub, started and stopped by :class:`hub.services.Hub`. Every peer
connection goes through its :class:`~hub.calls.sessions.SessionRegistry`; the kind-specific rules
live in :mod:`hub.calls.calls` (one to one) and :mod:`hub.calls.briefing` (one to many).

Media topology: each member has one peer connection to the hub. What a member sends is held once
(:class:`~hub.calls.feeds.EncodedFeed` for video, :class:`~hub.calls.tracks.AudioFanout` for voice);
what the hub sends a member are switchable tracks pointed at those by :meth:`CallService.rewire`.

Losing media is not leaving. When a member's peer connection ends without a hang-up (a phone
changing cell, a page reload, a failed offer) their **media** is released at once — the session,
its tasks, encoder and subscriptions, within the bounds of :mod:`hub.calls.sessions` — and the
floor, if they held it, falls back. Their **place** is kept for ``calls.rejoin_grace_s``: the
same user can offer again and carry on in the same call (``call.media_lost``, then
``call.joined``). Only when the grace runs out does a one-to-one call end (or a briefing, for its
speaker) and a listener count as left (``call.left``). Hanging up leaves at once.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiortc import MediaStreamTrack

from hub.access.auth import Principal
from hub.calls import briefing, calls
from hub.calls.cluster import CallCluster
from hub.calls.errors import CallError
from hub.calls.feeds import EncodedFeed, EncoderSettings
from hub.calls.model import Call, CallKind, CallState, Member, MemberState
from hub.calls.peer import (
    add_video,
    answer,
    new_peer_connection,
    opus_codecs,
    parse_offer,
    require_h264_video,
    require_opus_audio,
)
from hub.calls.pipes import CameraPipes
from hub.calls.presence import Presence
from hub.calls.sessions import PeerSession, SessionRegistry
from hub.calls.tracks import AudioFanout, AudioSwitch, PassthroughTrack, SharedPacketizer, silence_payload
from hub.calls.whep import Source, check_source
from hub.config import Settings
from hub.people.directory import Directory
from hub.store.eventlog import EventLog, LogClosed
from streams.media import CameraState
from streams.relay import PacketRelay

log = logging.getLogger(__name__)

ENCODE_THREADS = 2
"""Threads encoding the hub's own video, for all calls and briefings together."""
ENDED_KEPT = 200
FOLLOW_CAMERAS_S = 1.0
"""How often the calls showing a camera are checked against where the camera runs now."""
"""Ended calls kept for ``GET /api/calls/{id}`` (the log keeps them for ever)."""

Slot = tuple[str, str, str | None]
"""(m-line kind, the hub's direction, the Member attribute of the track the hub sends)."""


class CallService:
    """Peer sessions, calls and briefings of one hub node."""

    def __init__(self, settings: Settings, log_: EventLog, directory: Directory, cameras: Callable[[], Any]) -> None:
        self.config = settings.calls
        self.ice_addresses = list(settings.server.ice_addresses)
        self.settings = settings
        self.log = log_
        self.directory = directory
        self._cameras = cameras
        self.users = {u.username: u for u in settings.users}
        self.sessions = SessionRegistry(self.config.max_sessions, self.config.connect_timeout_s)
        self.presence = Presence()
        self.cluster: CallCluster | None = None
        """Several hub nodes: presence, "busy" and signalling across them (set by the hub)."""
        self.pipes: CameraPipes | None = None
        """Several hub nodes ingesting cameras: cameras of other nodes piped into calls here."""
        self.calls: dict[str, Call] = {}
        self.ended: OrderedDict[str, Call] = OrderedDict()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.dropped = {"video_packets": 0, "voice_frames": 0, "video_frames": 0}
        """Lost by the bounded queues of members whose media was released: packets a slow listener
        missed, voice frames pushed out of a full queue, frames the encoder skipped to keep up."""
        self.packetizer = SharedPacketizer()
        """Packetises each passthrough packet once for all viewers."""
        self.encode_pool: ThreadPoolExecutor | None = None
        """Threads that encode the hub's own video (shared by every feed, bounded)."""
        c = self.config
        self.encoder = EncoderSettings(
            c.video_width // 2 * 2, c.video_height // 2 * 2, c.video_fps, c.video_bitrate_bps, c.keyframe_interval_s
        )

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start watching peer liveness."""
        self.encode_pool = ThreadPoolExecutor(ENCODE_THREADS, thread_name_prefix="hub-encode")
        await asyncio.to_thread(silence_payload)  # encoded once, here, not on the loop at a first call
        self.sessions.start()
        if self.cluster is not None:
            self.cluster.start()
        if self.pipes is not None:
            self.spawn(self.follow_cameras(), "calls-follow-cameras")

    async def aclose(self) -> None:
        """End every call, release every peer connection, cancel owned tasks. Idempotent."""
        for call in list(self.calls.values()):
            await self.end(call, "hub shutting down", "system")
        await self.sessions.aclose()
        if self.cluster is not None:
            await self.cluster.aclose()
        tasks, self._tasks = list(self._tasks), set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.pipes is not None:
            await self.pipes.aclose()
        pool, self.encode_pool = self.encode_pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True)

    def spawn(self, coro: Any, name: str) -> None:
        """Run ``coro`` in a task this service owns (from callbacks that cannot await)."""
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- what viewers can watch ----------------------------------------------------------------

    def source(self, source_id: str) -> Source | None:
        """A camera by id, or ``@username``: that member's live call video."""
        if source_id.startswith("@"):
            username = source_id[1:]
            for call in self.calls.values():
                m = call.members.get(username)
                if m is not None and m.video_in is not None:
                    return Source(source_id, m.video_in.relay, CameraState.ONLINE, "", None)
            return None
        cameras = self._cameras()
        stream = cameras.get(source_id) if cameras is not None else None
        if stream is None:
            return None
        view, codec = stream.h264_view, stream.codec
        if view is not None and codec is not None and not codec.browser_playable:
            # Browsers cannot play its own video: they get its H.264 view (sub-stream or transcode).
            refused = view.refusal()
            if refused is not None:
                view.budget.refused += 1  # this viewer gets none: counted
            h264 = view.relay.codec
            return Source(
                source_id,
                view.relay,
                stream.state,
                stream.supervisor.reason,
                h264 if not refused else codec,
                None,
                refused,
            )
        fallback = view.fallback if view is not None else None
        return Source(source_id, stream.relay, stream.state, stream.supervisor.reason, codec, fallback)

    def camera_relay(self, camera_id: str, viewer: str) -> PacketRelay:
        """The packet relay of a camera that can go into a call (404/503/415 otherwise): this
        node's own, or one piped from the node that ingests it (opened now, for ``viewer``)."""
        src = self.source(camera_id) if not camera_id.startswith("@") else None
        cameras = self._cameras()
        if src is None and cameras is not None and camera_id in cameras.ids():
            piped = self.pipes.relay(camera_id, viewer) if self.pipes is not None else None
            if piped is not None:  # several nodes: the camera runs on another one
                return piped
            owner = cameras.owner(camera_id)
            where = f"hub node {owner}, which published no URL" if owner else "no hub node yet"
            raise CallError(503, f"camera {camera_id} is ingested by {where}; try again in a few seconds")
        if src is None:
            raise CallError(404, f"no camera {camera_id!r}")
        check_source(src)
        return src.relay

    def camera_feed(self, camera_id: str, viewer: str) -> PacketRelay | None:
        """What a call showing ``camera_id`` is switched to now: the camera here, or its pipe from
        the node that ingests it; None while nobody does."""
        src = self.source(camera_id)
        if src is not None:
            return src.relay
        return self.pipes.relay(camera_id, viewer) if self.pipes is not None else None

    async def follow_cameras(self) -> None:
        """Keep the calls showing a camera on its video as it moves between nodes: switched to the
        camera here when this node takes it, to a pipe when another does; pipes no call uses close."""
        fed: dict[str, PacketRelay | None] = {}
        while True:
            await asyncio.sleep(FOLLOW_CAMERAS_S)
            try:
                showing = [c for c in self.calls.values() if c.camera is not None]
                for call in showing:
                    assert call.camera is not None
                    feed = self.camera_feed(call.camera, call.owner)
                    if call.id in fed and fed[call.id] is not feed:
                        log.info("call %s: camera %s now from %s", call.id, call.camera, feed and feed.camera_id)
                        self.rewire(call)
                    fed[call.id] = feed
                for call_id in [c for c in fed if c not in self.calls]:
                    del fed[call_id]
                if self.pipes is not None:
                    await self.pipes.keep({c.camera for c in showing if c.camera is not None})
            except Exception:
                log.exception("calls: following the cameras in calls failed; trying again")

    # -- calls: common rules -------------------------------------------------------------------

    def new_call(self, kind: CallKind, owner: str, members: dict[str, Member], **kw: Any) -> Call:
        """Register a call."""
        call = Call(secrets.token_urlsafe(9), kind, owner, members, **kw)
        if self.cluster is not None:
            call.url = self.cluster.url
        self.calls[call.id] = call
        return call

    def live(self) -> list[Call]:
        """The calls hosted here that have not ended."""
        return list(self.calls.values())

    async def look_around(self) -> None:
        """Several nodes: read who is reachable and busy where, now (before ringing anyone)."""
        if self.cluster is not None:
            await self.cluster.refresh()

    def busy_anywhere(self, username: str, besides: Call | None = None) -> bool:
        """:meth:`busy` here, or ringing or talking on another node (as last read)."""
        return self.busy(username, besides) or (self.cluster is not None and self.cluster.busy_elsewhere(username))

    def reachable(self, username: str) -> bool:
        """Whether ``username`` has a call page open here or (as last read) on another node."""
        if self.presence.reachable(username):
            return True
        return self.cluster is not None and self.cluster.node_of(username) is not None

    def calls_for_page(self, username: str) -> list[dict[str, Any]]:
        """A call page's first snapshot: the user's calls here and those relayed from other nodes."""
        here = [c.as_dict() for c in self.calls_of(username)]
        return here + (self.cluster.calls_of(username) if self.cluster is not None else [])

    def find(self, call_id: str) -> Call:
        """A call (live or recently ended), or 404."""
        call = self.calls.get(call_id) or self.ended.get(call_id)
        if call is None:
            raise CallError(404, f"no call {call_id!r}")
        return call

    def member_of(self, call_id: str, who: Principal) -> tuple[Call, Member]:
        """The call and the caller's place in it; 403 for someone not invited."""
        call = self.find(call_id)
        member = call.members.get(who.username)
        if member is None:
            raise CallError(403, "you were not invited to this call")
        return call, member

    def busy(self, username: str, besides: Call | None = None) -> bool:
        """Whether ``username`` is ringing or talking in a call (other than ``besides``) now.

        Ringing counts only for one-to-one calls: an invitation to a briefing that was not taken up
        does not make a worker busy (a dispatcher can still call them, and the briefing stays open
        for them to join later, once free); having joined a briefing does.
        """
        for call in self.calls.values():
            m = call.members.get(username)
            if call is besides or m is None:
                continue
            if m.state == MemberState.ACCEPTED or (m.state == MemberState.INVITED and call.kind == CallKind.CALL):
                return True
        return False

    def calls_of(self, username: str) -> list[Call]:
        """Live calls ``username`` is part of."""
        return [c for c in self.calls.values() if username in c.members]

    async def event(self, call: Call, type_: str, actor: str, **data: Any) -> None:
        """Append a call event to the log (during shutdown the log may already be closed)."""
        try:
            await self.log.append(type_, call.id, actor, {"kind": call.kind.value, **data}, grid=call.grid)
        except LogClosed:
            log.warning("call %s: %s not logged, the event log is closed", call.id, type_)

    def notify(self, call: Call) -> None:
        """Send the call's current state to every member's open call pages."""
        msg = {"op": "call", "call": call.as_dict()}
        for username in call.members:
            self.presence.send(username, msg)
        if self.cluster is not None:  # members on other nodes, and who is busy here
            self.cluster.notify(call, msg)
            self.cluster.changed()

    async def end(self, call: Call, reason: str, actor: str) -> None:
        """End a call: release every member's media, log and notify. Idempotent."""
        if call.state == CallState.ENDED:
            return
        call.state = CallState.ENDED
        call.ended_reason = reason
        if call.ring_timer is not None:
            call.ring_timer.cancel()
            call.ring_timer = None
        for m in call.members.values():
            self.stop_grace(m)
        self.calls.pop(call.id, None)
        self.ended[call.id] = call
        while len(self.ended) > ENDED_KEPT:
            self.ended.popitem(last=False)
        for m in call.members.values():
            if m.session is not None:
                await self.sessions.close(m.session, f"call ended: {reason}")
        log.info("call %s (%s by %s): ended: %s", call.id, call.kind.value, call.owner, reason)
        await self.event(call, "call.ended", actor, reason=reason)
        self.notify(call)

    def arm_ring_timer(self, call: Call) -> None:
        """End the call as missed if it still rings after ``ring_timeout_s``."""
        loop = asyncio.get_running_loop()

        def missed() -> None:
            call.ring_timer = None
            if call.state == CallState.RINGING:
                self.spawn(self.end(call, "no answer", "system"), f"ring-timeout:{call.id}")

        call.ring_timer = loop.call_later(self.config.ring_timeout_s, missed)

    # -- media ---------------------------------------------------------------------------------

    def layout(self, call: Call, member: Member) -> list[Slot]:
        """The m-lines a member's offer must have, in order."""
        if call.kind == CallKind.CALL:
            return [("audio", "sendrecv", "audio_out"), ("video", "sendrecv", "video_out")]
        if member.role == "speaker":
            return [("audio", "sendrecv", "audio_out"), ("video", "recvonly", None)]
        return [
            ("audio", "sendrecv", "audio_out"),
            ("audio", "sendonly", "floor_out"),
            ("video", "sendonly", "video_out"),
        ]

    async def join_media(self, call_id: str, who: Principal, offer_sdp: str) -> tuple[PeerSession, str]:
        """Answer a member's offer: their peer connection to the hub for this call.

        Sending media answers a call one is invited to (once the offer has been answered). A member
        whose media was lost offers again within ``rejoin_grace_s`` and carries on; a new offer
        while still connected (a reload) replaces the old connection.
        """
        call, member = self.member_of(call_id, who)
        async with member.joining:  # one offer of a member at a time: each replaces the one before
            return await self._join_media(call, member, who, offer_sdp)

    async def _join_media(self, call: Call, member: Member, who: Principal, offer_sdp: str) -> tuple[PeerSession, str]:
        if call.state == CallState.ENDED:
            raise CallError(409, f"the call has ended ({call.ended_reason})")
        if member.state in (MemberState.DECLINED, MemberState.LEFT):
            raise CallError(403, f"you have {member.state.value} this call")
        offer = parse_offer(offer_sdp)
        slots = self.layout(call, member)
        wanted = [k for k, _, _ in slots]
        if [k for k in offer.kinds if k in ("audio", "video")] != wanted:
            raise CallError(422, f"this call needs an offer with m-lines {', '.join(wanted)} in that order")
        require_h264_video(offer)
        require_opus_audio(offer)
        if member.state == MemberState.INVITED and self.busy_anywhere(who.username, besides=call):
            raise CallError(409, "you are in another call; hang up there first", reason="busy")
        if self.sessions.full():
            raise CallError(503, "the hub holds as many peer connections as it may", {"Retry-After": "10"})
        old = member.session
        if old is not None:  # a reload: the new connection replaces the old one
            member.session = None
            await self.sessions.close(old, "replaced by a new connection")
            await self._release_media(member)
            if call.state == CallState.ENDED:
                raise CallError(409, f"the call has ended ({call.ended_reason})")
        pc = new_peer_connection(self.config)
        # A member's page sends its microphone all the time: silence means it has gone.
        session = self.sessions.add(pc, call.kind.value, who.username, call.id, self.config.peer_timeout_s)
        name = f"{call.id}:{who.username}"
        for kind, direction, attr in slots:
            track: PassthroughTrack | AudioSwitch | None = None
            if attr == "video_out":
                track = PassthroughTrack(None, f"call:{name}", self.config.viewer_queue_packets)
            elif attr is not None:
                track = AudioSwitch(f"{attr}:{name}")
            if attr is not None:
                setattr(member, attr, track)
            if kind == "video":
                add_video(pc, track if isinstance(track, PassthroughTrack) else None, direction, self.packetizer)
            else:
                # Opus only: the voice the hub sends is encoded once, as Opus, for every listener.
                pc.addTransceiver(track or "audio", direction=direction).setCodecPreferences(opus_codecs())

        @pc.on("track")
        def on_track(remote: MediaStreamTrack) -> None:
            if member.session is not session:
                return
            if remote.kind == "audio" and member.audio_in is None:
                member.audio_in = AudioFanout(remote, name)
                member.audio_in.start()
            elif remote.kind == "video" and member.video_in is None:
                assert self.encode_pool is not None
                member.video_in = EncodedFeed(name, remote, self.encoder, self.encode_pool)
                member.video_in.start()
            self.rewire(call)

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc.connectionState == "connected" and member.session is session and not member.connected:
                member.connected = True
                self.stop_grace(member)  # back in time: their place is theirs again
                self.notify(call)

        session.on_close.append(lambda s: self._member_media_gone(call, member, s))
        member.session = session
        try:
            sdp = await answer(pc, offer, self.ice_addresses, self.config.consent_expiry_s)
            if member.state == MemberState.INVITED:
                await calls.accept(self, call, member)  # joining with media answers the call
        except BaseException:
            await self.sessions.close(session, "offer refused")
            raise
        self.rewire(call)
        await self.event(call, "call.joined", who.username, member=who.username, role=member.role)
        self.notify(call)
        return session, sdp

    async def _release_media(self, member: Member) -> None:
        for key, value in _drops(member, member.video_in, member.audio_in).items():
            self.dropped[key] += value
        for attr in ("video_out", "audio_out", "floor_out"):
            track = getattr(member, attr)
            if track is not None:
                track.stop()
                setattr(member, attr, None)
        feed, fan = member.video_in, member.audio_in
        member.video_in = member.audio_in = None
        member.connected = False
        if feed is not None:
            await feed.aclose()
        if fan is not None:
            await fan.aclose()

    async def _member_media_gone(self, call: Call, member: Member, session: PeerSession) -> None:
        """A member's media session ended and is being released; their place waits for a rejoin."""
        if member.session is not session:
            return  # replaced by a newer connection, which keeps the media
        member.session = None
        # The floor does not wait for a holder who cannot be heard (changed with the session, before
        # any await, so nobody sees one without the other).
        live = call.state != CallState.ENDED
        change = call.floor.release(member.username) if call.floor is not None and live else None
        await self._release_media(member)
        if call.state == CallState.ENDED:
            return
        self.rewire(call)
        if member.state == MemberState.ACCEPTED:
            reason = session.reason or "connection closed"
            deadline = member.rejoin_deadline_m
            if deadline is not None and time.monotonic() >= deadline:
                # A rejoin attempt that was still connecting when the grace ran out, and failed.
                if change is not None:
                    await briefing.apply_floor_change(self, call, change, member.username)
                await self.leave(call, member, f"media lost ({reason}), not back in time")
                return
            if deadline is None:
                self.start_grace(call, member, reason)
            assert member.rejoin_deadline_m is not None
            await self.event(
                call,
                "call.media_lost",
                member.username,
                member=member.username,
                reason=reason,
                rejoin_within_s=round(member.rejoin_deadline_m - time.monotonic(), 1),
            )
        if change is not None:
            await briefing.apply_floor_change(self, call, change, member.username)
        self.notify(call)

    def start_grace(self, call: Call, member: Member, reason: str) -> None:
        """Keep ``member``'s place for ``rejoin_grace_s``; then they leave (unless a rejoin is under way)."""
        self.stop_grace(member)
        grace_s = self.config.rejoin_grace_s
        member.rejoin_deadline_m = time.monotonic() + grace_s

        def over() -> None:
            member.grace_timer = None
            # A rejoin still connecting decides for itself: connected, or failed past the deadline.
            if call.state != CallState.ENDED and member.session is None and member.rejoin_deadline_m is not None:
                why = f"media lost ({reason}), not back within {grace_s:g} s"
                self.spawn(self.leave(call, member, why), f"rejoin-grace:{call.id}:{member.username}")

        member.grace_timer = asyncio.get_running_loop().call_later(grace_s, over)

    def stop_grace(self, member: Member) -> None:
        """``member`` is back (or out for good): no more waiting for them."""
        if member.grace_timer is not None:
            member.grace_timer.cancel()
            member.grace_timer = None
        member.rejoin_deadline_m = None

    async def leave(self, call: Call, member: Member, reason: str) -> None:
        """``member`` is out of the call for good: media closed, floor released, ``call.left``.

        A one-to-one call ends with it, and so does a briefing its speaker leaves. Idempotent.
        """
        if call.state == CallState.ENDED or member.state == MemberState.LEFT:
            return
        # Every state change first, without awaiting, so no reader sees a half-left member.
        member.state = MemberState.LEFT
        self.stop_grace(member)
        change = call.floor.release(member.username) if call.floor is not None else None
        ends = call.kind == CallKind.CALL or member.username == call.owner
        if member.session is not None:
            await self.sessions.close(member.session, reason)
            if call.state == CallState.ENDED:  # ended meanwhile: that says it all
                return
        self.rewire(call)
        await self.event(call, "call.left", member.username, member=member.username, reason=reason)
        if ends:
            await self.end(call, f"{member.username} left: {reason}", member.username)
            return
        if change is not None:
            await briefing.apply_floor_change(self, call, change, member.username)
        self.notify(call)

    async def leave_media(self, call_id: str, session_id: str, who: Principal) -> None:
        """A member hangs up their media connection (the call itself may go on)."""
        call, member = self.member_of(call_id, who)
        session = self.sessions.get(session_id)
        if session is None or session.subject != call.id or session.owner != who.username:
            raise CallError(404, "no such media session")
        await self.sessions.close(session, "deleted by the member")

    def rewire(self, call: Call) -> None:
        """Point every member's outgoing tracks at what they should see and hear now."""
        if call.kind == CallKind.CALL:
            calls.wire(self, call)
        else:
            briefing.wire(self, call)

    def stats(self) -> dict[str, Any]:
        """Figures for the API and /metrics."""
        dropped = dict(self.dropped)
        for call in self.calls.values():
            for m in call.members.values():
                for key, value in _drops(m, m.video_in, m.audio_in).items():
                    dropped[key] += value
        return {
            **self.sessions.stats(),
            "calls": len(self.calls),
            "call_pages": self.presence.count(),
            "dropped": dropped,
        }


def _drops(member: Member, feed: EncodedFeed | None, fan: AudioFanout | None) -> dict[str, int]:
    """What a member's bounded queues have let go so far."""
    return {
        "video_packets": member.video_out.dropped if member.video_out is not None else 0,
        "voice_frames": fan.dropped if fan is not None else 0,
        "video_frames": feed.skipped if feed is not None else 0,
    }
