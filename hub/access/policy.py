"""Who may use which route: the one table, checked for every request.

A route that is not in :data:`POLICY` is refused for everyone (fail closed), and
``tests/hub/test_policy.py`` walks every route the app declares against every role,
so a new route without an entry here fails the suite.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from hub.config import Role

PUBLIC: Final[frozenset[Role]] = frozenset()
"""Marker: no token needed."""

ALL: Final = frozenset(Role)
STAFF: Final = frozenset({Role.ADMIN, Role.DISPATCHER, Role.COORDINATOR})
WATCHERS: Final = STAFF | {Role.VIEWER}

POLICY: Final[dict[tuple[str, str], frozenset[Role]]] = {
    # Operations and the public pages.
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/api/nodes"): STAFF,
    ("GET", "/"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("GET", "/console"): PUBLIC,
    ("GET", "/worker"): PUBLIC,
    ("GET", "/worker-sw.js"): PUBLIC,
    ("GET", "/worker.webmanifest"): PUBLIC,
    ("MOUNT", "/web"): PUBLIC,
    ("GET", "/web/vendor/{asset:path}"): PUBLIC,
    ("GET", "/web/node_modules/{asset:path}"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    ("GET", "/redoc"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    # Login.
    ("POST", "/api/auth/login"): PUBLIC,
    ("POST", "/api/auth/refresh"): ALL,
    ("GET", "/api/auth/me"): ALL,
    ("POST", "/api/auth/logout"): ALL,
    ("POST", "/api/auth/users/{username}/revoke"): frozenset({Role.ADMIN}),
    # The viewing record: who watched which camera.
    ("GET", "/api/audit"): frozenset({Role.ADMIN}),
    # The caller's own preferences and position.
    ("GET", "/api/me/prefs"): ALL,
    ("PUT", "/api/me/prefs/{key}"): ALL,
    ("POST", "/api/me/position"): ALL,
    ("POST", "/api/me/location"): ALL,
    ("GET", "/api/people/{person_id}/track"): STAFF,
    ("POST", "/api/workers/{username}/go-live"): STAFF,
    # HTTPS for phones: the hub's own CA and how to trust it (read before the phone trusts anything).
    ("GET", "/ca.crt"): PUBLIC,
    ("GET", "/ca"): PUBLIC,
    # Alerts open now (a worker: their grids' cameras).
    ("GET", "/api/alerts/open"): ALL,
    # The district map (a worker: their grids' part).
    ("GET", "/api/map"): ALL,
    # Directory (workers see only their own grids' part of it).
    ("GET", "/api/directory"): ALL,
    ("GET", "/api/directory/nodes/{node_id}/members"): ALL,
    ("GET", "/api/directory/nodes/{node_id}/cameras"): ALL,
    ("GET", "/api/directory/nodes/{node_id}/leaders"): ALL,
    # Event log.
    ("GET", "/api/events"): ALL,
    ("WS", "/ws/events"): ALL,
    ("POST", "/api/journal"): STAFF,
    # Incidents (workers: their grids', their own and their reports; steps checked by the desk).
    ("GET", "/api/incidents"): ALL,
    ("GET", "/api/incidents/counts"): ALL,
    ("POST", "/api/incidents"): STAFF,
    ("GET", "/api/incidents/{incident_id}"): ALL,
    ("POST", "/api/incidents/{incident_id}/transitions"): STAFF | {Role.WORKER},
    ("GET", "/api/incidents/{incident_id}/suggestions"): STAFF,
    ("POST", "/api/incidents/{incident_id}/evidence"): STAFF | {Role.WORKER},
    ("GET", "/api/incidents/{incident_id}/evidence/{evidence_id}"): ALL,
    ("POST", "/api/reports"): STAFF | {Role.WORKER},
    ("POST", "/api/public/reports"): PUBLIC,
    ("GET", "/api/public/reports/{receipt}"): PUBLIC,
    # Instructions (a non-staff caller sees only what is addressed to them).
    ("POST", "/api/instructions"): STAFF,
    ("GET", "/api/instructions"): STAFF,
    ("GET", "/api/instructions/{instruction_id}"): ALL,
    ("POST", "/api/instructions/{instruction_id}/ack"): ALL,
    ("POST", "/api/instructions/{instruction_id}/read"): ALL,
    ("POST", "/api/instructions/{instruction_id}/resend"): STAFF,
    ("POST", "/api/instructions/{instruction_id}/cancel"): STAFF,
    ("POST", "/api/instructions/{instruction_id}/amend"): STAFF,
    ("POST", "/api/instructions/preview"): STAFF,
    ("GET", "/api/instructions/{instruction_id}/receipts.csv"): STAFF,
    ("GET", "/api/instruction-templates"): STAFF,
    ("POST", "/api/instruction-templates"): STAFF,
    ("DELETE", "/api/instruction-templates/{template_id}"): STAFF,
    ("POST", "/api/attachments"): STAFF,
    ("GET", "/api/attachments/{attachment_id}"): ALL,
    ("WS", "/ws/worker"): ALL,
    ("GET", "/api/worker/instructions"): ALL,
    # Cameras (workers: their grids only).
    ("GET", "/api/cameras"): ALL,
    ("GET", "/api/cameras/{camera_id}"): ALL,
    ("GET", "/api/cameras/{camera_id}/snapshot.jpg"): ALL,
    ("POST", "/api/cameras/{camera_id}/ptz"): frozenset({Role.ADMIN, Role.DISPATCHER}),
    # Calls and live video (membership and grids checked by hub.calls).
    ("POST", "/whep/{camera_id}"): ALL,
    ("DELETE", "/whep/{camera_id}/{session_id}"): ALL,
    ("PATCH", "/whep/{camera_id}/{session_id}"): ALL,
    ("POST", "/whep/{camera_id}/{session_id}/switch"): ALL,
    # CORS preflights from the other nodes' wall pages carry no token (hub.edge.cors decides the headers).
    ("OPTIONS", "/whep/{camera_id}"): PUBLIC,
    ("OPTIONS", "/whep/{camera_id}/{session_id}"): PUBLIC,
    # WHIP publishers: a login or a device's publish token, checked by hub.calls.whip.
    ("POST", "/whip/{camera_id}"): PUBLIC,
    ("PATCH", "/whip/{camera_id}/{session_id}"): PUBLIC,
    ("DELETE", "/whip/{camera_id}/{session_id}"): PUBLIC,
    ("OPTIONS", "/whip/{camera_id}"): PUBLIC,
    ("OPTIONS", "/whip/{camera_id}/{session_id}"): PUBLIC,
    ("POST", "/api/calls"): STAFF,
    ("POST", "/api/briefings"): STAFF,
    ("GET", "/api/calls"): ALL,
    ("GET", "/api/calls/{call_id}"): ALL,
    ("POST", "/api/calls/{call_id}/accept"): ALL,
    ("POST", "/api/calls/{call_id}/decline"): ALL,
    ("POST", "/api/calls/{call_id}/hangup"): ALL,
    ("POST", "/api/calls/{call_id}/camera"): STAFF,
    ("POST", "/api/calls/{call_id}/floor"): ALL,
    ("POST", "/api/calls/{call_id}/media"): ALL,
    ("DELETE", "/api/calls/{call_id}/media/{session_id}"): ALL,
    ("WS", "/ws/calls"): ALL,
}


DOCS_ROUTES: Final = frozenset({("GET", "/docs"), ("GET", "/docs/oauth2-redirect"), ("GET", "/redoc")})
"""Declared only with ``server.docs`` on."""


def allowed(method: str, path: str) -> frozenset[Role] | None:
    """Roles allowed on a route template (``PUBLIC`` when open), or ``None`` if it has no policy."""
    return POLICY.get((method, path))


def declared_routes(routes: Iterable[Any]) -> list[tuple[str, str]]:
    """``(method, path template)`` of every route an app declares; ``WS`` and ``MOUNT`` for those kinds."""
    from fastapi import routing as fr
    from starlette.routing import Mount, WebSocketRoute

    contexts: Iterable[Any] = routes
    if hasattr(fr, "iter_route_contexts"):  # FastAPI >= 0.16x keeps included routers as branches
        contexts = fr.iter_route_contexts(list(routes))
    out: list[tuple[str, str]] = []
    for ctx in contexts:
        original = getattr(ctx, "original_route", ctx)
        path = ctx.path
        if isinstance(original, fr.APIWebSocketRoute | WebSocketRoute):
            out.append(("WS", path))
        elif isinstance(original, Mount):
            out.append(("MOUNT", path))
        else:
            out.extend((m, path) for m in sorted(ctx.methods or ()) if m != "HEAD")
    return out


def unpoliced(routes: Iterable[Any]) -> list[tuple[str, str]]:
    """Declared routes that have no entry in :data:`POLICY`."""
    return [r for r in declared_routes(routes) if r not in POLICY]
