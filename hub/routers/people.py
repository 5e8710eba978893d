"""People in the field as staff see them: one worker's on-duty track over a time range."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, HTTPException, Path, Query, status
from sqlalchemy.engine import Connection

from hub.edge.deps import CallerDep, HubDep
from hub.incidents.errors import NotFound
from hub.store.eventlog import events_table

router = APIRouter(prefix="/api/people", tags=["people"])

TRACK_POINTS_MAX = 20_000
"""Points one answer carries (a minute apart: two weeks of full shifts)."""
INCIDENT_EVENTS_MAX = 2_000
"""Incident steps one answer lists."""

PersonId = Annotated[str, Path(max_length=64)]


@router.get("/{person_id}/track")
async def track(
    person_id: PersonId,
    hub: HubDep,
    who: CallerDep,
    since: Annotated[float | None, Query(ge=0, description="From (Unix seconds); default: 24 h ago.")] = None,
    until: Annotated[float | None, Query(ge=0, description="Before (Unix seconds); default: now.")] = None,
) -> dict[str, Any]:
    """Where the person went while on duty (oldest point first, each with ``outside`` when it lay
    outside the district), and the incidents they acted on in that time: each with its place and
    their steps (type and time), so the desk draws the track with the incidents along it.
    ``truncated`` says there were more points than one answer carries (ask for a shorter range)."""
    person = hub.directory.people.get(person_id)
    if person is None:
        raise NotFound(f"no person {person_id!r}")
    end = time.time() if until is None else until
    start = end - 86_400 if since is None else since
    if start >= end:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "since must be before until")
    points = await hub.positions.track(person.id, start, end, TRACK_POINTS_MAX + 1)
    truncated = len(points) > TRACK_POINTS_MAX
    steps = await _incident_steps(hub, person.username, start, end) if person.username else []
    by_incident: dict[int, list[dict[str, Any]]] = {}
    for subject, type_, ts, data in steps:
        number = subject.split(":", 1)[-1]
        if number.isdigit():
            by_incident.setdefault(int(number), []).append({"type": type_, "at": ts, **data})
    incidents = []
    for iid, acts in by_incident.items():
        try:
            inc = await hub.desk.get(iid)
        except NotFound:
            continue
        place = {"node": inc.node, "grid": inc.grid, "lat": inc.lat, "lon": inc.lon}
        incidents.append({"id": iid, "title": inc.title, "state": inc.state.value, **place, "steps": acts})
    return {
        "person": person.id,
        "name": person.name,
        "since": start,
        "until": end,
        "points": [p.as_dict() for p in points[:TRACK_POINTS_MAX]],
        "truncated": truncated,
        "incidents": incidents,
    }


async def _incident_steps(hub: Any, username: str, start: float, end: float) -> list[tuple[str, str, float, Any]]:
    """``(subject, type, time, details)`` of the incident events ``username`` caused in the range."""
    t = events_table
    q = (
        sa.select(t.c.subject, t.c.type, t.c.ts, t.c.data)
        .where(t.c.actor == username, t.c.type.startswith("incident."), t.c.ts >= start, t.c.ts < end)
        .order_by(t.c.id)
        .limit(INCIDENT_EVENTS_MAX)
    )

    def read(conn: Connection) -> list[tuple[str, str, float, Any]]:
        out = []
        for r in conn.execute(q):
            data = json.loads(r.data)
            details = {k: data[k] for k in ("from", "to", "note") if k in data}
            out.append((r.subject, r.type, float(r.ts), details))
        return out

    return await hub.log.query(read)
