"""Health and metrics."""

from __future__ import annotations

import os
import socket
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import Response

from hub.deps import HubDep
from hub.metrics import render

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz(hub: HubDep) -> dict[str, object]:
    """Liveness: the hub answers and its log accepts appends."""
    return {"status": "ok", "last_event_id": hub.log.last_id, "closing": hub.closing.is_set()}


@router.get("/api/nodes")
async def nodes(hub: HubDep) -> dict[str, Any]:
    """The hub nodes sharing this log, with how far each has delivered it (``lag`` = head - last_id)."""
    head = await hub.log.head()
    if hub.redis is None:
        me: dict[str, Any] = {"node": "local", "host": socket.gethostname(), "pid": os.getpid()}
        listed = [{**me, "last_id": hub.log.last_id}]
        this = "local"
    else:
        try:
            listed = await hub.redis.nodes()
        except Exception as exc:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE, f"the node registry (Redis) cannot answer: {type(exc).__name__}"
            ) from None
        this = hub.redis.node
    for n in listed:
        n["lag"] = max(0, head - int(n.get("last_id") or 0))
    return {"this": this, "head_id": head, "nodes": listed}


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Prometheus text exposition."""
    return Response(render(request.app.state.registry), media_type="text/plain; version=0.0.4; charset=utf-8")
