"""A real incident desk on a temporary SQLite log, with a manual clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from alerts.clock import ManualClock
from alerts.deadlines import DeadlineScheduler
from alerts.incidents import IncidentDesk
from hub.auth import Principal
from hub.bus import EventBus
from hub.config import Role, Settings
from hub.directory import Directory
from hub.eventlog import EventLog
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


@asynccontextmanager
async def desk_rig(tmp: Path, **overrides: object) -> AsyncIterator[DeskRig]:
    """Open a log and a desk; close them at the end (bounded)."""
    settings = make_settings(tmp, **overrides)
    log = EventLog(f"sqlite:///{tmp / 'desk.db'}", EventBus())
    await log.open()
    clock = ManualClock()
    desk = IncidentDesk(log, Directory(settings), settings.incidents, clock)
    scheduler = DeadlineScheduler(desk)
    async with asyncio.TaskGroup() as tg:
        log.start(tg)
        try:
            yield DeskRig(desk, scheduler, clock, log, settings)
        finally:
            await log.aclose()
