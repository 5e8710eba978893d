"""Domain data of the event log: one immutable event."""

from __future__ import annotations

import json
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


@dataclass(frozen=True, slots=True)
class EventFilter:
    """What a reader wants from the log; empty fields match everything."""

    type_prefixes: tuple[str, ...] = ()
    """Keep events whose type starts with one of these."""
    subject: str | None = None
    """Keep events about exactly this subject."""
    grids: frozenset[str] | None = None
    """When set, keep only events of these grids (how a worker's view is narrowed)."""

    def matches(self, ev: Event) -> bool:
        """Whether ``ev`` passes this filter."""
        if self.type_prefixes and not ev.type.startswith(self.type_prefixes):
            return False
        if self.subject is not None and ev.subject != self.subject:
            return False
        return self.grids is None or ev.grid in self.grids
