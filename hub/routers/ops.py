"""Health and metrics."""

from __future__ import annotations

import hmac
import os
import socket
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from hub.access.auth import AuthError
from hub.access.policy import STAFF
from hub.edge.deps import HubDep
from hub.edge.metrics import render

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz(hub: HubDep) -> dict[str, object]:
    """Liveness: the hub answers and its log accepts appends."""
    return {"status": "ok", "last_event_id": hub.log.last_id, "closing": hub.closing.is_set()}


@router.get("/readyz", responses={503: {"description": "Not ready, with the reason"}})
async def readyz(hub: HubDep) -> Response:
    """Readiness, for a load balancer: 200 once every service has started and the store answers;
    503 with the reason while starting, shutting down, or cut off from the store. (``/healthz``
    says only that the process answers.)"""
    reason = await hub.readiness()
    node = hub.redis.node if hub.redis is not None else "local"
    if reason is None:
        return JSONResponse({"status": "ready", "node": node})
    return JSONResponse(
        {"status": "not ready", "node": node, "reason": reason},
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": "1"},
    )


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


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(request: Request, hub: HubDep) -> Response:
    """Prometheus text exposition: for staff, or for a scraper sending the token named by
    ``server.metrics_token_env`` (it tells which cameras are offline: not for everyone)."""
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else ""
    challenge = {"WWW-Authenticate": "Bearer"}
    if not token:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "login required", headers=challenge)
    env = hub.settings.server.metrics_token_env
    expected = os.environ.get(env, "") if env else ""
    if not (expected and hmac.compare_digest(expected.encode(), token.encode())):
        try:
            who = hub.auth.verify(token)
        except AuthError as exc:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc), headers=challenge) from None
        if not who.roles & STAFF:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "your role may not read the metrics")
    return Response(render(request.app.state.registry), media_type="text/plain; version=0.0.4; charset=utf-8")
