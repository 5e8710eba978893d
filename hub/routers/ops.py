"""Health and metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from hub.deps import HubDep
from hub.metrics import render

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz(hub: HubDep) -> dict[str, object]:
    """Liveness: the hub answers and its log accepts appends."""
    return {"status": "ok", "last_event_id": hub.log.last_id, "closing": hub.closing.is_set()}


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Prometheus text exposition."""
    return Response(render(request.app.state.registry), media_type="text/plain; version=0.0.4; charset=utf-8")
