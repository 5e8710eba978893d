"""Reports from the field (grid workers) and from residents (public, no login)."""

from __future__ import annotations

import asyncio
import shutil
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile, status
from fastapi.responses import JSONResponse

from hub.edge import evidence as files
from hub.edge.deps import CallerDep, HubDep
from hub.incidents.model import Severity, Source, State
from hub.routers.incidents import MAX_PHOTOS, check_photos, finish_photos, link_photos, photo_upload
from hub.schemas import NoNul
from hub.store.idempotency import photo_digest

router = APIRouter(tags=["reports"])

PUBLIC_MAX_BODY = 6 * 1024 * 1024
"""Whole request of a resident's report: one photo and some text."""

PUBLIC_STATES = {
    State.NEW: "received",
    State.VERIFIED: "accepted",
    State.ASSIGNED: "in progress",
    State.ACKNOWLEDGED: "in progress",
    State.ON_SITE: "in progress",
    State.REOPENED: "in progress",
    State.RESOLVED: "resolved",
    State.CLOSED: "closed",
    State.DISMISSED: "not taken up",
    State.MERGED: "in progress",
}
"""What a resident is told about their case (no names, no internal steps). A merged report is told
the status of the incident it was merged into (``merged`` itself shows only if that is missing)."""


@photo_upload(router, "/api/reports", status_code=status.HTTP_201_CREATED)
async def worker_report(
    request: Request,
    hub: HubDep,
    who: CallerDep,
    text: Annotated[str, Form(min_length=1, max_length=4000), NoNul],
    category: Annotated[str, Form(min_length=1, max_length=64), NoNul],
    node: Annotated[str | None, Form(max_length=64, description="Where (default: your first grid)."), NoNul] = None,
    lat: Annotated[float | None, Form(ge=-90, le=90)] = None,
    lon: Annotated[float | None, Form(ge=-180, le=180)] = None,
    severity: Annotated[Severity, Form()] = Severity.P3,
    photos: Annotated[list[UploadFile] | None, File(description="Up to 5 photos.")] = None,
) -> JSONResponse:
    """A grid worker reports a problem found on patrol: it opens a verified incident.

    With an ``Idempotency-Key`` header (a phone's outbox), a repeat answers what the first answered
    and opens nothing; after a crash between opening and answering, the repeat links the photos
    that were not linked yet."""
    photos = photos or []
    if len(photos) > MAX_PHOTOS:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"at most {MAX_PHOTOS} photos")
    place = node or (sorted(who.grids)[0] if who.grids else None)
    checked = await check_photos(hub, photos)  # refuse before opening anything

    async def work() -> tuple[int, dict[str, Any]]:
        inc, _ = await hub.desk.create(
            category=category,
            severity=severity,
            title=text.splitlines()[0][:200],
            description=text,
            source=Source.WORKER,
            actor=who.username,
            node=place,
            lat=lat,
            lon=lon,
            initial=State.VERIFIED,
        )
        added = await link_photos(hub, inc, checked, who.username)
        return 201, {"incident": inc.as_dict(), "photos": added}

    async def recover(subject: str, first: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        inc = await hub.desk.get(int(subject.split(":", 1)[1]))
        added = await finish_photos(hub, inc, checked, who.username, 0)
        return 201, {"incident": inc.as_dict(), "photos": added}

    fields = {
        "text": text,
        "category": category,
        "node": node,
        "lat": lat,
        "lon": lon,
        "severity": severity.value,
        "photos": [photo_digest(data) for data, _, _ in checked],
    }
    return await hub.idempotency.run(request, who.username, fields, work, recover)


@router.post("/api/public/reports", status_code=status.HTTP_201_CREATED, max_body_size=PUBLIC_MAX_BODY)
async def public_report(
    request: Request,
    hub: HubDep,
    text: Annotated[str, Form(min_length=1), NoNul],
    category: Annotated[str, Form(min_length=1, max_length=64), NoNul] = "resident_report",
    location: Annotated[str, Form(max_length=200, description="Where, in words."), NoNul] = "",
    node: Annotated[str | None, Form(max_length=64), NoNul] = None,
    lat: Annotated[float | None, Form(ge=-90, le=90)] = None,
    lon: Annotated[float | None, Form(ge=-180, le=180)] = None,
    photo: Annotated[UploadFile | None, File()] = None,
) -> JSONResponse:
    """A resident's report (no login): rate-limited per address; answers a receipt to follow the case."""
    wait_s = await hub.public_wait(request.client.host if request.client else "?")
    if wait_s > 0:
        return JSONResponse(
            {"detail": "too many reports; try again later"},
            status.HTTP_429_TOO_MANY_REQUESTS,
            headers={"Retry-After": str(max(1, round(wait_s)))},
        )
    cfg = hub.settings.incidents
    if len(text) > cfg.public_text_max_chars:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"text is over {cfg.public_text_max_chars} characters")
    checked = await files.read_photo(photo, cfg.photo_max_bytes) if photo is not None else None
    if node is not None and node not in hub.directory.nodes:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"node {node!r} does not exist")
    if checked is not None:
        # Anonymous photos must not fill the disk that alert evidence needs.
        size = len(checked[0])
        free = (await asyncio.to_thread(shutil.disk_usage, hub.settings.data_dir)).free
        if free - size < cfg.public_min_free_bytes:
            raise HTTPException(
                status.HTTP_507_INSUFFICIENT_STORAGE,
                "the hub is short of disk space and takes no photos from the public now; send the report without it",
            )
        wait_s = await hub.public_bytes_wait(size)
        if wait_s > 0:
            return JSONResponse(
                {"detail": "the hub takes no more photos from the public for now; send the report without it"},
                status.HTTP_429_TOO_MANY_REQUESTS,
                headers={"Retry-After": str(max(1, round(wait_s)))},
            )
    inc, ev = await hub.desk.create(
        category=category,
        severity=Severity.P3,
        title=text.splitlines()[0][:200],
        description=text,
        source=Source.RESIDENT,
        actor="public",
        node=node,
        lat=lat,
        lon=lon,
        receipt=True,
        extra={"location": location},
    )
    if checked is not None:
        data, ctype, ext = checked
        stored = await files.save(hub.settings.data_dir, inc.id, data, ctype, ext)
        await hub.desk.add_evidence(
            inc.id, "photo", "public", path=stored.relpath, content_type=ctype, size=stored.size, grid=inc.grid
        )
    return JSONResponse({"receipt": ev.data["receipt"], "status": PUBLIC_STATES[State.NEW]}, status.HTTP_201_CREATED)


@router.get("/api/public/reports/{receipt}")
async def public_report_status(receipt: str, request: Request, hub: HubDep) -> JSONResponse:
    """Where a resident's case stands, by its receipt number."""
    wait_s = await hub.public_wait("status:" + (request.client.host if request.client else "?"))
    if wait_s > 0:
        return JSONResponse(
            {"detail": "too many requests"},
            status.HTTP_429_TOO_MANY_REQUESTS,
            headers={"Retry-After": str(max(1, round(wait_s)))},
        )
    # Merged into another report of the same problem: that one now carries the case.
    own = await hub.desk.by_receipt(receipt[:32])
    inc = await hub.desk.survivor(own)
    body: dict[str, Any] = {"receipt": receipt, "status": PUBLIC_STATES[inc.state], "updated_at": inc.updated_at}
    # The feedback is shown to residents only when it was written on a resident's case: the one
    # it merged into may be a camera or staff incident whose notes were never meant for them.
    if inc.state in (State.RESOLVED, State.CLOSED) and inc.feedback and (inc is own or inc.source is Source.RESIDENT):
        body["feedback"] = inc.feedback
    return JSONResponse(body)
