"""The incident desk: one closed loop for every problem, whichever entrance it came by.

Every change is an append to the event log whose ``op`` updates the incident tables in
the same transaction: a transition is a compare-and-set on ``version``; refusals raise
before anything is written.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any, Required, TypedDict, Unpack

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from alerts.clock import Clock, SystemClock
from hub.access.auth import Principal
from hub.config import IncidentsConfig, Role
from hub.incidents.errors import Conflict, Forbidden, Invalid, NotFound
from hub.incidents.model import (
    EVENT_TYPES,
    OPEN_STATES,
    REVIEW_STEPS,
    TRANSITIONS,
    WORKER_STEPS,
    Incident,
    IncidentFilters,
    Severity,
    Source,
    State,
    alert_severity,
    moves,
    subject_of,
)
from hub.incidents.tables import (
    arm_deadline,
    cancel_deadlines,
    deadline_pending,
    evidence_table,
    fold_key,
    fold_key_change,
    incidents_table,
    load_incident,
    new_receipt,
    row_incident,
    update_statement,
)
from hub.people.directory import Directory
from hub.store.eventlog import NO_EVENT_AFTER, EventDraft, EventLog, Op
from hub.store.events import AUDIENCE_KEY, Event, EventFilter, audience

logger = logging.getLogger(__name__)

AWAITING_DISPATCH = frozenset({State.NEW, State.VERIFIED})
"""States in which an incident with a place waits to be assigned (its ``assign`` deadline runs)."""
MAX_MERGE_HOPS = 32
"""Longest chain of merges followed to find the incident that carries a merged one on."""


@dataclass(frozen=True)
class Assignee:
    """Whom an incident is assigned to: a person or a grid."""

    person: str | None = None
    """Person id."""
    grid: str | None = None
    """Grid id."""


class NewIncident(TypedDict, total=False):
    """What opening an incident takes (see :meth:`IncidentDesk.create`)."""

    category: Required[str]
    severity: Required[Severity]
    title: Required[str]
    source: Required[Source]
    actor: Required[str]
    """Who opened it (its reporter)."""
    description: str
    node: str | None
    """Where in the district tree (its grid and path follow)."""
    lat: float | None
    lon: float | None
    camera: str | None
    zone: str | None
    fold_key: str | None
    """Camera/zone/kind key later alerts fold into while it is open."""
    receipt: bool
    """Give it a receipt number (public reports)."""
    extra: dict[str, Any] | None
    initial: State
    """``new``, or ``verified`` for a trusted source."""


class IncidentDesk:
    """Opens, moves and escalates incidents; the only writer of the incident tables."""

    def __init__(
        self, log: EventLog, directory: Directory, config: IncidentsConfig, clock: Clock | None = None
    ) -> None:
        self.log = log
        self.directory = directory
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.deadlines_changed: asyncio.Event | None = None
        """Set by the scheduler: wakes it when deadlines are armed."""
        self.next_deadline: float | None = None
        """The scheduler's next wake-up; arming a later deadline need not wake it. ``None`` while
        it is not known (no deadline, or the scheduler is in the middle of a pass): every arm wakes it."""

    # ------------------------------------------------------------------ reading

    async def get(self, incident_id: int) -> Incident:
        """One incident, or :class:`NotFound`."""
        return await self.log.query(lambda conn: load_incident(conn, incident_id))

    async def find(self, *, limit: int = 100, offset: int = 0, **filters: Unpack[IncidentFilters]) -> list[Incident]:
        """Incidents matching every given filter, newest first; ``grids``/``person`` narrow a worker's view."""
        q = sa.select(incidents_table).where(*self._where(filters))
        q = q.order_by(incidents_table.c.id.desc()).limit(limit).offset(offset)
        return await self.log.query(lambda conn: [row_incident(r) for r in conn.execute(q)])

    async def count_by_state(self, **filters: Unpack[IncidentFilters]) -> dict[str, int]:
        """How many incidents are in each state, under the same filters as :meth:`find` (every state
        named; a ``states`` filter is ignored: the counts are what the states would show)."""
        t = incidents_table
        where = self._where({**filters, "states": None})
        q = sa.select(t.c.state, sa.func.count()).where(*where).group_by(t.c.state)
        rows = await self.log.query(lambda conn: [(r[0], int(r[1])) for r in conn.execute(q)])
        counts = dict.fromkeys((s.value for s in State), 0)
        counts.update(rows)
        return counts

    def _where(self, f: IncidentFilters) -> list[sa.ColumnElement[bool]]:
        t = incidents_table
        where: list[sa.ColumnElement[bool]] = []
        if states := f.get("states"):
            where.append(t.c.state.in_(states))
        if severities := f.get("severities"):
            where.append(t.c.severity.in_(severities))
        if sources := f.get("sources"):
            where.append(t.c.source.in_(sources))
        if categories := f.get("categories"):
            where.append(t.c.category.in_(categories))
        if (node := f.get("node")) is not None:
            under = self.directory.subtree(node)
            where.append(sa.or_(t.c.node.in_(under), t.c.grid.in_(under)))
        if (since_ts := f.get("since_ts")) is not None:
            where.append(t.c.created_at >= since_ts)
        if (until_ts := f.get("until_ts")) is not None:
            where.append(t.c.created_at < until_ts)
        if text := f.get("text"):
            like = f"%{text}%"
            where.append(sa.or_(t.c.title.ilike(like), t.c.description.ilike(like), t.c.category.ilike(like)))
        if (grids := f.get("grids")) is not None:
            person, username = f.get("person"), f.get("username")
            seen = [
                t.c.grid.in_(sorted(grids)),
                t.c.assignee_grid.in_(sorted(grids)),
                t.c.assignee_person == (person or ""),
                t.c.reporter == (username or ""),
            ]
            for led in self._led_nodes(person):
                # Incidents below the node it leads that have climbed to it (or past it).
                on_path = t.c.path.contains(json.dumps(led), autoescape=True)
                seen.append(sa.and_(on_path, t.c.responsible.in_(self.directory.path(led))))
            where.append(sa.or_(*seen))
        return where

    async def history(self, incident_id: int, limit: int | None = None, before: int | None = None) -> list[Event]:
        """The incident's events, oldest first: its history is the log.

        With ``limit``, only the newest ``limit`` of them (before the event id ``before``, if
        given): a camera incident that folded a night of alerts has thousands.
        """
        flt = EventFilter(subject=subject_of(incident_id))
        if limit is not None:
            return await self.log.read(0, limit, flt, before=before if before is not None else NO_EVENT_AFTER)
        out: list[Event] = []
        since = 0
        while True:
            page = await self.log.read(since, 1000, flt)
            out += page
            if len(page) < 1000:
                return out
            since = page[-1].id

    async def evidence(
        self, incident_id: int, limit: int | None = None, before: int | None = None
    ) -> list[dict[str, Any]]:
        """Evidence linked to the incident, oldest first: with ``limit``, only the newest ``limit``
        items (with ids below ``before``, to page back)."""
        t = evidence_table
        q = sa.select(t).where(t.c.incident_id == incident_id).order_by(t.c.id.desc())
        if before is not None:
            q = q.where(t.c.id < before)
        if limit is not None:
            q = q.limit(limit)
        rows = await self.log.query(lambda conn: [dict(r._mapping) for r in conn.execute(q)])
        return rows[::-1]

    async def evidence_item(self, incident_id: int, evidence_id: int) -> dict[str, Any] | None:
        """One piece of evidence of the incident, or ``None``."""
        t = evidence_table
        q = sa.select(t).where(t.c.incident_id == incident_id, t.c.id == evidence_id)
        row = await self.log.query(lambda conn: conn.execute(q).first())
        return None if row is None else dict(row._mapping)

    async def by_receipt(self, receipt: str) -> Incident:
        """The incident a resident's receipt number refers to."""
        q = sa.select(incidents_table).where(incidents_table.c.receipt == receipt)
        row = await self.log.query(lambda conn: conn.execute(q).first())
        if row is None:
            raise NotFound("no report with this receipt")
        return row_incident(row)

    async def survivor(self, inc: Incident) -> Incident:
        """The incident that carries ``inc`` on: itself, or where its chain of merges ends."""
        for _hop in range(MAX_MERGE_HOPS):
            if inc.state is not State.MERGED or inc.merged_into is None:
                return inc
            try:
                inc = await self.get(inc.merged_into)
            except NotFound:  # cannot happen through the desk; report where the chain breaks
                return inc
        logger.warning("incident %d: merge chain longer than %d; reporting where it stops", inc.id, MAX_MERGE_HOPS)
        return inc

    # ------------------------------------------------------------------ who may do what

    def can_see(self, inc: Incident, who: Principal) -> bool:
        """Staff and viewers see everything; a worker sees their grids' incidents, those assigned to
        them or their grids, those they reported, and those they lead (see :meth:`leaders`)."""
        grids = who.visible_grids()
        if grids is None:
            return True
        return (
            inc.grid in grids
            or inc.assignee_grid in grids
            or inc.assignee_person == who.person
            or inc.reporter == who.username
            or who.person in self.leaders(inc)
        )

    def leaders(self, inc: Incident) -> list[str]:
        """Leaders answerable for the incident: those of every level from where it started (its
        grid, or its node) up to the one now responsible, which climbs as deadlines are missed."""
        nodes = self.directory.nodes
        if inc.responsible not in nodes:
            return []
        start = inc.grid or inc.node
        chain = self.directory.path(start) if start in nodes else []
        if inc.responsible in chain:
            chain = chain[chain.index(inc.responsible) :]
        else:
            chain = [inc.responsible]
        return [leader for n in chain if (leader := nodes[n].leader)]

    def audience_of(self, inc: Incident, *also: Assignee) -> list[str]:
        """The ``audience`` of an incident's event: everyone besides the command center who may see
        it (:meth:`can_see`), plus ``also`` (a previous assignee learns it was taken away)."""
        assignees = [Assignee(inc.assignee_person, inc.assignee_grid), *also]
        return audience(
            grids=[inc.grid, *(a.grid for a in assignees)],
            people=[*(a.person for a in assignees), *self.leaders(inc)],
            users=[inc.reporter],
        )

    def _led_nodes(self, person: str | None) -> list[str]:
        if not person:
            return []
        return [n.id for n in self.directory.nodes.values() if n.leader == person and n.level != "property"]

    def _acts_as_assignee(self, inc: Incident, who: Principal) -> bool:
        if inc.assignee_person is not None:
            return inc.assignee_person == who.person
        return inc.assignee_grid is not None and inc.assignee_grid in who.grids

    def permitted(self, inc: Incident, to: State, who: Principal) -> str | None:
        """Why ``who`` may not move ``inc`` to ``to``, or ``None`` when allowed."""
        staff = bool(who.roles & {Role.ADMIN, Role.DISPATCHER, Role.COORDINATOR})
        if to in REVIEW_STEPS:
            return None if who.roles & {Role.ADMIN, Role.DISPATCHER} else "closing needs a dispatcher's review"
        if to in WORKER_STEPS:
            if staff or (Role.WORKER in who.roles and self._acts_as_assignee(inc, who)):
                return None
            return "only the assigned worker (or their grid) can do this"
        return None if staff else "only the command center can do this"

    def allowed_for(self, inc: Incident, who: Principal) -> list[str]:
        """The transitions ``who`` could make now."""
        return sorted(s.value for s in moves(inc) if self.permitted(inc, s, who) is None)

    def suggestions(self, inc: Incident) -> list[dict[str, Any]]:
        """Whom to send: on-duty workers of the incident's grid, then of neighbouring grids in its community."""
        if inc.grid is None:
            return []
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        grid = self.directory.node(inc.grid)
        community = grid.parent
        neighbours = [g for g in grid.neighbours if self.directory.nodes[g].parent == community]
        for rank, g in enumerate([inc.grid, *neighbours]):
            for p in self.directory.members(g, on_duty_only=True):
                if p.id in seen or Role.WORKER not in p.roles or g not in p.grids:
                    continue
                seen.add(p.id)
                out.append({**p.as_dict(), "grid": g, "reason": "own grid" if rank == 0 else "neighbouring grid"})
        return out

    # ------------------------------------------------------------------ writing

    def _place(self, node: str | None) -> tuple[str | None, list[str]]:
        if node is None:
            return None, []
        if node not in self.directory.nodes:
            raise Invalid(f"node {node!r} does not exist", field="node")
        path = self.directory.path(node)
        grid = next((n for n in path if self.directory.nodes[n].level == "grid"), None)
        return grid, path

    async def create(self, **fields: Unpack[NewIncident]) -> tuple[Incident, Event]:
        """Open an incident (``new``, or ``verified`` for a trusted source) and log ``incident.created``."""
        values = self._new_row(**fields)
        actor = values["reporter"]
        armed: list[float] = []
        op = self._insert(values, armed)
        ev = await self.log.append("incident.created", "incident:?", actor, grid=values["grid"], op=op)
        self._wake_scheduler(armed)
        d = ev.data["incident"]
        enums = {"state": State(d["state"]), "severity": Severity(d["severity"]), "source": Source(d["source"])}
        inc = Incident(**{**d, **enums})
        logger.info("incident %d: opened by %s (%s, %s)", inc.id, actor, d["source"], d["category"])
        return inc, ev

    def _new_row(
        self,
        *,
        category: str,
        severity: Severity,
        title: str,
        source: Source,
        actor: str,
        description: str = "",
        node: str | None = None,
        lat: float | None = None,
        lon: float | None = None,
        camera: str | None = None,
        zone: str | None = None,
        fold_key: str | None = None,
        receipt: bool = False,
        extra: dict[str, Any] | None = None,
        initial: State = State.NEW,
    ) -> dict[str, Any]:
        """The row of a new incident (its id comes from the insert)."""
        grid, path = self._place(node)
        now = self.clock.now()
        values: dict[str, Any] = {
            "category": category,
            "severity": severity.value,
            "title": title,
            "description": description,
            "state": initial.value,
            "version": 1,
            "source": source.value,
            "node": node,
            "grid": grid,
            "path": json.dumps(path),
            "lat": lat,
            "lon": lon,
            "responsible": grid or node,
            "camera": camera,
            "zone": zone,
            "open_fold_key": fold_key,
            "count": 1,
            "first_seen": now,
            "last_seen": now,
            "created_at": now,
            "updated_at": now,
            "reporter": actor,
            "receipt": new_receipt() if receipt else None,
            "extra": json.dumps(extra or {}),
        }

        return values

    def _insert(self, values: dict[str, Any], armed: list[float]) -> Op:
        """The op that inserts ``values`` and fills in the ``incident.created`` event; the deadline
        it arms (to get it dispatched, once it has a place) goes into ``armed``."""

        def op(conn: Connection, draft: EventDraft) -> None:
            new_id = (
                conn.execute(incidents_table.insert().values(**values).returning(incidents_table.c.id))
            ).scalar_one()
            inc = load_incident(conn, new_id)
            if inc.responsible is not None and inc.state in AWAITING_DISPATCH:
                due = inc.created_at + self.config.deadlines[inc.severity.value].seconds("assign")
                arm_deadline(conn, new_id, "assign", inc.responsible, due, armed)
            draft.subject = subject_of(new_id)
            draft.data = {
                "incident": inc.as_dict(),
                "state": inc.state.value,
                "version": inc.version,
                AUDIENCE_KEY: self.audience_of(inc),
            }
            if values["receipt"]:
                draft.data["receipt"] = values["receipt"]

        return op

    async def on_alert(self, alert: dict[str, Any], fence: Op | None = None) -> Event:
        """A camera alert started: fold it into the open incident for the same camera/zone/kind, or
        open one. One transaction decides: appends are serialised (on every node), so two alerts
        cannot both find no incident and open two. ``fence`` runs first and may refuse it (the
        camera's lease passed to another node)."""
        camera, zone, kind = str(alert["camera"]), alert.get("zone"), str(alert["kind"])
        key = fold_key(camera, zone, kind)
        cam = self.directory.cameras.get(camera)
        name = (cam.name if cam else "") or camera
        values = self._new_row(
            category=kind,
            severity=alert_severity(kind),
            title=f"{kind.replace('_', ' ')} at {name}" + (f" / {zone}" if zone else ""),
            source=Source.CAMERA,
            actor="camera",
            node=(cam.property or cam.grid) if cam else None,
            camera=camera,
            zone=zone,
            fold_key=key,
            extra={"alerts": [alert.get("alert_id")], "score": alert.get("score")},
        )
        armed: list[float] = []
        insert = self._insert(values, armed)
        now = values["created_at"]
        t = incidents_table

        def op(conn: Connection, draft: EventDraft) -> None:
            if fence is not None:
                fence(conn, draft)
            row = conn.execute(sa.select(t).where(t.c.open_fold_key == key)).first()
            if row is None:
                draft.type, draft.grid = "incident.created", values["grid"]
                insert(conn, draft)
                return
            inc = row_incident(row)
            conn.execute(t.update().where(t.c.id == inc.id).values(count=inc.count + 1, last_seen=now, updated_at=now))
            draft.subject, draft.grid = subject_of(inc.id), inc.grid
            draft.data = {
                "count": inc.count + 1,
                "last_seen": now,
                "alert": alert.get("alert_id"),
                "score": alert.get("score"),
                AUDIENCE_KEY: self.audience_of(inc),
            }

        ev = await self.log.append("incident.folded", "incident:?", "camera", op=op)
        self._wake_scheduler(armed)
        if ev.type == "incident.created":
            logger.info("incident %s: opened by camera %s (%s)", ev.subject, camera, kind)
        return ev

    async def transition(
        self,
        incident_id: int,
        to: State,
        version: int,
        who: Principal,
        *,
        note: str | None = None,
        assignee: Assignee | None = None,
        merge_into: int | None = None,
        node: str | None = None,
    ) -> tuple[Incident, Event]:
        """Move an incident, compare-and-set on ``version``; refusals raise a :class:`DeskError`.

        ``node`` places it in the district tree (verifying or assigning a report that came without
        a place); assigning one that has no place puts it where it was assigned.
        """
        self._check_args(to, note, assignee, merge_into)
        if node is not None and to not in (State.VERIFIED, State.ASSIGNED):
            raise Invalid("an incident is placed when verifying or assigning it", field="node")
        placed_at = node
        if placed_at is not None:
            self._place(placed_at)  # 422 for a node that does not exist
        now = self.clock.now()
        result: list[Incident] = []
        armed: list[float] = []

        def op(conn: Connection, draft: EventDraft) -> None:
            inc = load_incident(conn, incident_id)
            if not self.can_see(inc, who):
                raise NotFound(f"no incident {incident_id}")
            draft.grid = inc.grid
            if inc.version != version:
                raise Conflict(
                    f"stale version {version}; the incident is at version {inc.version}",
                    current_version=inc.version,
                    state=inc.state.value,
                )
            if to not in moves(inc):
                allowed = sorted(s.value for s in moves(inc))
                first = " (a resident's report is verified first)" if to in TRANSITIONS[inc.state] else ""
                raise Conflict(
                    f"cannot go from {inc.state.value} to {to.value}{first}", state=inc.state.value, allowed=allowed
                )
            why = self.permitted(inc, to, who)
            if why is not None:
                raise Forbidden(why)
            if (
                to is State.REOPENED
                and inc.state is State.CLOSED
                and (inc.closed_at is None or now - inc.closed_at > self.config.reopen_window_s)
            ):
                raise Conflict("the reopen window has passed", state=inc.state.value, allowed=[])
            dl = self.config.deadlines[inc.severity.value]
            before = Assignee(inc.assignee_person, inc.assignee_grid)
            values: dict[str, Any] = {"state": to.value, "version": inc.version + 1, "updated_at": now}
            # ``at`` is the desk's time of the change (updated_at, closed_at): the row replays from the log.
            data: dict[str, Any] = {"from": inc.state.value, "to": to.value, "version": inc.version + 1, "at": now}
            where = placed_at or (self._home_of(assignee) if assignee is not None and inc.grid is None else None)
            if where is not None:
                grid, path = self._place(where)
                place = {"node": where, "grid": grid, "path": path, "responsible": grid or where}
                values.update(place, path=json.dumps(path))
                data["place"] = place
                inc.node, inc.grid, inc.path, inc.responsible = where, grid, path, grid or where
                draft.grid = grid
                cancel_deadlines(conn, incident_id, ("assign",), now)
                if to in AWAITING_DISPATCH:  # placed but not yet sent anyone: the clock runs from here
                    arm_deadline(conn, incident_id, "assign", inc.responsible, now + dl.seconds("assign"), armed)
            if note:
                data["note"] = note
            if to is State.ASSIGNED:
                assert assignee is not None
                values.update(assignee_person=assignee.person, assignee_grid=assignee.grid)
                data["assignee"] = {"person": assignee.person, "grid": assignee.grid}
                data["notify"] = self._notify(assignee)
                cancel_deadlines(conn, incident_id, ("assign", "ack", "arrive"), now)
                arm_deadline(conn, incident_id, "ack", inc.responsible, now + dl.ack_s, armed)
                if not deadline_pending(conn, incident_id, "resolve"):
                    arm_deadline(conn, incident_id, "resolve", inc.responsible, now + dl.resolve_s, armed)
            elif to is State.ACKNOWLEDGED:
                cancel_deadlines(conn, incident_id, ("ack",), now)
                arm_deadline(conn, incident_id, "arrive", inc.responsible, now + dl.arrive_s, armed)
            elif to is State.ON_SITE:
                cancel_deadlines(conn, incident_id, ("arrive",), now)
            elif to is State.RESOLVED:
                values["feedback"] = note
            elif to is State.MERGED:
                assert merge_into is not None
                if merge_into == incident_id:
                    raise Invalid("an incident cannot be merged into itself", field="merge_into")
                target = load_incident(conn, merge_into)
                if target.state not in OPEN_STATES:
                    raise Conflict(
                        f"incident {merge_into} is {target.state.value}; merge into an open one",
                        state=inc.state.value,
                        allowed=sorted(s.value for s in moves(inc)),
                    )
                values["merged_into"] = merge_into
                data["merged_into"] = merge_into
            values.update(fold_key_change(conn, inc, to))
            if to is State.CLOSED:
                values["closed_at"] = now
            if to in (State.RESOLVED, State.CLOSED, State.DISMISSED, State.MERGED, State.REOPENED):
                cancel_deadlines(conn, incident_id, ("assign", "ack", "arrive", "resolve"), now)
            r = conn.execute(update_statement(frozenset(values)), {**values, "b_id": incident_id, "b_version": version})
            if r.rowcount != 1:
                raise Conflict("stale version", current_version=inc.version + 1)
            for key, value in values.items():
                if key not in ("open_fold_key", "path"):  # the path is set above, as a list
                    setattr(inc, key, State(value) if key == "state" else value)
            data[AUDIENCE_KEY] = self.audience_of(inc, before)
            draft.data = data
            result.append(inc)

        ev = await self.log.append(EVENT_TYPES[to], subject_of(incident_id), who.username, op=op)
        self._wake_scheduler(armed)
        return result[0], ev

    def _check_args(self, to: State, note: str | None, assignee: Assignee | None, merge_into: int | None) -> None:
        if to is State.RESOLVED and not (note and note.strip()):
            raise Invalid("resolving needs a feedback note", field="note")
        if to is State.ASSIGNED:
            if assignee is None or (assignee.person is None) == (assignee.grid is None):
                raise Invalid("assign to exactly one of a person or a grid", field="assignee")
            if assignee.person is not None and assignee.person not in self.directory.people:
                raise Invalid(f"person {assignee.person!r} does not exist", field="assignee")
            if assignee.person is not None and Role.WORKER not in self.directory.people[assignee.person].roles:
                raise Invalid(
                    f"{assignee.person!r} is not a worker: only a worker acknowledges and handles an incident",
                    field="assignee",
                )
            if assignee.grid is not None and (
                assignee.grid not in self.directory.nodes or self.directory.nodes[assignee.grid].level != "grid"
            ):
                raise Invalid(f"grid {assignee.grid!r} does not exist", field="assignee")
        if to is State.MERGED and merge_into is None:
            raise Invalid("merging needs merge_into", field="merge_into")

    def _home_of(self, assignee: Assignee) -> str | None:
        """Where an incident assigned to ``assignee`` is handled: the grid, or the person's first grid."""
        if assignee.grid is not None:
            return assignee.grid
        person = self.directory.people.get(assignee.person or "")
        return person.grids[0] if person is not None and person.grids else None

    def _notify(self, assignee: Assignee) -> list[str]:
        if assignee.person is not None:
            return [assignee.person]
        assert assignee.grid is not None
        return [p.id for p in self.directory.members(assignee.grid, on_duty_only=True) if assignee.grid in p.grids]

    def _wake_scheduler(self, armed: list[float]) -> None:
        """After a commit that armed deadlines at ``armed`` (maybe none)."""
        # Cancelled deadlines only make the scheduler wake for nothing; earlier ones must wake it.
        if not armed:
            return
        due_at = min(armed)
        if self.deadlines_changed is not None and (self.next_deadline is None or due_at < self.next_deadline):
            self.next_deadline = due_at
            self.deadlines_changed.set()

    async def add_evidence(
        self,
        incident_id: int,
        kind: str,
        who: str,
        *,
        path: str | None = None,
        content_type: str | None = None,
        size: int | None = None,
        ref: str | None = None,
        grid: str | None = None,
    ) -> Event:
        """Link evidence (a photo, snapshot, clip or alert) to an incident, with its event."""
        now = self.clock.now()

        def op(conn: Connection, draft: EventDraft) -> None:
            inc = load_incident(conn, incident_id)
            draft.grid = inc.grid if grid is None else grid
            eid = (
                conn.execute(
                    evidence_table.insert()
                    .values(
                        incident_id=incident_id,
                        kind=kind,
                        path=path,
                        content_type=content_type,
                        size=size,
                        ref=ref,
                        added_by=who,
                        added_at=now,
                    )
                    .returning(evidence_table.c.id)
                )
            ).scalar_one()
            draft.data = {
                "evidence": eid,
                "kind": kind,
                "content_type": content_type,
                "size": size,
                "ref": ref,
                AUDIENCE_KEY: self.audience_of(inc),
            }

        return await self.log.append("incident.evidence_added", subject_of(incident_id), who, op=op)
