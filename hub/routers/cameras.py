"""Cameras: state, health figures and snapshots."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import Response

from hub.auth import Principal
from hub.deps import CallerDep, HubDep, camera_elsewhere
from hub.services import Hub

router = APIRouter(prefix="/api/cameras", tags=["cameras"])


def _check_visible(hub: Hub, who: Principal, camera_id: str) -> None:
    cam = hub.directory.cameras.get(camera_id)
    grids = who.visible_grids()
    # A camera outside a worker's grids is reported as absent, not as forbidden.
    if cam is None or (grids is not None and cam.grid not in grids):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no camera {camera_id!r}")


def _with_owner_url(hub: Hub, health: dict[str, Any]) -> dict[str, Any]:
    """Adds ``owner_url``: the public base URL of the node ingesting a ``remote`` camera, else None.

    The wall sends a remote camera's WHEP offer there itself (see :mod:`hub.cors`).
    """
    url = None
    owner = health.get("owner")
    if hub.leases is not None and health.get("state") == "remote" and isinstance(owner, str):
        url = hub.leases.node_urls.get(owner)
    return {**health, "owner_url": url.rstrip("/") if url else None}


@router.get("")
async def list_cameras(hub: HubDep, who: CallerDep) -> list[dict[str, Any]]:
    """Every camera with its state, reason and health figures (``remote`` with its ``owner`` node and
    that node's ``owner_url`` when another hub node ingests it)."""
    if hub.cameras is None:
        return []
    grids = who.visible_grids()
    return [_with_owner_url(hub, h) for h in hub.cameras.health_all() if grids is None or h.get("grid") in grids]


@router.get("/{camera_id}")
async def get_camera(camera_id: str, hub: HubDep, who: CallerDep) -> dict[str, Any]:
    """One camera's state and health figures."""
    _check_visible(hub, who, camera_id)
    if hub.cameras is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no camera {camera_id!r}")
    return _with_owner_url(hub, hub.cameras.health(camera_id))


@router.get("/{camera_id}/snapshot.jpg", response_class=Response)
async def snapshot(camera_id: str, request: Request, hub: HubDep, who: CallerDep) -> Response:
    """The latest picture as JPEG (decoded on demand from the next keyframe if needed).

    With several hub nodes: 307 to the node that ingests the camera, 503 while none does.
    """
    _check_visible(hub, who, camera_id)
    elsewhere = await camera_elsewhere(hub, request, camera_id)
    if elsewhere is not None:
        code, detail, headers = elsewhere
        raise HTTPException(code, detail, headers=headers)
    stream = hub.cameras.get(camera_id) if hub.cameras is not None else None
    if stream is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no camera {camera_id!r}")
    try:
        jpeg: bytes = await stream.snapshot_jpeg()
    except TimeoutError:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the camera has no picture right now") from None
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})
