"""WHEP: watch a camera (or a call member's live video) from the wall or any WHEP player.

The protocol as the IETF WHEP draft and RFC 9725 (WHIP, which it follows) write it:

- ``OPTIONS /whep/{camera}`` → 204 with ``Accept-Post: application/sdp`` (no token: it is also the
  CORS preflight; :mod:`hub.edge.cors` adds the CORS headers for the pages it trusts);
- ``POST /whep/{camera}`` with an SDP offer → 201 with the answer, ``Location`` (the session),
  ``ETag`` (its ICE session) and one ``Link: <…>; rel="ice-server"`` per configured STUN/TURN URL;
- ``PATCH`` on the session with ``application/trickle-ice-sdpfrag`` → 204 (trickled candidates),
  422 for an ICE restart (not supported: POST again), 412 when ``If-Match`` names another ICE
  session, 415 for another content type;
- ``DELETE`` on the session → 204;
- ``POST`` on the session's ``/switch`` with ``{"camera": id}`` → 200: the same connection shows
  another camera from its cached keyframe (no new handshake: the wall's layout switches), or with
  ``{"camera": null}`` it is parked and sends nothing until switched again; the answer has the
  session's new ``location``. The checks of an offer apply (404, 503, 415, 429); a camera another
  node ingests is 409 (offer there). Not part of WHEP: other players simply offer again;
- 404 for an unknown camera or session, 415 for an offer that is not ``application/sdp``, 422 with
  the reason for SDP the hub cannot use (no H.264 video, no DTLS fingerprint, too large…), 400 for
  text that is not SDP at all. A refused offer leaves nothing behind.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from fastapi import APIRouter, Request, status
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.types import Receive, Scope, Send

from hub.access.auth import Principal
from hub.access.policy import STAFF
from hub.calls.errors import CallError
from hub.calls.ice import link_headers
from hub.calls.peer import MAX_SDP_BYTES
from hub.calls.sessions import PeerSession
from hub.calls.trickle import CONTENT_TYPE as SDPFRAG
from hub.calls.trickle import MAX_FRAGMENT_BYTES, apply_fragment
from hub.calls.whep import check_switch, open_viewer, switch_viewer
from hub.config import Role
from hub.edge.deps import CallerDep, HubDep, camera_elsewhere, client_address, remote_published
from hub.schemas import ViewerSwitch, ViewerSwitched
from hub.services import Hub

ENDPOINT_ALLOW = "OPTIONS, POST"
SESSION_ALLOW = "OPTIONS, PATCH, DELETE"
ALLOWED = {
    "/whep/{camera_id}": ENDPOINT_ALLOW,
    "/whep/{camera_id}/{session_id}": SESSION_ALLOW,
    "/whep/{camera_id}/{session_id}/switch": "POST",
}
"""Every method each WHEP path takes, for the ``Allow`` of a 405."""


class WhepRoute(APIRoute):
    """A WHEP route whose 405 names every method of its path in ``Allow``.

    Starlette answers a method no route of a path takes with the ``Allow`` of the first route it
    tried alone (``POST`` for the endpoint, which also takes ``OPTIONS``).
    """

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse another method with the whole ``Allow``; otherwise handle as usual."""
        if self.methods and scope["method"] not in self.methods and self.path in ALLOWED:
            raise CallError(405, "Method Not Allowed", {"Allow": ALLOWED[self.path]})
        await super().handle(scope, receive, send)


router = APIRouter(tags=["live video"], route_class=WhepRoute)


async def read_body(request: Request, types: tuple[str, ...], limit: int, what: str, accept: dict[str, str]) -> str:
    """The body as text: 415 for another content type (with ``accept`` telling the right one), 422 when
    larger than ``limit`` bytes, 400 when not UTF-8."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in types:
        raise CallError(415, f"send the {what} with Content-Type: {types[0]}", accept)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise CallError(422, f"{what} larger than {limit} bytes")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise CallError(400, f"malformed {what}: not UTF-8 text") from None


async def sdp_body(request: Request, limit: int = MAX_SDP_BYTES) -> str:
    """The request body as an SDP offer (also for calls' media joins)."""
    return await read_body(request, ("application/sdp",), limit, "SDP offer", {"Accept-Post": "application/sdp"})


@router.post(
    "/whep/{camera_id}",
    status_code=status.HTTP_201_CREATED,
    response_class=Response,
    responses={201: {"content": {"application/sdp": {}}, "description": "The SDP answer; Location to DELETE."}},
)
async def whep_offer(camera_id: str, request: Request, hub: HubDep, who: CallerDep) -> Response:
    """Offer (``application/sdp``) → 201 with the answer, ``Location`` to ``DELETE`` when done, ``ETag``.

    ``camera_id`` is a camera id, or ``@username`` for that member's video in a call (staff only).
    Errors: 400 not SDP, 422 SDP the hub cannot use (with the reason), 404 unknown camera, 415 not
    ``application/sdp`` or a camera codec browsers cannot play, 503 camera offline (with its state)
    or too many viewers (with Retry-After). With several hub nodes: 307 to the node that ingests the
    camera, 503 while none does.
    """
    svc = hub.calls
    camera = camera_id
    if camera.startswith("@"):
        if not who.roles & STAFF:
            raise CallError(403, "only staff can pull a call member's video")
    else:
        check_visible(hub, who, camera)
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
    # The viewing record: from the offer to the session's end (or its switch), whatever ends it.
    session.view = LiveView(camera, hub.viewing.new_view(), time.time())
    session.on_close.append(lambda s: end_view(hub, s, s.reason or "closed"))
    try:
        await hub.viewing.live_started(who.username, camera, client_address(request), session.view.view)
    except BaseException:
        await svc.sessions.close(session, "the viewing record could not be written")
        raise
    response = Response(
        sdp,
        status.HTTP_201_CREATED,
        media_type="application/sdp",
        headers={"Location": f"/whep/{camera}/{session.id}", "ETag": session.etag, "Accept-Patch": SDPFRAG},
    )
    for link in link_headers(svc.config.ice_servers):
        response.headers.append("Link", link)
    return response


@dataclass(frozen=True)
class LiveView:
    """One camera's view by a viewer session, open in the viewing record."""

    camera: str
    view: str
    started: float


def check_visible(hub: Hub, who: Principal, camera: str) -> None:
    """404 unless ``camera`` exists (configured, or a field camera published to another node) in a
    grid ``who`` may see: a camera out of reach is answered as one that does not exist."""
    cam = hub.directory.cameras.get(camera)
    remote = remote_published(hub, camera) if cam is None else None
    grid = cam.grid if cam is not None else (remote or {}).get("grid")
    grids = who.visible_grids()
    if (cam is None and remote is None) or (grids is not None and grid not in grids):
        raise CallError(404, f"no camera {camera!r}")


def end_view(hub: Hub, session: PeerSession, reason: str) -> None:
    """Close the session's open view in the viewing record (if it has one)."""
    view, session.view = session.view, None
    if isinstance(view, LiveView):
        hub.viewing.live_ended(session.owner, view.camera, view.view, view.started, reason)


def viewer_session(hub: Hub, camera_id: str, session_id: str, who: Principal) -> PeerSession:
    """The caller's WHEP session (an admin: anyone's), at the URL the hub last gave it, or 404."""
    session = hub.calls.sessions.get(session_id)
    if session is None or session.kind != "whep" or (session.named or session.subject) != camera_id:
        raise CallError(404, "no such viewer session")
    if session.owner != who.username and Role.ADMIN not in who.roles:
        raise CallError(404, "no such viewer session")
    return session


@router.patch("/whep/{camera_id}/{session_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def whep_patch(camera_id: str, session_id: str, request: Request, hub: HubDep, who: CallerDep) -> Response:
    """Trickled ICE candidates (``application/trickle-ice-sdpfrag``) → 204.

    An ICE restart answers 422 (not supported: DELETE and POST a new offer); ``If-Match`` with
    another ICE session's tag 412; another content type 415; an unknown session 404.
    """
    session = viewer_session(hub, camera_id, session_id, who)
    text = await read_body(request, (SDPFRAG,), MAX_FRAGMENT_BYTES, "SDP fragment", {"Accept-Patch": SDPFRAG})
    await apply_fragment(session, text, request.headers.get("if-match"))
    return Response(status_code=status.HTTP_204_NO_CONTENT, headers={"ETag": session.etag})


@router.delete("/whep/{camera_id}/{session_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def whep_delete(camera_id: str, session_id: str, hub: HubDep, who: CallerDep) -> Response:
    """Stop watching: the peer connection and its relay subscription are released."""
    session = viewer_session(hub, camera_id, session_id, who)
    await hub.calls.sessions.close(session, "deleted by the viewer")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/whep/{camera_id}/{session_id}/switch")
async def whep_switch(
    camera_id: str, session_id: str, body: ViewerSwitch, request: Request, hub: HubDep, who: CallerDep
) -> ViewerSwitched:
    """Show another camera on a connected viewer session, from its cached keyframe, or park it.

    ``{"camera": null}`` parks it (it sends nothing; it still counts as one of the caller's
    viewers); a camera id shows that camera. The new camera's view is in the viewing record before
    its first packet goes out, and the previous one ends there. Errors: 404 unknown session or
    camera, 409 a camera another hub node ingests (offer there) or a call member's video, 503
    offline or full, 415 a codec browsers cannot play, 429 the caller's caps; the session keeps
    what it showed.
    """
    session = viewer_session(hub, camera_id, session_id, who)
    if session.subject.startswith("@"):
        raise CallError(409, "a call member's video cannot be switched; offer for the camera")
    svc = hub.calls
    target = body.camera
    if target is None:
        switch_viewer(svc.sessions, svc.config, session, None)
        session.named = camera_id  # its URL stays as it was
        end_view(hub, session, "parked")
        return ViewerSwitched(camera=None, location=f"/whep/{camera_id}/{session.id}")
    check_visible(hub, who, target)
    location = f"/whep/{target}/{session.id}"
    if target == session.subject:
        return ViewerSwitched(camera=target, location=location)
    if await camera_elsewhere(hub, request, target) is not None:
        raise CallError(409, f"camera {target} is ingested by another hub node: offer for it there")
    source = svc.source(target)
    if source is None:
        raise CallError(503, f"camera {target} is not ingested here at the moment", {"Retry-After": "1"})
    check_switch(svc.sessions, svc.config, session, source)
    # On the record before its first packet goes out (as an offer's view before its answer).
    view = LiveView(target, hub.viewing.new_view(), time.time())
    await hub.viewing.live_started(session.owner, target, client_address(request), view.view)
    source = svc.source(target)  # looked up again: no await between this and the switch
    try:
        if source is None:
            raise CallError(503, f"camera {target} stopped here meanwhile", {"Retry-After": "1"})
        switch_viewer(svc.sessions, svc.config, session, source)
    except BaseException as exc:
        hub.viewing.live_ended(session.owner, target, view.view, view.started, f"refused: {exc}")
        raise
    session.named = None  # its URL names its camera again
    end_view(hub, session, f"switched to {target}")
    session.view = view
    return ViewerSwitched(camera=target, location=location)


@router.options("/whep/{camera_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def whep_endpoint_options() -> Response:
    """What the endpoint takes (no token: browsers send none with a CORS preflight, which this
    also answers; the CORS headers, for the pages the hub trusts, come from :mod:`hub.edge.cors`)."""
    headers = {"Allow": ENDPOINT_ALLOW, "Accept-Post": "application/sdp"}
    return Response(status_code=status.HTTP_204_NO_CONTENT, headers=headers)


@router.options("/whep/{camera_id}/{session_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def whep_session_options() -> Response:
    """What a session takes (no token, as for the endpoint)."""
    headers = {"Allow": SESSION_ALLOW, "Accept-Patch": SDPFRAG}
    return Response(status_code=status.HTTP_204_NO_CONTENT, headers=headers)
