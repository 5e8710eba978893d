"""Cameras: state, health figures and snapshots."""

from __future__ import annotations

import math
import time
from email.utils import formatdate
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from hub.access.auth import Principal
from hub.edge.deps import CallerDep, HubDep, camera_elsewhere, client_address, may, remote_published
from hub.services import Hub
from streams.media import SNAPSHOT_RETRY_AFTER_S, NoPicture, SnapshotError
from streams.workpool import PoolBusy

router = APIRouter(prefix="/api/cameras", tags=["cameras"])

PICTURE_AGE_HEADER = "X-Picture-Age"
"""Response header of a snapshot: seconds since the hub received the picture."""


def _check_visible(hub: Hub, who: Principal, camera_id: str) -> None:
    cam = hub.directory.cameras.get(camera_id)
    remote = remote_published(hub, camera_id) if cam is None else None
    grid = cam.grid if cam is not None else (remote or {}).get("grid")
    grids = who.visible_grids()
    # A camera outside a worker's grids is reported as absent, not as forbidden.
    if (cam is None and remote is None) or (grids is not None and grid not in grids):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no camera {camera_id!r}")


def _published_elsewhere(hub: Hub) -> dict[str, dict[str, Any]]:
    """Field cameras live on other hub nodes (their registry entries), as ``remote`` cameras here, by id."""
    out: dict[str, dict[str, Any]] = {}
    for node in hub.redis.peers if hub.redis is not None else []:
        url = node.get("url")
        for cam in node.get("published") or []:  # type: ignore[attr-defined]
            if not isinstance(cam, dict) or remote_published(hub, str(cam.get("id"))) is None:
                continue  # live here too: this node's own figures say more
            out[str(cam["id"])] = {
                "id": cam["id"],
                "name": cam.get("name"),
                "grid": cam.get("grid"),
                "source": "whip",
                "state": "remote",
                "reason": f"published to hub node {node.get('node')}",
                "owner": node.get("node"),
                "owner_url": str(url).rstrip("/") if url else None,
                "location": cam.get("location"),
                "property": None,
                "zones": [],
                "ptz": False,
            }
    return out


def _with_owner_url(hub: Hub, health: dict[str, Any]) -> dict[str, Any]:
    """Adds ``owner_url``: the public base URL of the node ingesting a ``remote`` camera, else None;
    and from the config, where the camera stands (``property``, ``location``) and its ``zones``
    (id, kind and polygon in 0..1 picture coordinates, for drawing them over the picture).

    The wall sends a remote camera's WHEP offer there itself (see :mod:`hub.edge.cors`).
    """
    url = None
    owner = health.get("owner")
    if hub.leases is not None and health.get("state") == "remote" and isinstance(owner, str):
        url = hub.leases.node_urls.get(owner)
    cfg = hub.directory.cameras.get(str(health.get("id")))
    placed: dict[str, Any] = {"property": None, "location": None, "zones": []}
    if cfg is not None:
        placed = {
            "property": cfg.property,
            "location": cfg.location.model_dump() if cfg.location else None,
            "zones": [{"id": z.id, "kind": z.kind, "polygon": [list(p) for p in z.polygon]} for z in cfg.zones],
        }
    return {**health, **placed, "owner_url": url.rstrip("/") if url else None}


PTZ_ROUTE = ("POST", "/api/cameras/{camera_id}/ptz")


def _for_caller(hub: Hub, who: Principal, health: dict[str, Any]) -> dict[str, Any]:
    """:func:`_with_owner_url`, and ``ptz``: whether the camera can be turned and ``who`` may turn it
    (``POST /api/cameras/{id}/ptz``), so a page shows PTZ controls only where they work."""
    ptz = hub.gb is not None and health.get("id") in hub.gb.ptz and may(who, *PTZ_ROUTE)
    return {**_with_owner_url(hub, health), "ptz": ptz}


@router.get("")
async def list_cameras(hub: HubDep, who: CallerDep) -> list[dict[str, Any]]:
    """Every camera with its state, reason and health figures (``remote`` with its ``owner`` node and
    that node's ``owner_url`` when another hub node ingests it; ``ptz`` true when the caller may
    turn it)."""
    grids = who.visible_grids()
    # A field camera listed offline here (its publisher left) shows where it is live now, if anywhere.
    elsewhere = _published_elsewhere(hub)
    here = hub.cameras.health_all() if hub.cameras is not None else []
    listed = [elsewhere.pop(h["id"]) if h["id"] in elsewhere else _for_caller(hub, who, h) for h in here]
    listed += elsewhere.values()
    return [c for c in listed if grids is None or c.get("grid") in grids]


@router.get("/{camera_id}")
async def get_camera(camera_id: str, hub: HubDep, who: CallerDep) -> dict[str, Any]:
    """One camera's state and health figures."""
    _check_visible(hub, who, camera_id)
    if hub.cameras is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no camera {camera_id!r}")
    return _for_caller(hub, who, hub.cameras.health(camera_id))


@router.get("/{camera_id}/snapshot.jpg", response_class=Response)
async def snapshot(
    camera_id: str,
    request: Request,
    hub: HubDep,
    who: CallerDep,
    width: Annotated[
        int | None,
        Query(ge=16, le=8192, description="Scale down to about this width (a wall tile's); never up."),
    ] = None,
) -> Response:
    """The camera's current picture as JPEG (decoded on demand from the next keyframe if needed),
    with its age in seconds in ``X-Picture-Age``.

    503 with ``Retry-After`` while the camera is offline, stalled or has no picture yet (at once
    for a camera known to be offline); 404 for a disabled camera. With several hub nodes: 307 to
    the node that ingests the camera, 503 while none does.
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
        shot = await stream.snapshot(width=width)
    except NoPicture as exc:
        if exc.retry_after_s is None:  # disabled: asking again will not help
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
        retry = str(math.ceil(exc.retry_after_s))
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc), headers={"Retry-After": retry}) from None
    except PoolBusy:
        detail = f"camera {camera_id}: too many snapshots being made right now; ask again shortly"
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail, headers={"Retry-After": "1"}) from None
    except SnapshotError as exc:  # a picture came but could not be decoded or encoded
        retry = str(SNAPSHOT_RETRY_AFTER_S)
        detail = f"camera {camera_id} has no usable picture right now: {exc}"
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail, headers={"Retry-After": retry}) from None
    await hub.viewing.snapshot(who.username, camera_id, client_address(request))
    age_s = max(0.0, time.time() - shot.ts)
    headers = {
        "Cache-Control": "no-store",
        PICTURE_AGE_HEADER: f"{age_s:.1f}",
        "Last-Modified": formatdate(shot.ts, usegmt=True),
    }
    return Response(shot.jpeg, media_type="image/jpeg", headers=headers)


class PtzRequest(BaseModel):
    """A PTZ move (speeds -1..1; all zero stops) or a preset."""

    model_config = ConfigDict(extra="forbid")
    pan: float = Field(0.0, ge=-1, le=1, description="Pan speed, + right.")
    tilt: float = Field(0.0, ge=-1, le=1, description="Tilt speed, + up.")
    zoom: float = Field(0.0, ge=-1, le=1, description="Zoom speed, + in.")
    preset: int | None = Field(None, ge=1, le=255, description="A preset number instead of a move.")
    action: Literal["goto", "set"] = Field("goto", description="With preset: go there, or store the view there.")


@router.post("/{camera_id}/ptz", status_code=status.HTTP_202_ACCEPTED)
async def ptz(camera_id: str, body: PtzRequest, hub: HubDep, who: CallerDep) -> dict[str, Any]:
    """Move a GB/T 28181 camera (stopped by the hub after ``gb28181.ptz_timeout_s`` unless renewed),
    or go to / store a preset. 409 for a camera without PTZ control, 503 when its device is offline."""
    _check_visible(hub, who, camera_id)
    gb = hub.gb
    if gb is None or camera_id not in gb.channels:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"camera {camera_id} has no PTZ control (GB/T 28181 channels have)"
        )
    if camera_id not in gb.ptz:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"camera {camera_id} cannot be turned (its catalogue says a fixed camera)"
        )
    from streams.gb28181.ptz import PtzMove
    from streams.packets import SourceError

    try:
        if body.preset is not None:
            command = await gb.preset(camera_id, body.preset, body.action)
            return {"command": command, "stops_after_s": None}
        move = PtzMove(body.pan, body.tilt, body.zoom)
        command = await gb.move(camera_id, move)
    except SourceError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, exc.reason) from None
    return {"command": command, "stops_after_s": None if move.is_stop else gb.config.ptz_timeout_s}
