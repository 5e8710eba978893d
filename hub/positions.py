"""Where people in the field were last seen: the phone reports, the desk's map shows.

Each report is an event (``person.position``), with the person's row updated in the same
transaction, so the map opens with every last known position and then follows the feed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.eventlog import EventDraft, EventLog, metadata
from hub.events import AUDIENCE_KEY, audience

positions_table = sa.Table(
    "person_positions",
    metadata,
    sa.Column("person", sa.String(64), primary_key=True),
    sa.Column("lat", sa.Float, nullable=False),
    sa.Column("lon", sa.Float, nullable=False),
    sa.Column("accuracy_m", sa.Float),
    sa.Column("at", sa.Float, nullable=False),
)


@dataclass(frozen=True)
class Position:
    """One person's last reported place."""

    person: str
    """Directory person id."""
    lat: float
    """Latitude, degrees north."""
    lon: float
    """Longitude, degrees east."""
    accuracy_m: float | None
    """The phone's own estimate of its error, metres."""
    at: float
    """When the hub received it, Unix seconds."""

    def as_dict(self) -> dict[str, Any]:
        """The API form."""
        return {"person": self.person, "lat": self.lat, "lon": self.lon, "accuracy_m": self.accuracy_m, "at": self.at}


class Positions:
    """Stores and reads people's last positions through the event log."""

    def __init__(self, log: EventLog) -> None:
        self.log = log

    async def report(
        self, username: str, person: str, grids: list[str], lat: float, lon: float, accuracy_m: float | None
    ) -> Position:
        """Record where ``person`` is now; the event reaches the desk and the person's grids."""
        now = time.time()
        pos = Position(person, lat, lon, accuracy_m, now)

        def op(conn: Connection, draft: EventDraft) -> None:
            t = positions_table
            conn.execute(sa.delete(t).where(t.c.person == person))
            conn.execute(sa.insert(t).values(person=person, lat=lat, lon=lon, accuracy_m=accuracy_m, at=now))

        data = {**pos.as_dict(), AUDIENCE_KEY: audience(grids, [person], [username])}
        await self.log.append(
            "person.position", f"person:{person}", username, data, grid=grids[0] if grids else None, op=op
        )
        return pos

    async def last(self, people: set[str] | None = None) -> list[Position]:
        """The last known position of everyone (or of ``people``)."""

        def read(conn: Connection) -> list[sa.Row[Any]]:
            q = sa.select(positions_table)
            if people is not None:
                q = q.where(positions_table.c.person.in_(sorted(people)))
            return list(conn.execute(q).all())

        rows = await self.log.query(read)
        return [Position(r.person, r.lat, r.lon, r.accuracy_m, r.at) for r in rows]
