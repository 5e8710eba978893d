"""The caller's own things: saved preferences and where they are."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Path, status

from hub.deps import CallerDep, HubDep
from hub.prefs import PrefsError
from hub.schemas import PositionReport

router = APIRouter(prefix="/api/me", tags=["me"])

PrefKey = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_.-]{0,63}$", description="e.g. `wall.layouts`, `lang`")]


@router.get("/prefs")
async def get_prefs(hub: HubDep, who: CallerDep) -> dict[str, Any]:
    """Every preference the caller saved (wall layouts, patrol tours, language…), by name."""
    return await hub.prefs.all(who.username)


@router.put("/prefs/{key}", status_code=status.HTTP_204_NO_CONTENT)
async def put_pref(key: PrefKey, hub: HubDep, who: CallerDep, value: Annotated[Any, Body()] = None) -> None:
    """Save one preference (any JSON value up to 64 KiB), replacing what was there."""
    try:
        await hub.prefs.save(who.username, key, value)
    except PrefsError as exc:
        raise HTTPException(exc.status, str(exc)) from None


@router.post("/position", status_code=status.HTTP_204_NO_CONTENT)
async def report_position(body: PositionReport, hub: HubDep, who: CallerDep) -> None:
    """Where the caller is now (from the phone's location); the desk's map shows it."""
    person = hub.directory.people.get(who.person)
    grids = list(person.grids) if person else sorted(who.grids)
    await hub.positions.report(who.username, who.person, grids, body.lat, body.lon, body.accuracy_m)
