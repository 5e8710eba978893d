"""Sessions that can end: a logout, or an admin revoking a user, ends them on every node at once.

A login starts a session: its tokens carry the session's id (``sid``), when the user logged in
(``at``) and a fingerprint of the password hash it was made with (``pw``). Tokens are checked
without the store on every request, so what ended is kept in memory on each node:

- ``auth.logged_out`` ends one session;
- ``auth.revoked`` ends every session of a user that began before it (a lost phone, a
  dismissed employee).

Both are events of the log, each with a row in :data:`revocations_table` written in the same
transaction, so every node hears them in order (and closes that user's WebSockets and calls),
and a node that starts later reads what still matters from the table. A password changed or
removed in the config ends its sessions too, without an event: their fingerprint no longer
matches. A row is kept until no token it could refuse can still be valid.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.store.bus import EventBus
from hub.store.eventlog import EventDraft, EventLog, Op, metadata
from hub.store.events import Event

logger = logging.getLogger(__name__)

LOGGED_OUT = "auth.logged_out"
REVOKED = "auth.revoked"
SESSION_TYPES = (LOGGED_OUT, REVOKED)
SESSION_QUEUE = 1024
"""Revocation events waiting to be applied on this node (a burst of logouts; the table has all)."""

revocations_table = sa.Table(
    "auth_revocations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("subject", sa.String(128), nullable=False),
    sa.Column("before", sa.Float, nullable=False),
    sa.Column("until", sa.Float, nullable=False, index=True),
)
"""``kind`` "session": the session ``subject`` ended; "user": the user ``subject``'s sessions that
began before ``before`` ended. ``until``: when the row can be forgotten."""


class SessionEnded(Exception):
    """The token's session was ended (logout, revocation); only a new login helps."""


@dataclass
class Revocations:
    """What has ended, as this node knows it (checked on every request, never in the store)."""

    sessions: dict[str, float] = field(default_factory=dict)
    """Ended session id -> until when to remember it."""
    users_before: dict[str, float] = field(default_factory=dict)
    """User -> sessions that began before this time are ended."""

    def apply(self, kind: str, subject: str, before: float, until: float) -> None:
        if kind == "session":
            self.sessions[subject] = max(until, self.sessions.get(subject, 0.0))
        else:
            self.users_before[subject] = max(before, self.users_before.get(subject, 0.0))

    def check(self, username: str, sid: str | None, began_at: float) -> None:
        """:class:`SessionEnded` when this session, or every session of its user up to then, ended."""
        if sid is not None and sid in self.sessions:
            raise SessionEnded("this session was logged out")
        if began_at < self.users_before.get(username, 0.0):
            raise SessionEnded("this user's sessions were ended by an administrator")

    def forget(self, now: float) -> None:
        """Drop ended sessions whose tokens can no longer be valid anyway."""
        for sid in [s for s, until in self.sessions.items() if until <= now]:
            del self.sessions[sid]


Closer = Callable[[str], Awaitable[None]]
"""Ends one open connection or call, with the reason."""


@dataclass(frozen=True, eq=False)
class _Held:
    username: str
    sid: str | None
    began_at: float
    close: Closer


class SessionGuard:
    """Writes revocations with their events, applies them on this node, and ends what they cover."""

    def __init__(self, log: EventLog, bus: EventBus, revocations: Revocations, session_max_s: float) -> None:
        self.log = log
        self.bus = bus
        self.revocations = revocations
        self.session_max_s = session_max_s
        self._held: dict[str, set[_Held]] = {}
        self.on_user_ended: list[Callable[[str, str | None, float], Awaitable[None]]] = []
        """Called with (user, session or None for all before a time, that time) on every node."""
        self.closed = 0
        """Open connections closed because their session ended."""

    async def load(self) -> None:
        """Read what still matters from the table (a node starting after the events)."""
        t = revocations_table
        now = time.time()

        def read(conn: Connection) -> list[tuple[str, str, float, float]]:
            conn.execute(t.delete().where(t.c.until <= now))
            rows = conn.execute(sa.select(t.c.kind, t.c.subject, t.c.before, t.c.until)).all()
            return [(r.kind, r.subject, r.before, r.until) for r in rows]

        for kind, subject, before, until in await self.log.query(read):
            self.revocations.apply(kind, subject, before, until)

    async def run(self) -> None:
        """Apply revocation events as the log delivers them (from this node or any other)."""
        sub = self.bus.subscribe(SESSION_QUEUE, name="sessions", types=SESSION_TYPES)
        try:
            while True:
                events = await sub.get()
                if sub.overflowed:  # the table has every one of them
                    sub.overflowed = False
                    await self.load()
                for ev in events:
                    await self._apply(ev)
                self.revocations.forget(time.time())
        finally:
            sub.close()

    async def _apply(self, ev: Event) -> None:
        d = ev.data
        user = str(d.get("user", ""))
        if ev.type == LOGGED_OUT:
            sid = str(d.get("session", ""))
            self.revocations.apply("session", sid, 0.0, float(d.get("until", 0.0)))
            ended = [h for h in self._held.get(user, ()) if h.sid == sid]
            reason, before, which = "logged out", 0.0, sid
        else:
            before = float(d.get("before", 0.0))
            self.revocations.apply("user", user, before, float(d.get("until", 0.0)))
            ended = [h for h in self._held.get(user, ()) if h.began_at < before]
            reason, which = "sessions ended by an administrator", None
        # Calls first: by the time a page sees its connection close, its call has ended.
        for hook in self.on_user_ended:
            try:
                await hook(user, which, before)
            except Exception:
                logger.exception("sessions: ending %s's calls failed", user)
        for h in ended:
            self.closed += 1
            try:
                await h.close(reason)
            except Exception:  # a connection already gone
                logger.debug("sessions: closing a connection of %s failed", user, exc_info=True)

    @contextmanager
    def hold(self, username: str, sid: str | None, began_at: float, close: Closer) -> Iterator[None]:
        """While inside, an end of this session closes the connection with ``close``."""
        h = _Held(username, sid, began_at, close)
        self._held.setdefault(username, set()).add(h)
        try:
            yield
        finally:
            held = self._held.get(username)
            if held is not None:
                held.discard(h)
                if not held:
                    del self._held[username]

    async def log_out(self, username: str, sid: str, expires_at: float) -> Event:
        """End one session everywhere; kept until its last token would have expired anyway."""
        return await self.log.append(
            LOGGED_OUT,
            username,
            username,
            {"user": username, "session": sid, "until": expires_at},
            op=_insert("session", sid, 0.0, expires_at),
        )

    async def revoke(self, username: str, actor: str) -> Event:
        """End every session ``username`` has now, on every node (their next login works)."""
        now = time.time()
        until = now + self.session_max_s
        return await self.log.append(
            REVOKED,
            username,
            actor,
            {"user": username, "before": now, "until": until},
            op=_insert("user", username, now, until),
        )


def _insert(kind: str, subject: str, before: float, until: float) -> Op:
    def op(conn: Connection, draft: EventDraft) -> None:
        conn.execute(revocations_table.insert().values(kind=kind, subject=subject, before=before, until=until))

    return op


SESSION_ENDED_CLOSE = 1008
"""Close code of a WebSocket whose session ended (policy violation); the page then finds it must log in."""


class EndSignal:
    """A connection's way to hear that its session ended: :meth:`end` is the :data:`Closer`."""

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.reason = ""

    async def end(self, reason: str) -> None:
        self.reason = self.reason or reason
        self.event.set()

    @property
    def close_reason(self) -> str:
        """For the close frame (at most 123 bytes)."""
        return f"session ended: {self.reason}"[:120]
