"""Where people in the field were last seen, and where they went while on duty.

Each report is an event (``person.position``), with the person's row updated in the same
transaction, so the map opens with every last known position and then follows the feed.

While on duty, the phone's points (``POST /api/me/location``) are also kept as the person's
track, in the same transaction, for ``field.track_retention_days`` (older points are pruned as new
ones arrive); off duty nothing is kept. A point sent late (from a phone's outbox after a dead spot)
joins the track at its own time and moves the last position only when it is newer. A point outside
the district's outline is kept, flagged ``outside``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.people.directory import Directory
from hub.store.eventlog import EventDraft, EventLog, metadata
from hub.store.events import AUDIENCE_KEY, audience

positions_table = sa.Table(
    "person_positions",
    metadata,
    sa.Column("person", sa.String(64), primary_key=True),
    sa.Column("lat", sa.Float, nullable=False),
    sa.Column("lon", sa.Float, nullable=False),
    sa.Column("accuracy_m", sa.Float),
    sa.Column("at", sa.Float, nullable=False),
)

track_table = sa.Table(
    "person_track",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("person", sa.String(64), nullable=False),
    sa.Column("lat", sa.Float, nullable=False),
    sa.Column("lon", sa.Float, nullable=False),
    sa.Column("accuracy_m", sa.Float),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("received_at", sa.Float, nullable=False),
    sa.Column("outside", sa.Boolean),
    sa.Index("ix_person_track_person_at", "person", "at"),
    sa.Index("ix_person_track_at", "at"),
)
"""On-duty points, by person and the phone's time."""

PRUNE_EVERY_S = 300.0
"""Points past their retention are deleted at most this often (inside a point's transaction)."""


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


@dataclass(frozen=True)
class TrackPoint:
    """One point of an on-duty track."""

    lat: float
    """Latitude, degrees north."""
    lon: float
    """Longitude, degrees east."""
    accuracy_m: float | None
    """The phone's own estimate of its error, metres."""
    at: float
    """When the phone took it, Unix seconds."""
    outside: bool | None
    """Outside the district's outline (``None``: the district has no outline to tell)."""

    def as_dict(self) -> dict[str, Any]:
        """The API form."""
        return {
            "lat": self.lat,
            "lon": self.lon,
            "accuracy_m": self.accuracy_m,
            "at": self.at,
            "outside": self.outside,
        }


def inside(lon: float, lat: float, ring: list[tuple[float, float]]) -> bool:
    """Whether the point is inside the outline (even-odd rule; points are (lon, lat))."""
    hit = False
    n = len(ring)
    for i in range(n):
        x1, y1 = ring[i]
        x2, y2 = ring[(i + 1) % n]
        if (y1 > lat) != (y2 > lat) and lon < x1 + (lat - y1) * (x2 - x1) / (y2 - y1):
            hit = not hit
    return hit


def outside_district(directory: Directory, lon: float, lat: float) -> bool | None:
    """Whether a point lies outside the district: its outline, or else every drawn grid's; ``None``
    when nothing is drawn."""
    root = directory.nodes.get(directory.root or "")
    if root is not None and root.area:
        return not inside(lon, lat, root.area)
    drawn = [n.area for n in directory.nodes.values() if n.area and n.level == "grid"]
    if not drawn:
        return None
    return not any(inside(lon, lat, area) for area in drawn)


class Positions:
    """Stores and reads people's last positions (and on-duty tracks) through the event log."""

    def __init__(self, log: EventLog, retention_s: float = 30 * 86_400.0) -> None:
        self.log = log
        self.retention_s = retention_s
        """How long track points are kept."""
        self._pruned_at = 0.0

    async def record(self, username: str, person: str, grids: list[str], point: TrackPoint) -> Position:
        """Keep an on-duty point in the track; it is the last position too unless a newer one is known.

        One event (``person.position`` with ``track: true``), the track row and the last position
        in one transaction."""
        now = time.time()
        pos = Position(person, point.lat, point.lon, point.accuracy_m, point.at)
        cutoff = now - self.retention_s
        prune = now - self._pruned_at > PRUNE_EVERY_S
        if prune:
            self._pruned_at = now

        def op(conn: Connection, draft: EventDraft) -> None:
            t, tr = positions_table, track_table
            conn.execute(sa.insert(tr).values(person=person, received_at=now, **point.as_dict()))
            last = conn.execute(sa.select(t.c.at).where(t.c.person == person)).first()
            if last is None or float(last.at) <= point.at:
                conn.execute(sa.delete(t).where(t.c.person == person))
                values = {"lat": point.lat, "lon": point.lon, "accuracy_m": point.accuracy_m, "at": point.at}
                conn.execute(sa.insert(t).values(person=person, **values))
            else:
                draft.data["late"] = True  # a replayed point: in the track, not the current position
            if prune:
                conn.execute(sa.delete(tr).where(tr.c.at < cutoff))

        data = {
            **pos.as_dict(),
            "outside": point.outside,
            "track": True,
            AUDIENCE_KEY: audience(grids, [person], [username]),
        }
        await self.log.append(
            "person.position", f"person:{person}", username, data, grid=grids[0] if grids else None, op=op
        )
        return pos

    async def track(self, person: str, since: float, until: float, limit: int) -> list[TrackPoint]:
        """The person's points with ``since <= at < until``, oldest first, at most ``limit``."""
        tr = track_table
        q = (
            sa.select(tr)
            .where(tr.c.person == person, tr.c.at >= since, tr.c.at < until, tr.c.at >= time.time() - self.retention_s)
            .order_by(tr.c.at, tr.c.id)
            .limit(limit)
        )
        rows = await self.log.query(lambda conn: list(conn.execute(q).all()))
        return [TrackPoint(r.lat, r.lon, r.accuracy_m, r.at, r.outside) for r in rows]

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
