"""Deadlines that escalate: a missed one moves responsibility one level up the tree.

Deadlines live in the database, not in memory, so they survive a restart; firing one is a
compare-and-set on its ``fired_at`` in the same transaction as its ``incident.escalated``
event, so it fires exactly once even with several hub nodes running this scheduler.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.incidents.desk import IncidentDesk
from hub.incidents.errors import Conflict
from hub.incidents.model import subject_of
from hub.incidents.tables import deadlines_table, incidents_table, load_incident
from hub.store.eventlog import EventDraft
from hub.store.events import AUDIENCE_KEY

logger = logging.getLogger(__name__)

FIRE_BATCH = 100
"""Deadlines fired per pass; the loop comes straight back for more."""


class AlreadyHandled(Conflict):
    """The deadline was fired or cancelled by someone else first."""


SHARED_RESCAN_S = 30.0
"""With several hub nodes on one store, the longest a deadline armed by another node may wait."""


class DeadlineScheduler:
    """Fires due deadlines; owned by the hub's lifespan."""

    def __init__(self, desk: IncidentDesk, shared_rescan_s: float = SHARED_RESCAN_S) -> None:
        self.desk = desk
        self.shared_rescan_s = shared_rescan_s
        self.fired = 0
        """Deadlines this node has fired."""
        self._wake = asyncio.Event()
        desk.deadlines_changed = self._wake

    async def run(self) -> None:
        """Loop: fire what is due, then sleep until the next deadline or until woken."""
        while True:
            self._wake.clear()
            # Until this pass has read the store, the next wake-up is unknown: a deadline armed
            # meanwhile must wake the loop again (its row may be newer than the read), not be
            # compared with the previous pass's answer, which may be a deadline fired just now.
            self.desk.next_deadline = None
            try:
                await self.fire_due()
                next_due = await self._next_due()
                self.desk.next_deadline = next_due
            except Exception:  # a store hiccup must not end the loop; deadlines are still stored
                logger.exception("deadlines: pass failed, retrying in 1 s")
                next_due = self.desk.clock.now() + 1.0
                self.desk.next_deadline = next_due
            if self.desk.log.shared:
                # Another node may arm a deadline and then die before firing it: look again now and then.
                next_due = min(next_due or float("inf"), self.desk.clock.now() + self.shared_rescan_s)
                self.desk.next_deadline = next_due
            await self.desk.clock.sleep_until(next_due, self._wake)

    async def _next_due(self) -> float | None:
        d = deadlines_table

        def _read(conn: Connection) -> Any:
            value = (
                conn.execute(
                    sa.select(sa.func.min(d.c.due_at)).where(d.c.fired_at.is_(None), d.c.cancelled_at.is_(None))
                )
            ).scalar()
            return value

        value = await self.desk.log.query(_read)
        return None if value is None else float(value)

    async def fire_due(self) -> int:
        """Fire every deadline due now; returns how many this call fired."""
        count = 0
        while True:
            now = self.desk.clock.now()
            d = deadlines_table

            q = (
                sa.select(d.c.id, d.c.incident_id, d.c.kind, d.c.due_at)
                .where(d.c.fired_at.is_(None), d.c.cancelled_at.is_(None), d.c.due_at <= now)
                .order_by(d.c.due_at)
                .limit(FIRE_BATCH)
            )
            rows = await self.desk.log.query(partial(_all_rows, q))
            if not rows:
                return count
            for row in rows:
                if await self._fire(row.id, row.incident_id, row.kind, now, float(row.due_at)):
                    count += 1

    async def _fire(self, deadline_id: int, incident_id: int, kind: str, now: float, due_at: float) -> bool:
        desk = self.desk

        def op(conn: Connection, draft: EventDraft) -> None:
            d, t = deadlines_table, incidents_table
            r = conn.execute(
                d.update()
                .where(d.c.id == deadline_id, d.c.fired_at.is_(None), d.c.cancelled_at.is_(None))
                .values(fired_at=now)
            )
            if r.rowcount != 1:
                raise AlreadyHandled("deadline already handled")
            inc = load_incident(conn, incident_id)
            level = inc.responsible
            parent = desk.directory.nodes[level].parent if level in desk.directory.nodes else None
            data: dict[str, Any] = {
                "deadline": kind,
                "deadline_id": deadline_id,
                "from": level,
                "to": parent or level,
                "due_at": due_at,
                "fired_at": now,
            }
            if parent is not None:
                leader = desk.directory.nodes[parent].leader
                conn.execute(t.update().where(t.c.id == incident_id).values(responsible=parent, updated_at=now))
                inc.responsible = parent
                # The next level gets the same time to act before it climbs again.
                duration = desk.config.deadlines[inc.severity.value].seconds(kind)
                conn.execute(d.insert().values(incident_id=incident_id, kind=kind, level=parent, due_at=now + duration))
                data.update(level=desk.directory.nodes[parent].level, leader=leader, notify=[leader] if leader else [])
            else:
                data.update(level="top", leader=None, notify=[])
            data[AUDIENCE_KEY] = desk.audience_of(inc)
            draft.grid = inc.grid
            draft.data = data

        try:
            await desk.log.append("incident.escalated", subject_of(incident_id), "system", op=op)
        except AlreadyHandled:
            return False
        self.fired += 1
        logger.info("incident %d: %s deadline missed, escalated", incident_id, kind)
        return True


def _all_rows(query: Any, conn: Connection) -> list[Any]:
    return list(conn.execute(query).all())
