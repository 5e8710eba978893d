"""The district map: the tree's outlines, cameras and people in the field, as GeoJSON."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from hub.access.auth import Principal
from hub.edge.deps import CallerDep, HubDep
from hub.people.directory import Directory
from hub.services import Hub

router = APIRouter(prefix="/api/map", tags=["map"])


def _ring(area: list[tuple[float, float]]) -> list[list[float]]:
    """A closed GeoJSON ring."""
    ring = [[lon, lat] for lon, lat in area]
    return ring if ring[0] == ring[-1] else [*ring, ring[0]]


def _centre(area: list[tuple[float, float]]) -> tuple[float, float]:
    """The middle of an outline's points (lon, lat): where to put a camera placed only by area."""
    if len(area) > 3 and area[0] == area[-1]:  # a closed ring: count its first point once
        area = area[:-1]
    return sum(p[0] for p in area) / len(area), sum(p[1] for p in area) / len(area)


def _camera_area(d: Directory, property: str | None, grid: str | None) -> list[tuple[float, float]] | None:
    """The outline of a camera's property, else of its grid; a wider area would put it somewhere
    wrong on the map, so a camera with neither is left off."""
    for node_id in (property, grid):
        node = d.nodes.get(node_id) if node_id else None
        if node is not None and node.area:
            return node.area
    return None


def _visible_nodes(d: Directory, who: Principal) -> set[str] | None:
    grids = who.visible_grids()
    if grids is None:
        return None
    keep: set[str] = set()
    for g in grids:
        if g in d.nodes:
            keep.update(d.path(g))
            keep.update(d.subtree(g))
    return keep


async def _people(hub: Hub, grids: frozenset[str] | None) -> list[dict[str, Any]]:
    d = hub.directory
    on_duty = {p.id for p in d.people.values() if p.on_duty and (grids is None or grids.intersection(p.grids))}
    found = []
    for pos in await hub.positions.last(on_duty):
        person = d.people[pos.person]
        found.append({**pos.as_dict(), "name": person.name, "grids": list(person.grids)})
    return found


@router.get("")
async def district_map(hub: HubDep, who: CallerDep) -> dict[str, Any]:
    """Everything the desk's map draws, for what the caller may see.

    ``nodes``: a GeoJSON FeatureCollection of the tree's outlines (``area`` in the config), each with
    its ``id``, ``name``, ``level`` and ``parent``. ``cameras``: one Point per camera, at its
    ``location`` or else the middle of its property's or grid's outline (``placed``: ``"exact"`` or
    ``"area"``; cameras with neither are left out, not guessed at a street's middle). ``people``:
    the last known position of each on-duty person (``POST /api/me/position``). ``tiles``: the
    district's own tile server, if any.
    """
    d = hub.directory
    keep = _visible_nodes(d, who)
    grids = who.visible_grids()
    nodes = [
        {
            "type": "Feature",
            "id": n.id,
            "geometry": {"type": "Polygon", "coordinates": [_ring(n.area)]},
            "properties": {"id": n.id, "name": n.name, "level": n.level, "parent": n.parent},
        }
        for n in d.nodes.values()
        if n.area and (keep is None or n.id in keep)
    ]
    cameras = []
    for cam in d.cameras.values():
        if grids is not None and cam.grid not in grids:
            continue
        if cam.location is not None:
            lon, lat, placed = cam.location.lon, cam.location.lat, "exact"
        else:
            area = _camera_area(d, cam.property, cam.grid)
            if area is None:
                continue
            (lon, lat), placed = _centre(area), "area"
        cameras.append(
            {
                "type": "Feature",
                "id": cam.id,
                "geometry": {"type": "Point", "coordinates": [lon, lat]},
                "properties": {
                    "id": cam.id,
                    "name": cam.name or cam.id,
                    "grid": cam.grid,
                    "property": cam.property,
                    "placed": placed,
                },
            }
        )
    m = hub.settings.map
    return {
        "tiles": {"url": m.tile_url, "attribution": m.attribution, "max_zoom": m.max_zoom} if m.tile_url else None,
        "max_zoom": m.max_zoom,
        "nodes": {"type": "FeatureCollection", "features": nodes},
        "cameras": {"type": "FeatureCollection", "features": cameras},
        "people": await _people(hub, grids),
    }
