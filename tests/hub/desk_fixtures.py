"""A real incident desk on a temporary SQLite log, with a manual clock; the replay of incident rows."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alerts.clock import ManualClock
from hub.access.auth import Principal
from hub.config import Role, Settings
from hub.incidents.deadlines import DeadlineScheduler
from hub.incidents.desk import IncidentDesk
from hub.people.directory import Directory
from hub.store.bus import EventBus
from hub.store.eventlog import EventLog
from tests.hub.conftest import make_settings


@dataclass
class DeskRig:
    """Everything a desk test touches."""

    desk: IncidentDesk
    scheduler: DeadlineScheduler
    clock: ManualClock
    log: EventLog
    settings: Settings


def principal(settings: Settings, username: str) -> Principal:
    """The principal a login of ``username`` would get."""
    user = next(u for u in settings.users if u.username == username)
    d = Directory(settings)
    person = user.person or user.username
    return Principal(user.username, frozenset(Role(r) for r in user.roles), person, d.grids_of(person))


class DueClock(ManualClock):
    """A manual clock whose sleepers wake only when woken or once time reaches their ``when``, as
    with the system clock (:class:`ManualClock` wakes every sleeper whenever it moves, which would
    hide a scheduler that sleeps past a deadline)."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeping = 0
        """Sleepers waiting now (a scheduler between passes)."""

    async def sleep_until(self, when: float | None, wake: asyncio.Event) -> None:
        """Wait until woken or until time has been advanced to ``when``."""
        self.sleeping += 1
        try:
            while not wake.is_set() and (when is None or when > self.now()):
                await super().sleep_until(when, wake)
        finally:
            self.sleeping -= 1


@asynccontextmanager
async def desk_rig(tmp: Path, clock: ManualClock | None = None, **overrides: object) -> AsyncIterator[DeskRig]:
    """Open a log and a desk; close them at the end (bounded)."""
    settings = make_settings(tmp, **overrides)
    log = EventLog(f"sqlite:///{tmp / 'desk.db'}", EventBus())
    await log.open()
    clock = clock or ManualClock()
    desk = IncidentDesk(log, Directory(settings), settings.incidents, clock)
    scheduler = DeadlineScheduler(desk)
    async with asyncio.TaskGroup() as tg:
        log.start(tg)
        try:
            yield DeskRig(desk, scheduler, clock, log, settings)
        finally:
            await log.aclose()


def replay_incidents(events: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Every incident's row (its ``as_dict()`` form) rebuilt from the log alone, by incident id.

    ``events`` are in the wire form (``Event.as_dict()`` or ``GET /api/events``), in id order.
    Each transition must follow from the state and version before it (asserted here).
    """
    rows: dict[int, dict[str, Any]] = {}
    for ev in events:
        if not ev["subject"].startswith("incident:"):
            continue
        data = ev["data"]
        if ev["type"] == "incident.created":
            rows[data["incident"]["id"]] = dict(data["incident"])
            continue
        row = rows[int(ev["subject"].split(":", 1)[1])]
        if ev["type"] == "incident.folded":
            row.update(count=data["count"], last_seen=data["last_seen"], updated_at=data["last_seen"])
        elif ev["type"] == "incident.escalated":
            if data["level"] != "top":
                row.update(responsible=data["to"], updated_at=data["fired_at"])
        elif "to" in data and "version" in data:
            assert (data["from"], data["version"]) == (row["state"], row["version"] + 1), ev
            row.update(state=data["to"], version=data["version"], updated_at=data["at"])
            if "place" in data:
                row.update(data["place"])
            if "assignee" in data:
                row.update(assignee_person=data["assignee"]["person"], assignee_grid=data["assignee"]["grid"])
            if data["to"] == "resolved":
                row["feedback"] = data["note"]
            elif data["to"] == "merged":
                row["merged_into"] = data["merged_into"]
            elif data["to"] == "closed":
                row["closed_at"] = data["at"]
    return rows
