"""The incident desk over HTTP: list, open, fetch with history, move, evidence."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, File, HTTPException, Query, Request, UploadFile, status
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy.engine import Connection

from hub.access.auth import Principal
from hub.config import Settings
from hub.edge import evidence as files
from hub.edge.deps import CallerDep, HubDep, client_address
from hub.edge.uploads import FORM_OVERHEAD_BYTES, F, upload_route
from hub.incidents.desk import Assignee, IncidentDesk
from hub.incidents.errors import NotFound
from hub.incidents.model import Incident, IncidentFilters, Severity, Source, State
from hub.incidents.schemas import IncidentIn, IncidentOut, TransitionIn
from hub.incidents.tables import deadlines_table
from hub.schemas import ROW_ID_MAX, Cursor, RowId
from hub.services import Hub
from hub.store.idempotency import photo_digest

router = APIRouter(prefix="/api/incidents", tags=["incidents"])

MAX_PHOTOS = 5
"""Photos one request may carry."""

EVIDENCE_PAGE = 50
"""Evidence items ``GET /api/incidents/{id}`` returns unless asked for another page size."""

EVIDENCE_PAGE_MAX = 500
"""Most evidence items one ``GET /api/incidents/{id}`` returns."""
HISTORY_PAGE = 200
"""History events ``GET /api/incidents/{id}`` returns unless asked for another page size."""
HISTORY_PAGE_MAX = 1000
"""Most history events one ``GET /api/incidents/{id}`` returns."""

CLIP_WRITE_GRACE_S = 60.0
"""After an alert's post-roll, how long its clip may still be being written (remuxed)."""


def photo_limit(settings: Settings) -> tuple[int, str]:
    """The largest request a route taking up to :data:`MAX_PHOTOS` photos accepts (see :mod:`hub.edge.uploads`)."""
    most = settings.incidents.photo_max_bytes
    return MAX_PHOTOS * most + FORM_OVERHEAD_BYTES, f"up to {MAX_PHOTOS} photos of at most {most} bytes each"


def photo_upload(target: APIRouter, path: str, **kwargs: Any) -> Callable[[F], F]:
    """Like ``@target.post(path, …)`` for a route taking photos: oversized requests are refused unread."""
    return upload_route(target, path, photo_limit, **kwargs)


async def visible(desk: IncidentDesk, incident_id: int, who: Principal) -> Incident:
    """The incident if the caller may see it; 404 otherwise (no hint that it exists)."""
    inc = await desk.get(incident_id)
    if not desk.can_see(inc, who):
        raise NotFound(f"no incident {incident_id}")
    return inc


async def _deadlines(desk: IncidentDesk, incident_id: int) -> list[dict[str, Any]]:
    d = deadlines_table

    def _read(conn: Connection) -> Any:
        rows = (conn.execute(sa.select(d).where(d.c.incident_id == incident_id).order_by(d.c.id))).all()
        return rows

    rows = await desk.log.query(_read)
    return [dict(r._mapping) for r in rows]


SourceQuery = Annotated[list[Source] | None, Query(description="Entrances: camera, worker, resident, manual.")]
CategoryQuery = Annotated[list[str] | None, Query(max_length=64, description="Exact categories.")]
NodeQuery = Annotated[str | None, Query(max_length=64, description="Incidents at or below this node.")]
SinceQuery = Annotated[float | None, Query(description="Opened at or after (Unix seconds).")]
UntilQuery = Annotated[float | None, Query(description="Opened before (Unix seconds).")]
TextQuery = Annotated[str | None, Query(max_length=200, description="Text in title, description or category.")]


def _check_node(hub: Hub, node: str | None) -> None:
    if node is not None and node not in hub.directory.nodes:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"node {node!r} does not exist")


def incident_filters(
    hub: HubDep,
    who: CallerDep,
    severity: Annotated[list[Severity] | None, Query()] = None,
    source: SourceQuery = None,
    category: CategoryQuery = None,
    node: NodeQuery = None,
    since_ts: SinceQuery = None,
    until_ts: UntilQuery = None,
    q: TextQuery = None,
) -> IncidentFilters:
    """The filters the incident list and its counts share, narrowed to what the caller may see."""
    _check_node(hub, node)
    return IncidentFilters(
        severities=[s.value for s in severity or []],
        sources=[s.value for s in source or []],
        categories=category,
        node=node,
        since_ts=since_ts,
        until_ts=until_ts,
        text=q,
        grids=who.visible_grids(),
        person=who.person,
        username=who.username,
    )


FiltersDep = Annotated[IncidentFilters, Depends(incident_filters)]


@router.get("")
async def list_incidents(
    hub: HubDep,
    filters: FiltersDep,
    state: Annotated[list[State] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Cursor = 0,
) -> list[dict[str, Any]]:
    """Incidents matching the filters, newest first (a worker: their grids and their own)."""
    filters["states"] = [s.value for s in state or []]
    found = await hub.desk.find(limit=limit, offset=offset, **filters)
    return [i.as_dict() for i in found]


@router.get("/counts")
async def count_incidents(hub: HubDep, filters: FiltersDep) -> dict[str, int]:
    """How many incidents are in each state (every state named, 0 included), under the same
    filters as the list: what the desk shows on its state tabs."""
    return await hub.desk.count_by_state(**filters)


@router.post("", status_code=status.HTTP_201_CREATED)
async def open_incident(body: IncidentIn, hub: HubDep, who: CallerDep) -> IncidentOut:
    """Open an incident by hand (the command center's own entrance)."""
    inc, _ = await hub.desk.create(
        category=body.category,
        severity=body.severity,
        title=body.title,
        description=body.description,
        source=Source.MANUAL,
        actor=who.username,
        node=body.node,
        lat=body.lat,
        lon=body.lon,
    )
    return IncidentOut(incident=inc.as_dict(), allowed=hub.desk.allowed_for(inc, who))


@router.get("/{incident_id}")
async def get_incident(
    incident_id: RowId,
    hub: HubDep,
    who: CallerDep,
    evidence_limit: Annotated[
        int, Query(ge=1, le=EVIDENCE_PAGE_MAX, description="Evidence items to return (the newest).")
    ] = EVIDENCE_PAGE,
    evidence_before: Annotated[
        int | None, Query(ge=1, le=ROW_ID_MAX, description="Only evidence with a smaller id: the previous page.")
    ] = None,
    history_limit: Annotated[
        int, Query(ge=1, le=HISTORY_PAGE_MAX, description="History events to return (the newest).")
    ] = HISTORY_PAGE,
    history_before: Annotated[
        int | None, Query(ge=1, le=ROW_ID_MAX, description="Only history events with a smaller id: the previous page.")
    ] = None,
) -> IncidentOut:
    """One incident with its history (from the log), evidence, deadlines and the caller's next steps.

    Evidence and history are paged (an alert storm links a snapshot and a clip per alert, and
    each folded alert is an event): the newest ``evidence_limit`` / ``history_limit`` items,
    oldest first; pass the first one's id as ``evidence_before`` / ``history_before`` for the
    page before. A page shorter than asked for is the first.
    """
    inc = await visible(hub.desk, incident_id, who)
    history = [e.as_dict() for e in await hub.desk.history(incident_id, history_limit, history_before)]
    return IncidentOut(
        incident=inc.as_dict(),
        allowed=hub.desk.allowed_for(inc, who),
        evidence=await hub.desk.evidence(incident_id, evidence_limit, evidence_before),
        history=history,
        deadlines=await _deadlines(hub.desk, incident_id),
    )


@router.post("/{incident_id}/transitions", response_model=IncidentOut)
async def transition(
    incident_id: RowId, body: TransitionIn, request: Request, hub: HubDep, who: CallerDep
) -> JSONResponse:
    """Move the incident; 409 lists what is allowed (or gives the current version).

    With an ``Idempotency-Key`` header, a repeat answers what the first answered, without moving again."""
    assignee = Assignee(body.assignee.person, body.assignee.grid) if body.assignee else None

    async def work() -> tuple[int, IncidentOut]:
        inc, _ = await hub.desk.transition(
            incident_id,
            body.to,
            body.version,
            who,
            note=body.note,
            assignee=assignee,
            merge_into=body.merge_into,
            node=body.node,
        )
        return 200, IncidentOut(incident=inc.as_dict(), allowed=hub.desk.allowed_for(inc, who))

    async def recover(subject: str, first: dict[str, Any]) -> tuple[int, IncidentOut]:
        inc = await visible(hub.desk, incident_id, who)
        return 200, IncidentOut(incident=inc.as_dict(), allowed=hub.desk.allowed_for(inc, who))

    return await hub.idempotency.run(request, who.username, body.model_dump(mode="json"), work, recover)


@router.get("/{incident_id}/suggestions")
async def suggestions(incident_id: RowId, hub: HubDep, who: CallerDep) -> list[dict[str, Any]]:
    """Whom to send: on-duty workers of its grid, then of neighbouring grids of the same community."""
    return hub.desk.suggestions(await visible(hub.desk, incident_id, who))


@photo_upload(router, "/{incident_id}/evidence", status_code=status.HTTP_201_CREATED)
async def add_photos(
    incident_id: RowId, request: Request, hub: HubDep, who: CallerDep, photos: Annotated[list[UploadFile], File()]
) -> JSONResponse:
    """Attach up to 5 photos (JPEG, PNG or WebP) to an incident the caller may see.

    With an ``Idempotency-Key`` header, a repeat answers what the first answered, without linking again."""
    inc = await visible(hub.desk, incident_id, who)
    if len(photos) > MAX_PHOTOS:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"at most {MAX_PHOTOS} photos at a time")
    checked = await check_photos(hub, photos)

    async def work() -> tuple[int, list[dict[str, Any]]]:
        return 201, await link_photos(hub, inc, checked, who.username)

    async def recover(subject: str, first: dict[str, Any]) -> tuple[int, list[dict[str, Any]]]:
        since = int(first.get("evidence") or 0)
        return 201, await finish_photos(hub, inc, checked, who.username, since)

    digests = [photo_digest(data) for data, _, _ in checked]
    return await hub.idempotency.run(request, who.username, {"photos": digests}, work, recover)


Photo = tuple[bytes, str, str]
"""A checked photo: its bytes, content type and file extension."""


async def check_photos(hub: Any, photos: list[UploadFile]) -> list[Photo]:
    """Read and check every photo (a refused one refuses them all, before anything is written)."""
    limit = hub.settings.incidents.photo_max_bytes
    return [await files.read_photo(p, limit) for p in photos]


async def link_photos(hub: Any, inc: Incident, checked: list[Photo], actor: str) -> list[dict[str, Any]]:
    """Save checked photos and link each to the incident (an event each)."""
    out = []
    for data, ctype, ext in checked:
        stored = await files.save(hub.settings.data_dir, inc.id, data, ctype, ext)
        ev = await hub.desk.add_evidence(
            inc.id, "photo", actor, path=stored.relpath, content_type=ctype, size=stored.size, grid=inc.grid
        )
        out.append(ev.data)
    return out


async def finish_photos(hub: Any, inc: Incident, checked: list[Photo], actor: str, since: int) -> list[dict[str, Any]]:
    """After a crash part way through linking ``checked`` (the first linked as evidence ``since``):
    link the rest, in order; every one's evidence, as :func:`link_photos` answers."""
    items = [
        e
        for e in await hub.desk.evidence(inc.id)
        if e["kind"] == "photo" and e["added_by"] == actor and e["id"] >= since
    ][: len(checked)]
    done = [
        {"evidence": e["id"], "kind": "photo", "content_type": e["content_type"], "size": e["size"], "ref": e["ref"]}
        for e in items
    ]
    return done + await link_photos(hub, inc, checked[len(done) :], actor)


@router.get("/{incident_id}/evidence/{evidence_id}", response_class=FileResponse)
async def get_evidence(
    incident_id: RowId, evidence_id: RowId, request: Request, hub: HubDep, who: CallerDep
) -> FileResponse:
    """An evidence file, only to those who may see the incident.

    404 when there is no such evidence, when its file is missing, or — with ``Retry-After`` —
    when it is an alert clip still being recorded (linked at the alert's start, written after
    its post-roll).
    """
    inc = await visible(hub.desk, incident_id, who)
    item = await hub.desk.evidence_item(incident_id, evidence_id)
    if item is None or not item["path"]:
        raise NotFound(f"no evidence {evidence_id} on incident {incident_id}")
    path = (Path(hub.settings.data_dir) / item["path"]).resolve()
    if not await asyncio.to_thread(path.is_file):
        now = hub.desk.clock.now()
        if item["kind"] == "clip":
            cam = hub.directory.cameras.get(inc.camera or "")
            recorded_at = float(item["added_at"]) + (float(cam.postroll_s) if cam is not None else 0.0)
            if now < recorded_at + CLIP_WRITE_GRACE_S:
                raise HTTPException(
                    status.HTTP_404_NOT_FOUND,
                    f"evidence {evidence_id}: clip not written yet; try again shortly",
                    headers={"Retry-After": str(max(1, math.ceil(recorded_at - now)))},
                )
        raise NotFound(f"evidence {evidence_id}: its file is missing")
    what = {"incident": incident_id, "evidence": evidence_id, "kind": item["kind"]}
    await hub.viewing.downloaded(who.username, inc.camera, client_address(request), what)
    return files.serve_file(path, item["content_type"], f"incident-{incident_id}-{item['kind']}-{evidence_id}")
