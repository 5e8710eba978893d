"""The district tree and its people."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, status

from hub.access.auth import Principal
from hub.edge.deps import CallerDep, HubDep
from hub.people.directory import Directory, UnknownNode

router = APIRouter(prefix="/api/directory", tags=["directory"])


def _visible_node(d: Directory, who: Principal, node_id: str) -> None:
    try:
        d.node(node_id)
    except UnknownNode:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no node {node_id!r}") from None
    grids = who.visible_grids()
    if grids is not None and not (d.grids_under(node_id) & grids):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this node is outside your grids")


@router.get("")
async def directory(hub: HubDep, who: CallerDep) -> dict[str, Any]:
    """The tree, people and camera placements (a worker sees only their grids)."""
    d = hub.directory
    grids = who.visible_grids()
    people = [p.as_dict() for p in d.people.values() if grids is None or grids.intersection(p.grids)]
    cameras = [
        {"id": c.id, "name": c.name or c.id, "grid": c.grid, "property": c.property}
        for c in d.cameras.values()
        if grids is None or c.grid in grids
    ]
    return {"tree": d.tree(grids), "people": people, "cameras": cameras}


@router.get("/nodes/{node_id}/members")
async def members(node_id: str, hub: HubDep, who: CallerDep, on_duty: bool = False) -> list[dict[str, Any]]:
    """People serving the node or any node below it, and the leaders there (a worker: only the
    people of their own grids, as in ``GET /api/directory``, whichever node they ask about)."""
    _visible_node(hub.directory, who, node_id)
    grids = who.visible_grids()
    return [
        p.as_dict()
        for p in hub.directory.members(node_id, on_duty_only=on_duty)
        if grids is None or grids.intersection(p.grids)
    ]


@router.get("/nodes/{node_id}/leaders")
async def leaders(node_id: str, hub: HubDep, who: CallerDep) -> list[dict[str, Any]]:
    """The chain of leaders from this node up to the district."""
    _visible_node(hub.directory, who, node_id)
    return hub.directory.leaders_up(node_id)


@router.get("/nodes/{node_id}/cameras")
async def cameras(node_id: str, hub: HubDep, who: CallerDep) -> list[dict[str, Any]]:
    """Cameras placed at or below the node."""
    _visible_node(hub.directory, who, node_id)
    grids = who.visible_grids()
    return [
        {"id": c.id, "name": c.name or c.id, "grid": c.grid}
        for c in hub.directory.cameras_under(node_id)
        if grids is None or c.grid in grids
    ]
