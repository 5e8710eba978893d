"""The caller's own things: saved preferences, where they are and their on-duty track."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Path, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from hub.edge.deps import CallerDep, HubDep
from hub.people.positions import TrackPoint, outside_district
from hub.people.prefs import PrefsError
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


LATE_MAX_S = 86_400.0
"""Oldest point a phone may still send (its outbox after a long dead spot)."""
AHEAD_MAX_S = 300.0
"""How far ahead of the hub's clock a phone's clock may run."""


class LocationIn(BaseModel):
    """``POST /api/me/location``: one point of the on-duty track."""

    model_config = ConfigDict(extra="forbid")
    lat: float = Field(ge=-90, le=90, description="Latitude, degrees north (WGS 84).")
    lon: float = Field(ge=-180, le=180, description="Longitude, degrees east (WGS 84).")
    accuracy: float | None = Field(None, ge=0, le=100_000, description="The phone's estimate of its error, metres.")
    time: float | None = Field(
        None,
        gt=0,
        description="When the phone took it, Unix seconds (default: now); a point from the outbox keeps its own.",
    )


@router.post("/location", status_code=status.HTTP_201_CREATED)
async def report_location(body: LocationIn, request: Request, hub: HubDep, who: CallerDep) -> JSONResponse:
    """While on duty: one point of the caller's track (kept ``field.track_retention_days``), and their
    current position on the desk's map unless a newer point is known. Off duty: 409, nothing kept.
    A point outside the district is kept with ``outside: true``. Takes an ``Idempotency-Key``."""
    person = hub.directory.people.get(who.person)
    if person is None:
        raise HTTPException(status.HTTP_409_CONFLICT, "you are no person of the directory: no location is kept")
    if not person.on_duty:
        raise HTTPException(status.HTTP_409_CONFLICT, "you are off duty: no location is kept")
    now = time.time()
    at = now if body.time is None else body.time
    if at > now + AHEAD_MAX_S:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "time is in the future; check the phone's clock")
    if at < now - min(LATE_MAX_S, hub.settings.field.track_retention_days * 86_400):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "time is too old to join the track")
    point = TrackPoint(body.lat, body.lon, body.accuracy, at, outside_district(hub.directory, body.lon, body.lat))

    async def work() -> tuple[int, dict[str, Any]]:
        await hub.positions.record(who.username, person.id, list(person.grids), point)
        return 201, {"person": person.id, **point.as_dict()}

    async def recover(subject: str, first: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        keys = ("lat", "lon", "accuracy_m", "at", "outside")
        return 201, {"person": person.id, **{k: first.get(k) for k in keys}}

    return await hub.idempotency.run(request, who.username, body.model_dump(mode="json"), work, recover)
