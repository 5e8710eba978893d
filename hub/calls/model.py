"""Calls and briefings as plain data: who is in them, in which state, holding which media."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from hub.calls.feeds import EncodedFeed
from hub.calls.floor import FloorControl
from hub.calls.sessions import PeerSession
from hub.calls.tracks import AudioFanout, AudioSwitch, PassthroughTrack


class CallKind(StrEnum):
    """One to one, or one to many."""

    CALL = "call"
    BRIEFING = "briefing"


class CallState(StrEnum):
    """Where a call stands."""

    RINGING = "ringing"
    ACTIVE = "active"
    ENDED = "ended"


class MemberState(StrEnum):
    """Where one member stands."""

    INVITED = "invited"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    LEFT = "left"


@dataclass(eq=False)
class Member:
    """One person in a call and the media the hub holds for them."""

    username: str
    """Login name."""
    role: str
    """``caller``/``callee`` in a call, ``speaker``/``listener`` in a briefing."""
    state: MemberState = MemberState.INVITED
    """Invitation state."""
    session: PeerSession | None = None
    """Their peer connection, once they sent media."""
    video_in: EncodedFeed | None = None
    """Their camera, encoded once for everyone who sees it."""
    audio_in: AudioFanout | None = None
    """Their voice, for everyone who hears it."""
    video_out: PassthroughTrack | None = None
    """The video the hub sends them."""
    audio_out: AudioSwitch | None = None
    """The voice the hub sends them (the other side, or the speaker)."""
    floor_out: AudioSwitch | None = None
    """Briefing listeners: the floor holder's voice."""
    connected: bool = False
    """Their media reached the hub."""
    rejoin_deadline_m: float | None = None
    """Their media was lost: until this time (monotonic) they may rejoin, then they have left."""
    grace_timer: asyncio.TimerHandle | None = None
    """Fires at ``rejoin_deadline_m``."""
    joining: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Held while one of their offers is answered (a second offer waits, then replaces it)."""

    def as_dict(self) -> dict[str, Any]:
        """Wire form; ``rejoin_by`` (Unix seconds) while their media is lost and they may still rejoin."""
        rejoin_by = None
        if self.rejoin_deadline_m is not None:
            rejoin_by = round(time.time() + self.rejoin_deadline_m - time.monotonic(), 3)
        return {
            "username": self.username,
            "role": self.role,
            "state": self.state.value,
            "media": self.connected,
            "rejoin_by": rejoin_by,
        }


@dataclass(eq=False)
class Call:
    """A one-to-one call or a briefing."""

    id: str
    """Call id."""
    kind: CallKind
    """Call or briefing."""
    owner: str
    """Who started it."""
    members: dict[str, Member]
    """Everyone invited, the owner included."""
    state: CallState = CallState.RINGING
    """Overall state."""
    grid: str | None = None
    """Grid of its events (workers see their grids' events)."""
    node: str | None = None
    """Briefings: the district node addressed."""
    camera: str | None = None
    """A camera put into the call in place of the owner's video."""
    floor: FloorControl | None = None
    """Briefings: floor control."""
    ended_reason: str | None = None
    """Why it ended."""
    started_ts: float = field(default_factory=time.time)
    """When it was started (Unix seconds)."""
    ring_timer: asyncio.TimerHandle | None = None
    """Fires when ringing has lasted ``ring_timeout_s``."""
    url: str | None = None
    """Several hub nodes: the public URL of the node that hosts the call. A member whose page was
    loaded from another node sends the call's requests (answer, media, floor, hang up) there."""

    def others(self, username: str) -> list[Member]:
        """Members other than ``username``."""
        return [m for u, m in self.members.items() if u != username]

    def as_dict(self) -> dict[str, Any]:
        """Wire form (API and the call WebSocket)."""
        return {
            "id": self.id,
            "kind": self.kind.value,
            "owner": self.owner,
            "state": self.state.value,
            "node": self.node,
            "camera": self.camera,
            "ended_reason": self.ended_reason,
            "members": [m.as_dict() for m in self.members.values()],
            "floor": None if self.floor is None else {"holder": self.floor.holder, "waiting": dict(self.floor.waiting)},
            "started": self.started_ts,
            "url": self.url,
        }
