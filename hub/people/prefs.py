"""Each user's saved settings (wall layouts, patrol tours, language), kept on the hub.

A dispatcher who sits down at another desk gets their own wall. Each save is an event
(``user.prefs_saved``, naming the key, not the value) written in the same transaction as the row.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.store.eventlog import EventDraft, EventLog, metadata
from hub.store.events import AUDIENCE_KEY, audience

KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
"""A preference's name, e.g. ``wall.layouts`` or ``lang``."""
VALUE_MAX_BYTES = 64 * 1024
"""Largest value (as JSON): a few hundred named layouts and tours."""
KEYS_MAX = 32
"""Preferences per user."""

prefs_table = sa.Table(
    "user_prefs",
    metadata,
    sa.Column("username", sa.String(64), primary_key=True),
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)


class PrefsError(ValueError):
    """A preference that cannot be stored; the message says why (safe to show)."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


class Prefs:
    """Reads and saves users' preferences through the event log."""

    def __init__(self, log: EventLog) -> None:
        self.log = log

    async def all(self, username: str) -> dict[str, Any]:
        """Every preference of ``username``, by key."""

        def read(conn: Connection) -> list[tuple[str, str]]:
            t = prefs_table
            rows = conn.execute(sa.select(t.c.key, t.c.value).where(t.c.username == username)).all()
            return [(row.key, row.value) for row in rows]

        return {key: json.loads(value) for key, value in await self.log.query(read)}

    async def save(self, username: str, key: str, value: Any) -> None:
        """Store one preference (replacing the old value); :class:`PrefsError` when it cannot be kept."""
        if not KEY_PATTERN.match(key):
            raise PrefsError("a preference's name is lower-case letters, digits and . _ - (at most 64)")
        try:
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
            size = len(text.encode())
        except ValueError:  # an infinite number (1e400), or text with a lone surrogate
            raise PrefsError("a preference must be plain JSON: finite numbers and valid text") from None
        if size > VALUE_MAX_BYTES:
            raise PrefsError(f"a preference may hold at most {VALUE_MAX_BYTES // 1024} KiB", 413)

        def op(conn: Connection, draft: EventDraft) -> None:
            t = prefs_table
            mine = t.c.username == username
            exists = conn.execute(sa.select(t.c.key).where(mine, t.c.key == key)).first() is not None
            if not exists:
                count = conn.execute(sa.select(sa.func.count()).select_from(t).where(mine)).scalar_one()
                if count >= KEYS_MAX:
                    raise PrefsError(f"at most {KEYS_MAX} preferences per user", 409)
            conn.execute(sa.delete(t).where(mine, t.c.key == key))
            conn.execute(sa.insert(t).values(username=username, key=key, value=text, updated_at=time.time()))

        data = {"key": key, AUDIENCE_KEY: audience(users=[username])}
        await self.log.append("user.prefs_saved", f"user:{username}", username, data, op=op)
