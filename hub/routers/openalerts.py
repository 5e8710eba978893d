"""Alerts as they stand now (their history is the event log)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from hub.edge.deps import CallerDep, HubDep

router = APIRouter(prefix="/api/alerts", tags=["alerts"])


@router.get("/open")
async def open_alerts(hub: HubDep, who: CallerDep) -> list[dict[str, Any]]:
    """The alerts open now, oldest first: camera, kind, zone, score, ``alert_id``, snapshot and clip
    as their events gave them, and ``started_at``. A page that opens mid-alert starts here, then
    follows ``alert.*`` on the live feed (a worker: their grids' cameras only)."""
    return await hub.open_alerts.list(who.visible_grids())
