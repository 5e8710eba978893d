"""What the call and briefing flows need of their node's call service.

:mod:`hub.calls.calls` and :mod:`hub.calls.briefing` are written against this protocol, and
:class:`hub.calls.service.CallService` (which calls them) satisfies it, so neither flow imports
the service back.
"""

from __future__ import annotations

from typing import Any, Protocol

from hub.calls.model import Call, CallKind, Member
from hub.calls.presence import Presence
from hub.calls.whep import Source
from hub.config import UserConfig
from hub.people.directory import Directory
from hub.store.eventlog import EventLog
from streams.relay import PacketRelay


class CallHost(Protocol):
    """The calls of one hub node: its log, directory, users, presence, and the moves on a call."""

    log: EventLog
    directory: Directory
    users: dict[str, UserConfig]
    presence: Presence

    def busy(self, username: str, besides: Call | None = None) -> bool: ...

    def busy_anywhere(self, username: str, besides: Call | None = None) -> bool: ...

    def reachable(self, username: str) -> bool: ...

    async def look_around(self) -> None: ...

    def calls_of(self, username: str) -> list[Call]: ...

    def camera_relay(self, camera_id: str, viewer: str) -> PacketRelay: ...

    def camera_feed(self, camera_id: str, viewer: str) -> PacketRelay | None: ...

    def source(self, source_id: str) -> Source | None: ...

    def new_call(self, kind: CallKind, owner: str, members: dict[str, Member], **kw: Any) -> Call: ...

    def arm_ring_timer(self, call: Call) -> None: ...

    def notify(self, call: Call) -> None: ...

    def rewire(self, call: Call) -> None: ...

    async def event(self, call: Call, type_: str, actor: str, **data: Any) -> None: ...

    async def end(self, call: Call, reason: str, actor: str) -> None: ...

    async def leave(self, call: Call, member: Member, reason: str) -> None: ...
