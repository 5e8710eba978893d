"""WHEP: watch a camera (or a call member's live video) from the wall or any WHEP player."""

from __future__ import annotations

from fastapi import APIRouter, Request, status
from fastapi.responses import Response

from hub.calls.errors import CallError
from hub.calls.whep import open_viewer
from hub.config import Role
from hub.deps import CallerDep, HubDep, camera_elsewhere
from hub.policy import STAFF

router = APIRouter(tags=["live video"])


async def sdp_body(request: Request, limit: int = 64 * 1024) -> str:
    """The request body as SDP text: 415 for another content type, 400 when too large or not UTF-8."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/sdp":
        raise CallError(415, "send the offer with Content-Type: application/sdp")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise CallError(400, f"SDP offer larger than {limit} bytes")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise CallError(400, "malformed SDP offer: not UTF-8 text") from None


@router.post(
    "/whep/{camera_id}",
    status_code=status.HTTP_201_CREATED,
    response_class=Response,
    responses={201: {"content": {"application/sdp": {}}, "description": "The SDP answer; Location to DELETE."}},
)
async def whep_offer(camera_id: str, request: Request, hub: HubDep, who: CallerDep) -> Response:
    """Offer (``application/sdp``) → 201 with the answer and a ``Location`` to ``DELETE`` when done.

    ``camera_id`` is a camera id, or ``@username`` for that member's video in a call (staff only).
    Errors: 400 malformed offer or no H.264 video, 404 unknown camera, 415 a codec browsers
    cannot play, 503 camera offline (with its state) or too many viewers (with Retry-After).
    With several hub nodes: 307 to the node that ingests the camera, 503 while none does.
    """
    svc = hub.calls
    camera = camera_id
    if camera.startswith("@"):
        if not who.roles & STAFF:
            raise CallError(403, "only staff can pull a call member's video")
    else:
        cam = hub.directory.cameras.get(camera)
        grids = who.visible_grids()
        if cam is None or (grids is not None and cam.grid not in grids):
            raise CallError(404, f"no camera {camera!r}")
        elsewhere = await camera_elsewhere(hub, request, camera)
        if elsewhere is not None:  # another node ingests it: the viewer goes there (same offer, 307)
            code, detail, headers = elsewhere
            raise CallError(code, detail, headers)
    text = await sdp_body(request)
    # No await between looking the source up and open_viewer subscribing to it: a camera that
    # stops (or moves to another node) in between would leave the viewer on a closed relay.
    source = svc.source(camera)
    if source is None and camera.startswith("@"):
        raise CallError(404, f"no live video {camera!r}")
    if source is None:  # configured, but it stopped here (or moved) since the checks above
        raise CallError(503, f"camera {camera} is not ingested here at the moment", {"Retry-After": "1"})
    session, sdp = await open_viewer(
        svc.sessions, svc.config, svc.ice_addresses, source, who.username, text, svc.packetizer
    )
    return Response(
        sdp,
        status.HTTP_201_CREATED,
        media_type="application/sdp",
        headers={"Location": f"/whep/{camera}/{session.id}"},
    )


@router.delete("/whep/{camera_id}/{session_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def whep_delete(camera_id: str, session_id: str, hub: HubDep, who: CallerDep) -> Response:
    """Stop watching: the peer connection and its relay subscription are released."""
    svc = hub.calls
    session = svc.sessions.get(session_id)
    if session is None or session.kind != "whep" or session.subject != camera_id:
        raise CallError(404, "no such viewer session")
    if session.owner != who.username and Role.ADMIN not in who.roles:
        raise CallError(404, "no such viewer session")
    await svc.sessions.close(session, "deleted by the viewer")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.options("/whep/{camera_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
@router.options("/whep/{camera_id}/{session_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def whep_preflight(hub: HubDep) -> Response:
    """CORS preflight for a wall page served by another node of this deployment (no token: browsers
    send none). The CORS headers, for known nodes only, come from :mod:`hub.cors`; one node: 405."""
    if hub.leases is None:
        raise CallError(405, "Method Not Allowed", {"Allow": "POST, DELETE"})
    return Response(status_code=status.HTTP_204_NO_CONTENT)
