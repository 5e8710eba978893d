"""The viewing record, for administrators."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from hub.access.audit import QUERY_MAX
from hub.edge.deps import HubDep

router = APIRouter(tags=["audit"])


@router.get("/api/audit")
async def audit(
    hub: HubDep,
    camera: Annotated[str | None, Query(max_length=64, description="Only views of this camera.")] = None,
    user: Annotated[str | None, Query(max_length=64, description="Only what this login watched.")] = None,
    since: Annotated[float | None, Query(ge=0, le=1e11, description="From this Unix time.")] = None,
    until: Annotated[float | None, Query(ge=0, le=1e11, description="Before this Unix time.")] = None,
    limit: Annotated[int, Query(ge=1, le=QUERY_MAX)] = 200,
) -> dict[str, Any]:
    """Who watched which camera (live, or a run of snapshots), when, from which address and for how
    long, and who fetched which evidence file; oldest first. A view with no end was cut off by a
    node that died (or is still going)."""
    records = await hub.viewing.query(camera, user, since, until, limit)
    return {"records": records, "count": len(records)}
