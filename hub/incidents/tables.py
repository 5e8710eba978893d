"""The incident desk's tables, and the statements on them that run inside a log append's transaction.

:class:`hub.incidents.desk.IncidentDesk` decides; the functions here read and write the rows in
the same transaction as the event that records the change.
"""

from __future__ import annotations

import functools
import json
import secrets
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub.incidents.errors import NotFound
from hub.incidents.model import OPEN_STATES, Incident, Severity, Source, State
from hub.store.eventlog import metadata

incidents_table = sa.Table(
    "incidents",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("category", sa.String(64), nullable=False),
    sa.Column("severity", sa.String(2), nullable=False, index=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("description", sa.Text, nullable=False, default=""),
    sa.Column("state", sa.String(16), nullable=False, index=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("node", sa.String(64)),
    sa.Column("grid", sa.String(64), index=True),
    sa.Column("path", sa.Text, nullable=False, default="[]"),
    sa.Column("lat", sa.Float),
    sa.Column("lon", sa.Float),
    sa.Column("assignee_person", sa.String(64)),
    sa.Column("assignee_grid", sa.String(64)),
    sa.Column("responsible", sa.String(64)),
    sa.Column("camera", sa.String(64)),
    sa.Column("zone", sa.String(64)),
    # Set while the incident is open, so two alerts racing cannot open two incidents.
    sa.Column("open_fold_key", sa.String(200), unique=True),
    sa.Column("count", sa.Integer, nullable=False, default=1),
    sa.Column("first_seen", sa.Float, nullable=False),
    sa.Column("last_seen", sa.Float, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False, index=True),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("closed_at", sa.Float),
    sa.Column("feedback", sa.Text),
    sa.Column("merged_into", sa.Integer),
    sa.Column("reporter", sa.String(64), nullable=False),
    sa.Column("receipt", sa.String(32), unique=True),
    sa.Column("extra", sa.Text, nullable=False, default="{}"),
)

deadlines_table = sa.Table(
    "incident_deadlines",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("incident_id", sa.Integer, nullable=False, index=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("level", sa.String(64)),
    sa.Column("due_at", sa.Float, nullable=False, index=True),
    sa.Column("fired_at", sa.Float),
    sa.Column("cancelled_at", sa.Float),
)

evidence_table = sa.Table(
    "incident_evidence",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("incident_id", sa.Integer, nullable=False, index=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("path", sa.Text),
    sa.Column("content_type", sa.String(64)),
    sa.Column("size", sa.Integer),
    sa.Column("ref", sa.String(128)),
    sa.Column("added_by", sa.String(64), nullable=False),
    sa.Column("added_at", sa.Float, nullable=False),
)


def row_incident(r: Any) -> Incident:
    return Incident(
        id=r.id,
        category=r.category,
        severity=Severity(r.severity),
        title=r.title,
        description=r.description or "",
        state=State(r.state),
        version=r.version,
        source=Source(r.source),
        node=r.node,
        grid=r.grid,
        path=json.loads(r.path or "[]"),
        lat=r.lat,
        lon=r.lon,
        assignee_person=r.assignee_person,
        assignee_grid=r.assignee_grid,
        responsible=r.responsible,
        camera=r.camera,
        zone=r.zone,
        count=r.count,
        first_seen=r.first_seen,
        last_seen=r.last_seen,
        created_at=r.created_at,
        updated_at=r.updated_at,
        closed_at=r.closed_at,
        feedback=r.feedback,
        merged_into=r.merged_into,
        reporter=r.reporter,
        extra=json.loads(r.extra or "{}"),
    )


# The statements of every transition, built once: building and keying a statement for SQLAlchemy's
# compiled cache costs more CPU than SQLite takes to run it.
_LOAD = sa.select(incidents_table).where(incidents_table.c.id == sa.bindparam("b_id"))
_ARM = deadlines_table.insert()
_CANCEL = (
    deadlines_table.update()
    .where(
        deadlines_table.c.incident_id == sa.bindparam("b_incident"),
        deadlines_table.c.kind.in_(sa.bindparam("b_kinds", expanding=True)),
        deadlines_table.c.fired_at.is_(None),
        deadlines_table.c.cancelled_at.is_(None),
    )
    .values(cancelled_at=sa.bindparam("b_now"))
)
_PENDING = sa.select(deadlines_table.c.id).where(
    deadlines_table.c.incident_id == sa.bindparam("b_incident"),
    deadlines_table.c.kind == sa.bindparam("b_kind"),
    deadlines_table.c.fired_at.is_(None),
    deadlines_table.c.cancelled_at.is_(None),
)


@functools.lru_cache(maxsize=64)
def update_statement(columns: frozenset[str]) -> sa.Update:
    """The compare-and-set update of an incident's ``columns`` (one per set of columns a move changes)."""
    t = incidents_table
    return (
        t.update()
        .where(t.c.id == sa.bindparam("b_id"), t.c.version == sa.bindparam("b_version"))
        .values({name: sa.bindparam(name) for name in sorted(columns)})
    )


def load_incident(conn: Connection, incident_id: int) -> Incident:
    """The incident's row, read on ``conn`` (inside an append's op, say); :class:`NotFound` if none."""
    row = conn.execute(_LOAD, {"b_id": incident_id}).first()
    if row is None:
        raise NotFound(f"no incident {incident_id}")
    return row_incident(row)


def fold_key(camera: str, zone: str | None, kind: str) -> str:
    """What makes alerts "the same": the camera, the zone and the kind of alert."""
    return f"{camera}/{zone or '-'}/{kind}"


def _fold_key_of(inc: Incident) -> str | None:
    # Camera incidents are opened with the alert's kind as their category.
    return fold_key(inc.camera, inc.zone, inc.category) if inc.source is Source.CAMERA and inc.camera else None


def fold_key_change(conn: Connection, inc: Incident, to: State) -> dict[str, Any]:
    """How a move changes who holds the incident's fold key (the open incident alerts fold into).

    Leaving the open states (resolved, closed, dismissed, merged) lets the key go — to another open
    incident of the same camera, zone and kind if there is one, so the next alert folds there;
    otherwise the next alert opens a new incident. Coming back (reopened) takes the key again
    unless another open incident already holds it.
    """
    key = _fold_key_of(inc)
    if key is None:
        return {}
    t = incidents_table
    holder = conn.execute(sa.select(t.c.id).where(t.c.open_fold_key == key)).scalar()
    if to in OPEN_STATES:
        return {"open_fold_key": key} if holder is None else {}
    if holder != inc.id:
        return {}
    conn.execute(t.update().where(t.c.id == inc.id).values(open_fold_key=None))
    heir = conn.execute(
        sa.select(t.c.id)
        .where(
            t.c.id != inc.id,
            t.c.source == Source.CAMERA.value,
            t.c.camera == inc.camera,
            t.c.zone.is_not_distinct_from(inc.zone),
            t.c.category == inc.category,
            t.c.state.in_(sorted(s.value for s in OPEN_STATES)),
        )
        .order_by(t.c.id.desc())
        .limit(1)
    ).scalar()
    if heir is not None:
        conn.execute(t.update().where(t.c.id == heir).values(open_fold_key=key))
    return {}


def arm_deadline(
    conn: Connection, incident_id: int, kind: str, level: str | None, due_at: float, armed: list[float]
) -> None:
    """Store a deadline; its time goes into ``armed`` (to wake the scheduler once committed)."""
    conn.execute(_ARM, {"incident_id": incident_id, "kind": kind, "level": level, "due_at": due_at})
    armed.append(due_at)


def cancel_deadlines(conn: Connection, incident_id: int, kinds: tuple[str, ...], now: float) -> None:
    conn.execute(_CANCEL, {"b_incident": incident_id, "b_kinds": list(kinds), "b_now": now})


def deadline_pending(conn: Connection, incident_id: int, kind: str) -> bool:
    return conn.execute(_PENDING, {"b_incident": incident_id, "b_kind": kind}).first() is not None


def new_receipt() -> str:
    # Unguessable, easy to read out over the phone: no 0/O or 1/I.
    alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
    raw = "".join(secrets.choice(alphabet) for _ in range(10))
    return f"R-{raw[:5]}-{raw[5:]}"
