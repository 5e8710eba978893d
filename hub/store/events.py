"""Domain data of the event log: one immutable event."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of the append-only log."""

    id: int
    """Position in the log; strictly increasing, without gaps."""
    ts: float
    """When it was appended, Unix seconds."""
    type: str
    """Dotted kind, e.g. ``camera.online`` or ``incident.assigned``."""
    subject: str
    """What it is about: a camera id, an incident id…"""
    actor: str
    """Who caused it: a username, or ``system``."""
    grid: str | None = None
    """The grid it concerns, if any; workers see only their grids' events."""
    data: dict[str, Any] = field(default_factory=dict)
    """Details, JSON-serialisable."""
    wire: str = field(default="", compare=False, repr=False)
    """The JSON text sent to clients, made once and shared by every feed."""

    def __post_init__(self) -> None:
        if not self.wire:
            object.__setattr__(self, "wire", json.dumps(self.as_dict(), separators=(",", ":"), ensure_ascii=False))

    def as_dict(self) -> dict[str, Any]:
        """The wire form used by the API and the feeds."""
        return {
            "id": self.id,
            "ts": datetime.fromtimestamp(self.ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "type": self.type,
            "subject": self.subject,
            "actor": self.actor,
            "grid": self.grid,
            "data": self.data,
        }


AUDIENCE_KEY = "audience"
"""Key in an event's ``data`` naming, beyond its ``grid``, who may read it (see :func:`audience`)."""


def audience(
    grids: Iterable[str | None] = (), people: Iterable[str | None] = (), users: Iterable[str | None] = ()
) -> list[str]:
    """The ``data["audience"]`` of an event: ``grid:<id>``, ``person:<id>`` and ``user:<username>``
    tokens, sorted and without repeats (``None`` entries are skipped).

    An event is tagged with one ``grid``; the audience lets an event reach narrowed readers
    outside it (an incident's assignee from a neighbouring grid, a leader it escalated to). It
    travels with the event, so every hub node filters the same way without asking anyone.
    """
    tokens = (
        {f"grid:{g}" for g in grids if g} | {f"person:{p}" for p in people if p} | {f"user:{u}" for u in users if u}
    )
    return sorted(tokens)


def reader_tokens(grids: Iterable[str], person: str, username: str) -> frozenset[str]:
    """The audience tokens a narrowed reader answers to: their grids, their person id and login."""
    return frozenset(audience(grids, [person], [username]))


@dataclass(frozen=True, slots=True)
class EventFilter:
    """What a reader wants from the log; empty fields match everything."""

    type_prefixes: tuple[str, ...] = ()
    """Keep events whose type starts with one of these."""
    subject: str | None = None
    """Keep events about exactly this subject."""
    grids: frozenset[str] | None = None
    """When set, keep only events of these grids (how a worker's view is narrowed)…"""
    audience: frozenset[str] = frozenset()
    """…or whose ``data["audience"]`` names one of these tokens (see :func:`reader_tokens`)."""

    def matches(self, ev: Event) -> bool:
        """Whether ``ev`` passes this filter."""
        if self.type_prefixes and not ev.type.startswith(self.type_prefixes):
            return False
        if self.subject is not None and ev.subject != self.subject:
            return False
        if self.grids is None or ev.grid in self.grids:
            return True
        named = ev.data.get(AUDIENCE_KEY) if self.audience else None
        return isinstance(named, list) and not self.audience.isdisjoint(named)
