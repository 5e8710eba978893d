"""Domain data of the incident desk: states, the transition table, severities, sources."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypedDict


class State(StrEnum):
    """Where an incident is in the closed loop."""

    NEW = "new"
    VERIFIED = "verified"
    ASSIGNED = "assigned"
    ACKNOWLEDGED = "acknowledged"
    ON_SITE = "on_site"
    RESOLVED = "resolved"
    CLOSED = "closed"
    DISMISSED = "dismissed"
    MERGED = "merged"
    REOPENED = "reopened"


class Severity(StrEnum):
    """P1 is the most urgent."""

    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"


class Source(StrEnum):
    """Which entrance an incident came in by."""

    CAMERA = "camera"
    WORKER = "worker"
    RESIDENT = "resident"
    MANUAL = "manual"


TRANSITIONS: dict[State, frozenset[State]] = {
    State.NEW: frozenset({State.VERIFIED, State.ASSIGNED, State.DISMISSED, State.MERGED}),
    State.VERIFIED: frozenset({State.ASSIGNED, State.DISMISSED, State.MERGED}),
    State.ASSIGNED: frozenset({State.ACKNOWLEDGED, State.ASSIGNED, State.DISMISSED, State.MERGED}),
    State.ACKNOWLEDGED: frozenset({State.ON_SITE, State.RESOLVED, State.ASSIGNED}),
    State.ON_SITE: frozenset({State.RESOLVED, State.ASSIGNED}),
    State.RESOLVED: frozenset({State.CLOSED, State.REOPENED}),
    State.CLOSED: frozenset({State.REOPENED}),
    State.REOPENED: frozenset({State.ASSIGNED, State.DISMISSED, State.MERGED}),
    State.DISMISSED: frozenset(),
    State.MERGED: frozenset(),
}
"""Which states each state may move to (``assigned → assigned`` is a reassignment)."""

OPEN_STATES = frozenset({State.NEW, State.VERIFIED, State.ASSIGNED, State.ACKNOWLEDGED, State.ON_SITE, State.REOPENED})
"""States in which an incident still needs work (alerts fold into these)."""

WORKER_STEPS = frozenset({State.ACKNOWLEDGED, State.ON_SITE, State.RESOLVED})
"""What the assigned worker does; everything else is the command center's."""

REVIEW_STEPS = frozenset({State.CLOSED})
"""Steps that need a dispatcher's review (or an admin)."""

EVENT_TYPES: dict[State, str] = {s: f"incident.{s.value}" for s in State}
"""The log event each transition appends."""

DEADLINE_KINDS = ("ack", "arrive", "resolve")
"""Deadlines an assignment arms: acknowledge, arrive on site, resolve."""

ALERT_SEVERITY: dict[str, Severity] = {
    "intrusion": Severity.P2,
    "crowd": Severity.P2,
    "line_crossing": Severity.P3,
    "loitering": Severity.P3,
    "motion": Severity.P4,
}
"""Default severity of an incident opened by a camera alert of this kind (tamper: P3)."""


def moves(inc: Incident) -> frozenset[State]:
    """Where ``inc`` may go next: a resident's report is verified before it is assigned."""
    allowed = TRANSITIONS[inc.state]
    if inc.state is State.NEW and inc.source is Source.RESIDENT:
        return allowed - {State.ASSIGNED}
    return allowed


def alert_severity(kind: str) -> Severity:
    """The severity an alert of ``kind`` opens an incident with."""
    return ALERT_SEVERITY.get(kind, Severity.P3)


@dataclass
class Incident:
    """One problem to be closed, whichever entrance it came by."""

    id: int
    """Incident number."""
    category: str
    """What kind of problem (``intrusion``, ``road_damage``…)."""
    severity: Severity
    """P1–P4."""
    title: str
    """One line for lists."""
    description: str
    """Free text."""
    state: State
    """Where it is in the loop."""
    version: int
    """Bumped by every transition; transitions compare-and-set on it."""
    source: Source
    """How it came in."""
    node: str | None
    """The most specific node of the tree where it is."""
    grid: str | None
    """The grid it belongs to (handles it first)."""
    path: list[str]
    """Node ids from the district down to ``node``."""
    lat: float | None
    """Latitude of the point on the map, if given."""
    lon: float | None
    """Longitude of the point on the map, if given."""
    assignee_person: str | None
    """Person it is assigned to."""
    assignee_grid: str | None
    """Grid it is assigned to (its on-duty workers)."""
    responsible: str | None
    """Node now responsible; climbs the tree when deadlines are missed."""
    camera: str | None
    """Camera that saw it (camera source)."""
    zone: str | None
    """Zone of that camera."""
    count: int
    """Alerts folded into it."""
    first_seen: float
    """First sighting, Unix seconds."""
    last_seen: float
    """Latest sighting, Unix seconds."""
    created_at: float
    """When it was opened."""
    updated_at: float
    """Last change."""
    closed_at: float | None
    """When it was closed."""
    feedback: str | None
    """The resolver's feedback note."""
    merged_into: int | None
    """The incident it was merged into."""
    reporter: str
    """Username, ``public`` or ``camera``."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Anything else worth keeping (alert kind, receipt)."""

    @property
    def subject(self) -> str:
        """The subject of its events in the log."""
        return subject_of(self.id)

    def as_dict(self) -> dict[str, Any]:
        """JSON form for the API."""
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["state"] = self.state.value
        d["severity"] = self.severity.value
        d["source"] = self.source.value
        return d


def subject_of(incident_id: int) -> str:
    """The log subject of an incident."""
    return f"incident:{incident_id}"


class IncidentFilters(TypedDict, total=False):
    """What :meth:`hub.incidents.desk.IncidentDesk.find` and ``count_by_state`` narrow by; each is optional."""

    states: list[str] | None
    """Any of these states."""
    severities: list[str] | None
    """Any of these severities."""
    sources: list[str] | None
    """Any of these entrances."""
    categories: list[str] | None
    """Any of these exact categories."""
    node: str | None
    """At or below this node of the tree."""
    since_ts: float | None
    """Opened at or after (Unix seconds)."""
    until_ts: float | None
    """Opened before (Unix seconds)."""
    text: str | None
    """Text in the title, description or category."""
    grids: frozenset[str] | None
    """A worker's grids: only what concerns them (with ``person`` and ``username``)."""
    person: str | None
    """The worker's person id (assigned to them, or led by them)."""
    username: str | None
    """The worker's login (their own reports)."""
