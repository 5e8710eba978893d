"""WHIP: field video in (RFC 9725). A worker's phone, a body camera or OBS Studio publishes a camera.

The same protocol conventions as :mod:`hub.routers.whep`:

- ``OPTIONS /whip/{camera}`` → 204 with ``Accept-Post: application/sdp`` (no token: also the CORS
  preflight);
- ``POST /whip/field-<name>`` with an SDP offer that sends H.264 and ``Authorization: Bearer`` (the
  worker's login token, or the device's publish token) → 201 with the answer, ``Location`` (the
  session), ``ETag`` and one ``Link: <…>; rel="ice-server"`` per configured STUN/TURN URL;
- ``PATCH`` on the session with ``application/trickle-ice-sdpfrag`` → 204 (422 for an ICE restart);
- ``DELETE`` on the session → 204; the camera goes offline ("… stopped publishing: deleted by the
  publisher");
- 401 for a missing, wrong, expired or revoked token (counted), 403 for a login publishing under
  another name, 404 for a camera that is not ``field-…`` or an unknown session, 409 while the camera
  is being published, 415 for another content type, 422 with the reason for SDP the hub cannot use
  (no H.264 video sent, no DTLS fingerprint, too large…), 400 for text that is not SDP. A refused
  offer leaves nothing behind.

The routes are public in :mod:`hub.access.policy`: the publish token, which may be a device's rather than
a login, is checked here.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, status
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.types import Receive, Scope, Send

from hub.calls.errors import CallError
from hub.calls.ice import link_headers
from hub.calls.sessions import PeerSession
from hub.calls.trickle import CONTENT_TYPE as SDPFRAG
from hub.calls.trickle import MAX_FRAGMENT_BYTES, apply_fragment
from hub.edge.deps import HubDep
from hub.routers.whep import read_body, sdp_body
from hub.services import Hub

ENDPOINT_ALLOW = "OPTIONS, POST"
SESSION_ALLOW = "OPTIONS, PATCH, DELETE"
ALLOWED = {"/whip/{camera_id}": ENDPOINT_ALLOW, "/whip/{camera_id}/{session_id}": SESSION_ALLOW}
"""Every method each WHIP path takes, for the ``Allow`` of a 405."""


class WhipRoute(APIRoute):
    """A WHIP route whose 405 names every method of its path in ``Allow``."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse another method with the whole ``Allow``; otherwise handle as usual."""
        if self.methods and scope["method"] not in self.methods and self.path in ALLOWED:
            raise CallError(405, "Method Not Allowed", {"Allow": ALLOWED[self.path]})
        await super().handle(scope, receive, send)


router = APIRouter(tags=["field video"], route_class=WhipRoute)


def bearer(request: Request) -> str | None:
    """The bearer token of the request, if any."""
    header = request.headers.get("authorization", "")
    return header[7:].strip() or None if header.lower().startswith("bearer ") else None


def enabled(hub: Hub) -> None:
    """404 when WHIP is switched off."""
    if not hub.settings.whip.enabled:
        raise CallError(404, "this hub takes no WHIP publishers (whip.enabled is false)")


@router.post(
    "/whip/{camera_id}",
    status_code=status.HTTP_201_CREATED,
    response_class=Response,
    responses={201: {"content": {"application/sdp": {}}, "description": "The SDP answer; Location to DELETE."}},
)
async def whip_offer(camera_id: str, request: Request, hub: HubDep) -> Response:
    """Publish: offer (``application/sdp``, sending H.264) → 201 with the answer and ``Location``.

    ``camera_id`` is ``field-<your username>`` (with your login token) or ``field-<device id>`` (with
    the device's publish token). Errors: 401 token refused, 403 another user's name, 404 not a field
    camera, 409 already being published, 415 not ``application/sdp``, 422 SDP the hub cannot use
    (with the reason), 400 not SDP, 503 no room for another publisher (with Retry-After).
    """
    enabled(hub)
    publisher = await hub.whip.authenticate(camera_id, bearer(request))
    text = await sdp_body(request)
    session, sdp = await hub.whip.publish(publisher, text)
    response = Response(
        sdp,
        status.HTTP_201_CREATED,
        media_type="application/sdp",
        headers={"Location": f"/whip/{camera_id}/{session.id}", "ETag": session.etag, "Accept-Patch": SDPFRAG},
    )
    for link in link_headers(hub.settings.calls.ice_servers):
        response.headers.append("Link", link)
    return response


def publisher_session(hub: Hub, camera_id: str, session_id: str, request: Request) -> PeerSession:
    """The publisher's session, for its own token (or an admin's login); 404 otherwise, 401 without a token."""
    token = bearer(request)
    if token is None:
        raise CallError(401, "a publish token is required (Authorization: Bearer …)", {"WWW-Authenticate": "Bearer"})
    session = hub.calls.sessions.get(session_id)
    if session is None or session.kind != "whip" or session.subject != camera_id:
        raise CallError(404, "no such publisher session")
    if not hub.whip.may_manage(session, token):
        raise CallError(404, "no such publisher session")
    return session


@router.patch("/whip/{camera_id}/{session_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def whip_patch(camera_id: str, session_id: str, request: Request, hub: HubDep) -> Response:
    """Trickled ICE candidates (``application/trickle-ice-sdpfrag``) → 204; an ICE restart 422."""
    session = publisher_session(hub, camera_id, session_id, request)
    text = await read_body(request, (SDPFRAG,), MAX_FRAGMENT_BYTES, "SDP fragment", {"Accept-Patch": SDPFRAG})
    await apply_fragment(session, text, request.headers.get("if-match"))
    return Response(status_code=status.HTTP_204_NO_CONTENT, headers={"ETag": session.etag})


@router.delete("/whip/{camera_id}/{session_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def whip_delete(camera_id: str, session_id: str, request: Request, hub: HubDep) -> Response:
    """Stop publishing: the peer connection is released and the camera goes offline, with the reason."""
    session = publisher_session(hub, camera_id, session_id, request)
    await hub.calls.sessions.close(session, "deleted by the publisher")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.options("/whip/{camera_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def whip_endpoint_options() -> Response:
    """What the endpoint takes (no token: it is also the CORS preflight)."""
    headers = {"Allow": ENDPOINT_ALLOW, "Accept-Post": "application/sdp"}
    return Response(status_code=status.HTTP_204_NO_CONTENT, headers=headers)


@router.options("/whip/{camera_id}/{session_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def whip_session_options() -> Response:
    """What a session takes (no token, as for the endpoint)."""
    headers = {"Allow": SESSION_ALLOW, "Accept-Patch": SDPFRAG}
    return Response(status_code=status.HTTP_204_NO_CONTENT, headers=headers)
